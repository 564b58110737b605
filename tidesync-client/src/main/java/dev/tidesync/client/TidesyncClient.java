package dev.tidesync.client;

import dev.tidesync.core.CrashPoints;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.Wire;
import dev.tidesync.sqlite.DeviceReplica;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device engine: syncs the app's SQLite file with a server. The app keeps writing with its
 * own SQL from any connection; triggers capture the writes.
 *
 * <pre>{@code
 * try (TidesyncClient client = TidesyncClient.create(c -> c
 *     .database(Path.of("app.db")).server("http://127.0.0.1:8787").dataset("field"))) {
 *   SyncReport r = client.flush();   // push, then pull
 *   client.start();                  // or keep syncing in the background
 * }
 * }</pre>
 */
public final class TidesyncClient implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TidesyncClient.class);

  private final ClientConfig config;
  private final DeviceReplica replica;
  private final Transport transport;
  private final boolean ownsTransport;
  private final Object flushLock = new Object();
  private final Object wake = new Object();
  private volatile Instant lastSuccess;
  private volatile String lastError;
  private volatile Thread worker;
  private volatile boolean stopping;
  private java.util.concurrent.ExecutorService sender;

  private TidesyncClient(ClientConfig config) {
    this.config = config;
    this.replica = DeviceReplica.open(config.database(), new DeviceReplica.Options(config.deviceId(), config.tables(),
        config.policies(), config.maxDriftMillis(), config.wall()));
    this.ownsTransport = config.transport() == null;
    this.transport = ownsTransport ? new HttpTransport(config.serverUrl(), HttpTransport.DEFAULT_TIMEOUT, config.token()) : config.transport();
  }

  public static TidesyncClient create(Consumer<ClientConfig.Builder> configure) {
    ClientConfig.Builder b = ClientConfig.builder();
    configure.accept(b);
    return new TidesyncClient(b.build());
  }

  public static TidesyncClient create(ClientConfig config) {
    return new TidesyncClient(config);
  }

  public ClientConfig config() {
    return config;
  }

  public String deviceId() {
    return replica.deviceId();
  }

  public DeviceReplica replica() {
    return replica;
  }

  /**
   * One complete sync: push every pending change, then pull until the server has nothing more.
   * A table whose batches the server refuses does not stop the others; a retriable failure
   * (network, server busy) aborts the sync with a {@link TidesyncException} and leaves the
   * outbox to be resent, so nothing is lost or applied twice. Rows the server refuses for now (a
   * foreign key whose other row comes in a later batch) are pushed again in later rounds of the
   * same sync while that gets some of them through, up to {@value #MAX_ROUNDS} rounds.
   */
  public SyncReport flush() {
    synchronized (flushLock) {
      long start = System.nanoTime();
      config.listener().syncStarted();
      Counts n = new Counts();
      try {
        replica.refreshSchema();
        replica.absorb();
        forgetOldLimits();
        push(n);
        boolean more = true;
        while (more) {
          PullPage page;
          try {
            page = transport.pull(config.dataset(), replica.cursor(), config.pullLimit(), replica.deviceId());
          } catch (ProtocolException e) {
            if (e.code().equals("cursor_invalid")) {
              log.warn("{}: server no longer knows our cursor ({}); bootstrapping again", replica.deviceId(), e.getMessage());
              replica.resetCursor();
              continue;
            }
            if (e.code().equals("dataset_not_found") && n.pushed == 0) {
              break; // nothing pushed and nothing to pull yet
            }
            throw e;
          }
          DeviceReplica.ApplyOutcome applied = replica.applyPage(page);
          n.pulled += applied.applied();
          n.errors.addAll(applied.errors());
          n.superseded.addAll(applied.superseded());
          applied.superseded().forEach(line -> log.warn("{}: {}", replica.deviceId(), line));
          n.pages++;
          n.bootstrap |= page.bootstrap();
          config.listener().pageApplied(page.changes().size(), page.bootstrap());
          more = page.hasMore();
        }
        replica.skipped().forEach((table, why) -> {
          if (why.startsWith("incompatible")) {
            n.errors.add("table '" + table + "' " + why);
          }
        });
        SyncReport report = n.report(start);
        lastSuccess = Instant.now();
        lastError = report.ok() ? null : String.join("; ", report.errors());
        log.debug("{}: sync {}", replica.deviceId(), report);
        config.listener().syncFinished(report);
        return report;
      } catch (RuntimeException e) {
        lastError = e.getMessage();
        throw e;
      }
    }
  }

  /**
   * Pushes the outbox, then every pending change, batch by batch. The device's own work overlaps
   * the wire: while the server applies batch k, this thread records the answer to batch k-1 and
   * builds batch k+1 (which is recorded in the outbox before it is sent, as always). Batches of
   * one table's upserts (or deletes) hold disjoint rows, so, unless the table refers to itself,
   * the order the server applies them in does not matter, and two of them are on the wire at
   * once: the server reads and decodes the next while it stores one, instead of waiting for the
   * next request after each answer. Any other batch waits until everything before it is answered
   * (a child table's batch must not overtake its parent's). Answers are recorded in batch order.
   * A failure stops the push as before; a batch built ahead and not answered stays in the outbox
   * and goes first next time, and the server answers a batch it has applied from its record, so
   * nothing is lost or applied twice.
   */
  private void push(Counts n) {
    // The outbox first, one batch at a time (it is rare, and may hold batches of several tables),
    // and all of it answered and recorded before the scan starts: its rows are still pending
    // until then, and a scan started earlier would send them again.
    java.util.ArrayDeque<PushRequest> outbox = new java.util.ArrayDeque<>(replica.outbox());
    pipeline(outbox::poll, n, false);
    // The scan stops at barriers (before deletes, before the schema-only batch); each pipeline
    // run ends with every answer recorded (see DeviceReplica.PushScan).
    DeviceReplica.PushScan scan = new DeviceReplica.PushScan();
    do {
      pipeline(() -> replica.nextBatch(config.dataset(), scan, this::batchLimit, batchBytes()), n, true);
    } while (scan.resume());
    // More rounds over the rows still pending, one batch at a time:
    // - rows refused in a batch that shared the wire with another (see recordPushResult's
    //   deferRefusals) go once more: a refusal now is their own;
    // - rows refused for now, by a foreign key whose other row was in a later batch (a parent
    //   deleted in a batch before its children's, or a child whose parent the scan did not put
    //   first: a table that refers to itself where parents-first ordering does not reach, see
    //   DeviceReplica.nextBatch), go again while that gets some of them through: after the scan,
    //   if it settled any row at all; after a round, only if a row refused for now in the round
    //   before is no longer refused. Rows the app writes meanwhile are no such progress: a row
    //   whose parent exists nowhere must not be sent again and again while the app writes.
    // A round sends every row still pending, so rounds are capped; what is left waits for the
    // next sync, reported as the last round's refusals.
    java.util.Set<String> before = null; // the refusals for now of the round before the last one
    for (int round = 1; round <= MAX_ROUNDS; round++) {
      boolean progress = before == null ? n.settledInRound > 0 : !n.retry.containsAll(before);
      if (n.deferred == 0 && (n.retry.isEmpty() || !progress)) {
        break;
      }
      before = new java.util.HashSet<>(n.retry);
      n.deferred = 0;
      n.retry.clear();
      n.retryRows.clear();
      n.settledInRound = 0;
      DeviceReplica.PushScan again = new DeviceReplica.PushScan();
      do {
        pipeline(() -> replica.nextBatch(config.dataset(), again, this::batchLimit, batchBytes()), n, false);
      } while (again.resume());
    }
    // Rows still refused for now may be refused only because they were split across batches: a
    // cycle of foreign keys (a row moved under its own descendant, then the whole tree deleted;
    // two tables that refer to each other) has no row that can go first, and the server applies
    // such rows only as one group (see the stores' applyTogether). So they go once more, all in
    // one batch whatever the batch limits, up to TOGETHER_MAX rows and the batch's bytes, if they
    // can be a cycle (see DeviceReplica.batchOfRows); this is then the last round, whose
    // refusals are reported.
    int stuck = n.retryRows.values().stream().mapToInt(java.util.Set::size).sum();
    if (!n.retry.isEmpty() && stuck > 1 && stuck <= TOGETHER_MAX) {
      PushRequest together = replica.batchOfRows(config.dataset(), n.retryRows, batchBytes());
      if (together != null) {
        n.together = together.batch();
        java.util.Set<String> was = new java.util.LinkedHashSet<>(n.retry);
        int pushedBefore = n.pushed;
        n.retry.clear();
        n.retryRows.clear();
        PushRequest[] next = {together};
        pipeline(() -> {
          PushRequest r = next[0];
          next[0] = null;
          return r;
        }, n, false);
        if (n.pushed == pushedBefore) {
          n.retry.addAll(was); // refused as a whole (too large, say): the rows are as they were, and reported so
        }
      }
    }
    // Refusals for now that the last round still met: each row reported once.
    for (String err : n.retry) {
      if (n.rowErrors.add(err)) {
        n.errors.add(err);
        n.rejected++;
      }
    }
  }

  /**
   * Limits learned from the server's refusals of batches as too large (see {@link #tooLarge}):
   * rows per batch by table, and body bytes, each with the wall time until which it holds.
   */
  private final java.util.concurrent.ConcurrentHashMap<String, Learned> learnedLimits = new java.util.concurrent.ConcurrentHashMap<>();
  private volatile Learned learnedBytes;

  /** A limit learned from a refusal, kept until {@code until} (wall millis). */
  private record Learned(long value, long until) {
    Learned lower(Learned other) {
      // The smaller limit, held for as long as the later of the two refusals asks.
      return new Learned(Math.min(value, other.value), Math.max(until, other.until));
    }
  }

  /**
   * How long a learned limit is kept after the last refusal that lowered it. Not for the client's
   * whole life: the row that made a batch too large is often gone or shrunk by the next hour, or
   * the server's limit raised, and a long-running client whose batches stayed a few rows each for
   * ever would push far slower than it can. Once forgotten, the next sync starts from the
   * configured limits again and learns anew from at most a few refusals (each halves the batch).
   */
  static final java.time.Duration LEARNED_FOR = java.time.Duration.ofMinutes(10);

  /** Drops learned limits that are older than {@link #LEARNED_FOR}; at the start of a sync only, so one sync never sees a limit go back up. */
  private void forgetOldLimits() {
    long now = config.wall().millis();
    learnedLimits.values().removeIf(l -> l.until() <= now);
    Learned bytes = learnedBytes;
    if (bytes != null && bytes.until() <= now) {
      learnedBytes = null;
    }
  }

  private Learned learned(long value) {
    return new Learned(value, config.wall().millis() + LEARNED_FOR.toMillis());
  }

  private int batchLimit(String table) {
    Learned l = learnedLimits.get(table);
    return l == null ? config.batchLimit(table) : (int) Math.min(config.batchLimit(table), l.value());
  }

  private long batchBytes() {
    Learned l = learnedBytes;
    return l == null ? config.batchBytes() : Math.min(config.batchBytes(), l.value());
  }

  /** Rows refused for now that a push sends together in one last batch, at most (see {@link #push}): the server's default limit of changes per batch. */
  static final int TOGETHER_MAX = 10_000;

  /** Rounds of a push after its first scan, at most (see {@link #push}). */
  static final int MAX_ROUNDS = 32;

  /** Batches on the wire at once, at most (see {@link #push}). */
  private static final int WINDOW = 2;

  /**
   * Sends the batches {@code next} yields (null: no more; it is not asked again after that),
   * building each one while its predecessors are on the wire, with up to {@link #WINDOW} on the
   * wire when {@code overlap} and {@link #mayOverlap} allow.
   */
  private void pipeline(java.util.function.Supplier<PushRequest> next, Counts n, boolean overlap) {
    java.util.ArrayDeque<InFlight> wire = new java.util.ArrayDeque<>();
    Builder b = new Builder(next);
    try {
      send(b, wire, n, overlap);
      while (!wire.isEmpty()) {
        InFlight head = wire.poll();
        PushResult result = head.await(n);
        if (result != null) {
          // Answered, not recorded, and nothing sent since that the window did not already hold.
          CrashPoints.hit(CrashPoints.DEVICE_PUSH_ANSWERED);
        }
        // The next request goes out before this answer is recorded: the server works meanwhile.
        send(b, wire, n, overlap);
        if (result != null) {
          DeviceReplica.PushOutcome o = replica.recordPushResult(head.req, result, head.shared);
          n.deferred += o.deferred();
          n.pushed += head.req.changes().size();
          n.applied += o.applied();
          n.conflicts += o.conflicts();
          n.settledInRound += o.applied() + o.conflicts();
          // A refusal for now is held until the push's rounds end (see push): a later round may
          // settle its row. A row refused for good again in a later round was reported already.
          for (dev.tidesync.protocol.ChangeResult r : result.results()) {
            if (r.rejected() && r.retriable() && r.index() >= 0 && r.index() < head.req.changes().size()) {
              dev.tidesync.protocol.Change c = head.req.changes().get(r.index());
              n.retryRows.computeIfAbsent(c.table(), t -> new java.util.LinkedHashSet<>()).add(dev.tidesync.core.internal.Keys.canonical(c.pk()));
            }
          }
          java.util.Set<String> retriable = new java.util.HashSet<>(o.retriable());
          for (String err : o.errors()) {
            if (retriable.contains(err)) {
              n.retry.add(err);
            } else if (n.rowErrors.add(err)) {
              n.errors.add(err);
              n.rejected++;
            }
          }
          config.listener().batchPushed(tableOf(head.req), head.req.changes().size(), o.conflicts(), o.rejected());
        }
      }
    } catch (RuntimeException | Error e) {
      // Nothing of this push should still be on the wire when it fails: a flush retried at once
      // would otherwise send the same outbox batch beside it (harmless, the server answers one
      // from its record, but untidy). Their answers stay unrecorded; their batches stay in the
      // outbox. An interrupted flush does not wait: its requests are cancelled (see settle).
      for (InFlight f : wire) {
        f.settle();
      }
      throw e;
    }
  }

  /** The batches {@code next} yields, one built ahead of the wire. */
  private static final class Builder {
    private final java.util.function.Supplier<PushRequest> next;
    private PushRequest ready;
    private boolean done;

    Builder(java.util.function.Supplier<PushRequest> next) {
      this.next = next;
    }

    /** The built batch not sent yet, building it if need be; null when there are no more. */
    PushRequest peek() {
      if (ready == null && !done) {
        ready = next.get();
        done = ready == null;
      }
      return ready;
    }

    PushRequest take() {
      PushRequest r = peek();
      ready = null;
      return r;
    }
  }

  /** Sends built batches while the window has room, and builds the one after each (ahead of the wire). */
  private void send(Builder b, java.util.ArrayDeque<InFlight> wire, Counts n, boolean overlap) {
    while (b.peek() != null && (wire.isEmpty() || (overlap && wire.size() < WINDOW && mayOverlap(wire.peekLast().req, b.peek())))) {
      InFlight f = startSend(b.take(), n);
      if (f != null) {
        if (!wire.isEmpty()) {
          // Both may be applied in either order: their refusals are retried (see push).
          f.shared = true;
          wire.forEach(w -> w.shared = true);
        }
        wire.add(f);
      }
    }
    b.peek(); // build the next one while these are on the wire
  }

  /**
   * Whether {@code later} may go on the wire while {@code earlier} is unanswered: both upserts,
   * or both deletes, of one table that has no foreign key to itself. Such batches touch disjoint
   * rows (the scan moves on by key) that no foreign key ties together, so the server may apply
   * them in either order.
   */
  private boolean mayOverlap(PushRequest earlier, PushRequest later) {
    if (earlier.changes().isEmpty() || later.changes().isEmpty()) {
      return false;
    }
    String table = tableOf(earlier);
    if (!table.equals(tableOf(later)) || earlier.changes().get(0).deleted() != later.changes().get(0).deleted()) {
      return false;
    }
    return earlier.schema().stream().filter(t -> t.name().equals(table))
        .noneMatch(t -> t.foreignKeys().stream().anyMatch(fk -> fk.refTable().equals(table)));
  }

  private static String tableOf(PushRequest req) {
    return req.changes().isEmpty() ? "?" : req.changes().get(0).table();
  }

  /** Starts sending a batch on the sender thread; null (batch dropped) if its table was refused earlier in this sync. */
  private InFlight startSend(PushRequest req, Counts n) {
    if (n.failedTables.contains(tableOf(req))) {
      replica.discardBatch(req.batch());
      return null;
    }
    byte[] body = replica.encodedBatch(req.batch());
    InFlight f = new InFlight(req, sender().submit(() -> body == null ? transport.push(config.dataset(), req)
        : transport.push(config.dataset(), req, body)));
    f.bodyBytes = body == null ? -1 : body.length;
    return f;
  }

  /** A batch on the wire. */
  private final class InFlight {
    final PushRequest req;
    final java.util.concurrent.Future<PushResult> answer;
    /** On the wire beside another batch at some point (see {@link #send}). */
    boolean shared;
    /** The size of the body sent (uncompressed), or -1 when the transport encoded it. */
    long bodyBytes;

    InFlight(PushRequest req, java.util.concurrent.Future<PushResult> answer) {
      this.req = req;
      this.answer = answer;
    }

    /** Waits for the exchange to end, whatever its outcome (which is not recorded); if this thread is interrupted, cancels it instead. */
    void settle() {
      try {
        answer.get();
      } catch (InterruptedException e) {
        answer.cancel(true);
        Thread.currentThread().interrupt();
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.CancellationException e) {
        // its failure is not this push's to report: the failure being thrown is
      }
    }

    /** The server's answer, or null when it refused the batch as a whole (then the table is skipped for this sync). */
    PushResult await(Counts n) {
      try {
        return answer.get();
      } catch (InterruptedException e) {
        answer.cancel(true);
        Thread.currentThread().interrupt();
        throw new TidesyncException("interrupted while pushing", true, e);
      } catch (java.util.concurrent.ExecutionException e) {
        Throwable cause = e.getCause();
        if (cause instanceof ProtocolException pe) {
          refused(pe, n);
          return null;
        }
        if (cause instanceof RuntimeException re) {
          throw re;
        }
        if (cause instanceof Error err) {
          throw err;
        }
        throw new TidesyncException("push failed: " + cause, true, cause);
      }
    }

    private void refused(ProtocolException e, Counts n) {
      // The server refused the batch as a whole (schema, limits): it changed nothing. The rows
      // stay pending; the table is skipped for the rest of this sync.
      replica.discardBatch(req.batch());
      if (e.status() == 401 || e.status() == 403) {
        // About the device's token, not this table: every other batch would be refused the same
        // way, so the sync stops here (rows stay pending for a sync with a valid token).
        throw e;
      }
      if (req.batch().equals(n.together)) {
        // The rows refused for now, sent together (see push): not a batch of one table to cut
        // smaller, nor a table to skip. Its rows stay pending and their refusals are reported.
        log.warn("{}: {} rows refused for now, sent together, refused as a whole: {}", replica.deviceId(), req.changes().size(), e.getMessage());
        return;
      }
      if (e.status() == 413 && !req.changes().isEmpty() && tooLarge(this, e, n)) {
        return;
      }
      String table = tableOf(req);
      // Reported once per table: a second batch of it may have been on the wire already.
      if (n.failedTables.add(table)) {
        n.errors.add("table '" + table + "': " + e.getMessage());
        log.warn("{}: push of table {} refused: {}", replica.deviceId(), table, e.getMessage());
      }
    }
  }

  /**
   * The server refused a batch as too large (its request body, a value in it, or its number of
   * changes). Skipping the table would hold it back at every sync, since the same rows make the
   * same batch: instead the limit that was passed is halved (rows per batch of this table, and
   * body bytes unless the server counted changes), for {@link #LEARNED_FOR}, and the rows go
   * again in smaller batches in the next round of this push. A batch of one row cannot be cut:
   * that row is larger than the server takes, and it fails alone, named, like a row refused for
   * good; the rest of its table goes on. It goes again when the app edits it. Unless the row is
   * the smaller part of its body: then the limit is below the schema and envelope every batch
   * carries, and the table is refused as before (false: not handled here).
   */
  private boolean tooLarge(InFlight f, ProtocolException e, Counts n) {
    PushRequest req = f.req;
    String table = tableOf(req);
    long sent = f.bodyBytes >= 0 ? f.bodyBytes : Wire.writePush(req).length; // the transport encoded it: rare
    if (req.changes().size() == 1) {
      if (dev.tidesync.core.internal.Sizes.approx(req.changes().get(0)) * 2 < sent) {
        // The row is the smaller part of the body (the schema, the envelope): the limit is not
        // about this row, and failing it would fail every row of the table. Refused as a table.
        return false;
      }
      String err = replica.refuseAlone(req.changes().get(0), "the row is larger than the server takes (" + e.getMessage() + ")");
      if (err == null) {
        n.deferred++; // written again since: it goes with its new values in the next round
      } else {
        if (n.rowErrors.add(err)) {
          n.errors.add(err);
          n.rejected++;
        }
        log.warn("{}: {}", replica.deviceId(), err);
      }
      return true;
    }
    if (!e.code().equals("batch_too_large")) {
      Learned bytes = learned(Math.max(ClientConfig.MIN_BATCH_BYTES, sent / 2));
      Learned had = learnedBytes;
      learnedBytes = had == null ? bytes : had.lower(bytes);
    }
    // Rows per batch go down either way: bytes alone may not cut a batch of many small rows below
    // a limit the server counts differently (compressed, say).
    learnedLimits.merge(table, learned(Math.max(1, req.changes().size() / 2)), Learned::lower);
    log.warn("{}: server refused a batch of {} changes of {} as too large ({}); sending them in smaller batches",
        replica.deviceId(), req.changes().size(), table, e.getMessage());
    n.deferred++; // another round sends them
    return true;
  }

  /** The threads that send push requests (created on first use, daemons: they never keep a JVM alive). */
  private synchronized java.util.concurrent.ExecutorService sender() {
    if (sender == null) {
      // One thread per request the window allows on the wire, and only while pushes come: they
      // end after 30 s idle, so a client that is never closed keeps no thread.
      java.util.concurrent.ThreadPoolExecutor e = new java.util.concurrent.ThreadPoolExecutor(WINDOW, WINDOW, 30, java.util.concurrent.TimeUnit.SECONDS,
          new java.util.concurrent.LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "tidesync-push-" + replica.deviceId());
            t.setDaemon(true);
            return t;
          });
      e.allowCoreThreadTimeOut(true);
      sender = e;
    }
    return sender;
  }

  private static final class Counts {
    int pushed;
    int applied;
    int conflicts;
    int rejected;
    int pulled;
    int pages;
    /** Rows refused in a shared batch, pending for the push's next round (see push). */
    int deferred;
    /** Refusals for now in the push's current round, "table key: reason" (see push). */
    final java.util.Set<String> retry = new java.util.LinkedHashSet<>();
    /** The batch id of the rows refused for now that the push sent together, if it did (see push). */
    String together;
    /** The rows of {@link #retry}: canonical keys by table. */
    final java.util.Map<String, java.util.Set<String>> retryRows = new java.util.LinkedHashMap<>();
    /** Rows applied or merged in the push's current round. */
    int settledInRound;
    boolean bootstrap;
    final List<String> errors = new ArrayList<>();
    /** The row refusals in errors ("table key: reason"), each reported once however often its row was sent. */
    final java.util.Set<String> rowErrors = new java.util.HashSet<>();
    final List<String> superseded = new ArrayList<>();
    final java.util.Set<String> failedTables = new java.util.HashSet<>();

    SyncReport report(long startNanos) {
      return new SyncReport(pushed, applied, conflicts, rejected, pulled, pages, bootstrap,
          (System.nanoTime() - startNanos) / 1_000_000, errors, superseded);
    }
  }

  public SyncStatus status() {
    DeviceReplica.Pending p = replica.pending();
    return new SyncStatus(replica.deviceId(), config.dataset(), replica.cursor(), p.pending(), p.failed(), lastSuccess, lastError,
        worker != null);
  }

  // ------------------------------------------------------------------------------ background

  /**
   * Syncs in the background: every {@code interval}, and {@code debounce} after a local commit
   * from any connection (seen through SQLite's data_version). Failures back off exponentially
   * with jitter up to five minutes, honouring a server's Retry-After.
   */
  public synchronized void start() {
    if (worker != null) {
      return;
    }
    stopping = false;
    Thread t = new Thread(this::loop, "tidesync-" + replica.deviceId());
    t.setDaemon(true);
    worker = t;
    t.start();
  }

  /** Asks the background loop to sync now. */
  public void syncSoon() {
    synchronized (wake) {
      wake.notifyAll();
    }
  }

  private void loop() {
    int failures = 0;
    long seenVersion = -1;
    long nextSync = 0;
    // A worker whose stop() timed out must not keep running beside a newer one.
    while (!stopping && worker == Thread.currentThread()) {
      try {
        long now = System.currentTimeMillis();
        long version = replica.dataVersion();
        if (seenVersion != -1 && version != seenVersion) {
          nextSync = Math.min(nextSync, now + config.debounce().toMillis());
        }
        seenVersion = version;
        if (now >= nextSync) {
          try {
            flush();
            failures = 0;
            nextSync = System.currentTimeMillis() + config.interval().toMillis();
          } catch (TidesyncException e) {
            failures++;
            long delay = backoff(failures, e);
            log.info("{}: sync failed ({}), retrying in {} ms", replica.deviceId(), e.getMessage(), delay);
            if (failures == 3 || (failures > 3 && Integer.bitCount(failures / 3) == 1 && failures % 3 == 0)) {
              config.listener().repeatedFailure(failures, e);
            }
            nextSync = System.currentTimeMillis() + delay;
          }
          seenVersion = replica.dataVersion();
        }
        synchronized (wake) {
          long wait = Math.max(1, Math.min(250, nextSync - System.currentTimeMillis()));
          wake.wait(wait);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        log.error("{}: background sync loop error", replica.deviceId(), e);
        lastError = e.getMessage();
        nextSync = System.currentTimeMillis() + 5_000;
      }
    }
  }

  static long backoff(int failures, TidesyncException e) {
    if (e instanceof RetryAfterException ra) {
      return Math.max(ra.retryAfter().toMillis(), 100);
    }
    long base = Math.min(300_000L, 1000L << Math.min(failures - 1, 20));
    return base / 2 + ThreadLocalRandom.current().nextLong(base / 2 + 1);
  }

  /** Stops background syncing, letting a sync in progress finish (up to {@code timeout}). */
  public void stop(Duration timeout) {
    Thread t;
    synchronized (this) {
      t = worker;
      worker = null;
      stopping = true;
    }
    if (t == null) {
      return;
    }
    syncSoon();
    try {
      t.join(timeout.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    stop(Duration.ofSeconds(30));
    synchronized (flushLock) {
      java.util.concurrent.ExecutorService s;
      synchronized (this) {
        s = sender;
        sender = null;
      }
      if (s != null) {
        s.shutdownNow();
        try {
          // Interrupted, a send ends at once; then the thread is gone before close returns.
          s.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      replica.close();
      if (ownsTransport) {
        transport.close();
      }
    }
  }
}
