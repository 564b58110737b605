package dev.tidesync.sqlite;

import static dev.tidesync.sqlite.internal.Sql.exec;

import dev.tidesync.core.Clocks;
import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetStatus;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.DeviceStatus;
import dev.tidesync.core.IncompatibleSchemaException;
import dev.tidesync.core.MergeResult;
import dev.tidesync.core.RowState;
import dev.tidesync.core.SchemaOrder;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.HlcClock;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.WallClock;
import dev.tidesync.protocol.Wire;
import dev.tidesync.sqlite.internal.Capture;
import dev.tidesync.sqlite.internal.Ddl;
import dev.tidesync.sqlite.internal.Introspect;
import dev.tidesync.sqlite.internal.SelfKeys;
import dev.tidesync.core.internal.Apply;
import dev.tidesync.core.internal.Batches;
import dev.tidesync.core.internal.ChainWaits;
import dev.tidesync.core.internal.ForeignKeyGroups;
import dev.tidesync.core.internal.Keys;
import dev.tidesync.core.internal.PullStats;
import dev.tidesync.core.internal.Sizes;
import dev.tidesync.core.internal.StoreRows;
import dev.tidesync.sqlite.internal.RowIo;
import dev.tidesync.sqlite.internal.Sql;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A dataset kept in one SQLite file: the user tables as real tables (so a backend can write plain
 * SQL and be captured by the same triggers devices use), and Tidesync's metadata beside them.
 *
 * <p>Design: one writer connection guarded by {@link #lock} applies pushes and absorbs the
 * capture log; SQLite serialises writers anyway, so versions (the per-dataset sequence
 * {@link #seq}) are handed out in commit order and a pull cursor can never skip a committed
 * change. Pulls read from a small pool of reader connections inside one read transaction each
 * (a WAL snapshot), so a page is consistent while pushes continue.
 *
 * <p>{@code _tidesync_rows} holds the latest state of every row, keyed by (table, key) and
 * indexed by version: a pull after cursor v is "rows whose version is greater than v", so delta
 * cost follows the number of changed rows, not the size of the dataset, and a row changed
 * during a bootstrap simply reappears later in the feed.
 */
public final class SqliteDatasetStore implements DatasetStore {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SqliteDatasetStore.class);
  private static final int READERS = 4;
  private static final String SERVER_NODE = "server";

  private final String name;
  private final Path file;
  private final Connection writer;
  private final RowIo io;
  private final ReentrantLock lock = new ReentrantLock();
  private final ArrayBlockingQueue<Reader> readers = new ArrayBlockingQueue<>(READERS);
  private final HlcClock clock;
  /** Pulls not yet written to {@code _tidesync_devices}: see {@link #writePulls}. */
  private final PullStats pullStats = new PullStats();
  /** The pulls the push transaction in flight writes: put back should it roll back. */
  private List<PullStats.Pending> pullsInTx = List.of();
  private int readersOpen;
  private volatile Map<String, TableSchema> schema;
  private volatile Set<String> cascadeParents = Set.of();
  private final String epoch;
  private long seq;
  private volatile boolean closed;

  private record Reader(Connection conn, RowIo io) {}

  private SqliteDatasetStore(String name, Path file, WallClock wall, long maxDriftMillis, Connection writer) {
    this.name = name;
    this.file = file;
    this.writer = writer;
    this.io = new RowIo(writer);
    String[] loaded = Sql.inTx(writer, "opening dataset " + name, this::initialize);
    this.epoch = loaded[0];
    this.clock = new HlcClock(SERVER_NODE, wall, maxDriftMillis, loaded[1] == null ? null : Hlc.parse(loaded[1]));
    lock.lock();
    try {
      Sql.inTx(writer, "adopting tables of " + name, () -> {
        adoptTables();
        absorbLocal(null, null);
        saveMeta();
        return null;
      });
    } finally {
      lock.unlock();
    }
  }

  /** Opens (creating if needed) the dataset file. */
  public static SqliteDatasetStore open(String name, Path file, WallClock wall, long maxDriftMillis) {
    Connection writer = Sql.open(file, true, true);
    try {
      return new SqliteDatasetStore(name, file, wall, maxDriftMillis, writer);
    } catch (RuntimeException | Error e) {
      Sql.closeQuietly(writer);
      throw e;
    }
  }

  private String[] initialize() throws SQLException {
    Capture.createMetaTables(writer);
    Capture.createServerTables(writer);
    exec(writer, "CREATE INDEX IF NOT EXISTS _tidesync_rows_ver ON _tidesync_rows (ver)");
    exec(writer, "CREATE TABLE IF NOT EXISTS _tidesync_batches (device TEXT NOT NULL, batch TEXT NOT NULL, result BLOB NOT NULL, "
        + "at INTEGER NOT NULL, PRIMARY KEY (device, batch)) WITHOUT ROWID");
    exec(writer, "CREATE TABLE IF NOT EXISTS _tidesync_conflicts (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, "
        + "policy TEXT NOT NULL, outcome TEXT NOT NULL, device TEXT, at INTEGER NOT NULL, base INTEGER, stored_ver INTEGER, "
        + "stored TEXT, incoming TEXT, result TEXT)");
    exec(writer, "CREATE TABLE IF NOT EXISTS _tidesync_devices (device TEXT PRIMARY KEY, last_push INTEGER, last_pull INTEGER, "
        + "pushes INTEGER, pulls INTEGER, changes INTEGER) WITHOUT ROWID");
    String ep = Sql.string(writer, "SELECT v FROM _tidesync_meta WHERE k = 'epoch'");
    if (ep == null) {
      ep = Long.toString(Math.abs(new java.security.SecureRandom().nextLong() % 1_000_000_000L), 36);
      Sql.update(writer, "INSERT INTO _tidesync_meta (k, v) VALUES ('epoch', ?)", ep);
    }
    seq = Sql.number(writer, "SELECT v FROM _tidesync_meta WHERE k = 'seq'");
    String schemaJson = Sql.string(writer, "SELECT v FROM _tidesync_meta WHERE k = 'schema'");
    setSchema(schemaJson == null ? List.of() : Wire.readSchema(schemaJson.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    return new String[] {ep, Sql.string(writer, "SELECT v FROM _tidesync_meta WHERE k = 'hlc'")};
  }

  /** Tables created in the file by other means (a backend, an existing database) join the dataset. */
  private void adoptTables() throws SQLException {
    Capture.migrateLegacyLog(writer);
    Capture.dropStrayTriggers(writer);
    Introspect.Result found = Introspect.tables(writer, n -> ConflictPolicy.FIELD_MERGE);
    Map<String, TableSchema> next = new LinkedHashMap<>(schema);
    for (TableSchema t : found.tables()) {
      TableSchema known = next.get(t.name());
      if (known == null) {
        Capture.installServerTriggers(writer, t);
        Capture.logExistingRows(writer, t);
        next.put(t.name(), t);
      } else if (known.columns().size() != t.columns().size() || !Capture.hasServerTriggers(writer, t.name())) {
        TableSchema merged = new TableSchema(t.name(), t.columns(), known.primaryKey(), known.foreignKeys(), known.policy());
        Capture.installServerTriggers(writer, merged);
        next.put(t.name(), merged);
      }
    }
    setSchema(next.values());
  }

  private void setSchema(java.util.Collection<TableSchema> tables) {
    Map<String, TableSchema> m = new LinkedHashMap<>();
    for (TableSchema t : SchemaOrder.parentsFirst(List.copyOf(tables))) {
      m.put(t.name(), t);
    }
    Set<String> parents = new HashSet<>();
    for (TableSchema t : m.values()) {
      for (ForeignKey fk : t.foreignKeys()) {
        if (!fk.onDelete().equals("NO ACTION") && !fk.onDelete().equals("RESTRICT")) {
          parents.add(fk.refTable());
        }
      }
    }
    schema = java.util.Collections.unmodifiableMap(m);
    cascadeParents = Set.copyOf(parents);
  }

  private void saveMeta() throws SQLException {
    Sql.update(writer, "INSERT INTO _tidesync_meta (k, v) VALUES ('seq', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", seq);
    Sql.update(writer, "INSERT INTO _tidesync_meta (k, v) VALUES ('hlc', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", clock.current().toString());
    Sql.update(writer, "INSERT INTO _tidesync_meta (k, v) VALUES ('schema', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
        new String(Wire.writeSchema(List.copyOf(schema.values())), java.nio.charset.StandardCharsets.UTF_8));
  }

  @Override
  public String name() {
    return name;
  }

  public Path file() {
    return file;
  }

  @Override
  public List<TableSchema> schema() {
    return List.copyOf(schema.values());
  }

  // ------------------------------------------------------------------------------------ push

  @Override
  public PushResult push(PushRequest req) {
    ensureOpen();
    lock.lock();
    try {
      Mode mode = Mode.WHOLE;
      Attempt a = new Attempt();
      RuntimeException before = null;
      // The checks of deferred keys: at least KEY_CHECKS per attempt, and past those, time per push.
      keyChecksUntil = System.nanoTime() + keyChecksNanos;
      // Each failed attempt is rolled back and the batch applied again in a new transaction, the
      // file read afresh as the truth; we hold the dataset's lock throughout. Bounded: the mode
      // only moves on; each TransactionEnded sets skipTogether or adds a change to checkBefore or
      // to leftOut, which only CHECKED's start empties (with enders), once; once TRANSACTION_ENDS
      // changes have ended the transaction, the next one left out leaves out every change not
      // settled before it.
      for (;;) {
        try {
          return pushAttempt(req, mode, a);
        } catch (WholeBatchFailed e) {
          // A change of the batch failed (a foreign key whose row comes later in the batch, a
          // constraint): change by change, so that the failure is isolated and the rest applies.
          mode = Mode.BY_CHANGE;
          before = e;
        } catch (TransactionEnded e) {
          int i = e.result.index();
          a.enders.add(i);
          if (e.inGroup) {
            // Within a group of rows that refer to each other no change can be told as the cause,
            // as when a constraint fails there (applyTogether): the group is not tried again.
            a.skipTogether = true;
          } else if (mode == Mode.CHECKED && !a.checkBefore.contains(i)) {
            // A change before it may break a deferred key (and be refused), so that this one only
            // failed for it: next time the keys are checked, and settled, right before it. (Also
            // past the cap below: only then have the changes before it their answers.)
            a.checkBefore.add(i);
          } else {
            a.leftOut.put(i, e.result);
            if (a.enders.size() > TRANSACTION_ENDS) {
              // Each such change costs new attempts at the whole batch: past a few, the changes
              // with no answer before this one wait for the device to send them again.
              for (int k = 0; k < req.changes().size(); k++) {
                if (!e.settledBefore.contains(k) && !a.leftOut.containsKey(k)) {
                  a.leftOut.put(k, new ChangeResult(k, ChangeResult.REJECTED, 0, "not applied: too many changes of the batch end the "
                      + "transaction (a constraint ON CONFLICT ROLLBACK, a trigger's RAISE(ROLLBACK)) to apply it in one push", true));
                }
              }
            }
          }
          mode = mode == Mode.WHOLE ? Mode.BY_CHANGE : mode;
          before = e;
        } catch (KeysToCheck | StoreException e) {
          if (mode == Mode.CHECKED || (e instanceof StoreException && !(e.getCause() instanceof SQLException s && StoreException.isForeignKey(s)))) {
            addEarlier(e, before);
            throw e;
          }
          // Every change passed its keys, yet the COMMIT failed one: a key declared DEFERRABLE
          // INITIALLY DEFERRED (a backend's table), which SQLite checks only there; or a group of
          // rows that refer to each other came, whose end would hide such a failure. What was
          // left out for ending the transaction may have failed for a change that breaks such a
          // key: found again, if so, with the keys checked.
          mode = Mode.CHECKED;
          a.leftOut.clear();
          a.enders.clear(); // found again from the start: the cap counts them afresh
          before = e;
        } catch (RuntimeException | Error e) {
          addEarlier(e, before);
          throw e;
        }
      }
    } finally {
      lock.unlock();
    }
  }

  private static void addEarlier(Throwable e, Throwable earlier) {
    if (earlier != null) {
      e.addSuppressed(earlier); // what failed the attempt before (and its rollback, if that failed too)
    }
  }

  /** How an attempt of {@link #push} applies the batch. */
  private enum Mode {
    /** All changes at once, with no savepoint: the fast path, for a batch that applies cleanly. */
    WHOLE,
    /** Change by change, each under a savepoint: a failing change is refused alone. */
    BY_CHANGE,
    /**
     * As {@link #BY_CHANGE}, and SQLite's {@code PRAGMA foreign_key_check} judges the changes
     * against the rows failing before the batch, so that a deferred key a change breaks refuses
     * that change instead of the COMMIT (see {@link #applyChecked}).
     */
    CHECKED
  }

  /** What {@link #push}'s attempts learnt of the batch from the attempts before. */
  private static final class Attempt {
    /** Changes not to apply, with their result. */
    final Map<Integer, ChangeResult> leftOut = new HashMap<>();
    /** In mode CHECKED, the keys are checked right before each of these changes. */
    final Set<Integer> checkBefore = new HashSet<>();
    /** The changes that ended the transaction so far. */
    final Set<Integer> enders = new HashSet<>();
    /** No group of rows that refer to each other is tried (see applyTogether). */
    boolean skipTogether;
  }

  /** One transaction of {@link #push}, in {@code mode}, with what earlier attempts learnt ({@code a}). */
  private PushResult pushAttempt(PushRequest req, Mode mode, Attempt a) {
    long seqBefore = seq;
    Map<String, TableSchema> schemaBefore = schema;
    try {
      return Sql.inTx(writer, "push to " + name, () -> {
        try {
          return pushTx(req, mode, a);
        } finally {
          ahead.clear(); // read ahead for this transaction only
        }
      });
    } catch (RuntimeException | Error e) {
      // The transaction rolled back: forget versions and tables it had taken, and keep the pulls
      // it was to write for the next write. An Error too (an OutOfMemoryError amid a batch): the
      // writes it left queued must never reach a later transaction (io.reset drops them).
      seq = seqBefore;
      setSchema(schemaBefore.values());
      pullStats.restore(pullsInTx);
      io.reset();
      throw e;
    } finally {
      pullsInTx = List.of();
    }
  }

  /** A group of rows that refer to each other comes in mode BY_CHANGE: {@link #push} applies the batch again in mode CHECKED. */
  private static final class KeysToCheck extends RuntimeException {
    KeysToCheck() {
      super("a group of rows that refer to each other: applied again with the keys checked", null, false, false);
    }
  }

  /** The whole batch did not apply at once: {@link #push} rolls back and applies it change by change. */
  private static final class WholeBatchFailed extends RuntimeException {
    WholeBatchFailed(Exception cause) {
      // No stack trace (it only carries the cause to push()); suppression stays on, so that a
      // ROLLBACK that failed too (Sql.tx adds it as suppressed) is not lost from view.
      super(cause.getMessage(), cause, true, false);
    }
  }

  /**
   * A change failed a constraint that ended the whole transaction, not only its statement ({@code
   * ON CONFLICT ROLLBACK}, a trigger's {@code RAISE(ROLLBACK, ...)}): no savepoint is left to undo
   * it alone. {@link #push} applies the batch again without it, the change refused with {@code
   * result}.
   */
  private static final class TransactionEnded extends RuntimeException {
    final ChangeResult result;
    /** The changes that had their answer in that attempt before this one (and were not undone since). */
    final Set<Integer> settledBefore;
    /** Ended within a group of rows that refer to each other ({@link #applyTogether}). */
    final boolean inGroup;

    TransactionEnded(ChangeResult result, Set<Integer> settledBefore, boolean inGroup, SQLException cause) {
      super(cause.getMessage(), cause, true, false);
      this.result = result;
      this.settledBefore = settledBefore;
      this.inGroup = inGroup;
    }
  }

  /** Changes of a batch that end the transaction, each costing an attempt, before the rest waits (see push). */
  private static final int TRANSACTION_ENDS = 16;

  /** The changes that have their answer so far in the push's current attempt, for {@link TransactionEnded}. */
  private final Set<Integer> settled = new HashSet<>();

  /** What the current retry passes may skip (see {@link ChainWaits}); null outside them. */
  private ChainWaits<SQLException> waits;

  /** Whether the retry passes skip what is certain to fail (off only in tests comparing outcomes). */
  boolean chainWaits = true;

  /** Attempts the retry passes skipped so far, for tests. */
  long chainSkips;

  /** The current attempt's changes before which {@link #applyPass} checks the keys (mode CHECKED). */
  private Set<Integer> checkBefore = Set.of();

  private PushResult pushTx(PushRequest req, Mode mode, Attempt a) throws SQLException {
    Map<Integer, ChangeResult> leftOut = a.leftOut;
    settled.clear();
    this.checkBefore = a.checkBefore;
    keyChecksDone = 0;
    keyGraph = null;
    byte[] prior = null;
    PreparedStatement find = io.statement("SELECT result FROM _tidesync_batches WHERE device = ? AND batch = ?");
    find.setString(1, req.device());
    find.setString(2, req.batch());
    try (ResultSet rs = find.executeQuery()) {
      if (rs.next()) {
        prior = rs.getBytes(1);
      }
    }
    if (prior != null) {
      return Wire.readPushResult(new java.io.ByteArrayInputStream(prior)).asReplay();
    }
    // The file, not memory, is the truth: another process (an operator's command) may have
    // versioned rows since we last wrote. We hold the write lock from here to commit.
    seq = Math.max(seq, Sql.number(writer, "SELECT v FROM _tidesync_meta WHERE k = 'seq'"));
    absorbLocal(null, null);
    reconcile(req.schema(), Batches.touched(req));
    List<Change> changes = req.changes();
    List<TableSchema> tables = Batches.validate(changes, schema, name);
    readAhead(changes);
    Capture.quiet(writer, true);
    // Belt and braces: the connection's TEMP trigger also drops whatever log row a trigger
    // without the guard (reinstalled by an older build while this one runs) would write.
    Capture.beginApply(writer);
    ChangeResult[] results = new ChangeResult[changes.size()];
    List<Integer> order = Batches.applyOrder(changes, schema.values());
    if (!leftOut.isEmpty()) {
      leftOut.forEach((i, r) -> results[i] = r);
      order = new ArrayList<>(order);
      order.removeAll(leftOut.keySet());
    }
    // What fails its keys before the batch (rows written with foreign keys off) is not the batch's doing.
    Map<List<Object>, Integer> keysBefore = mode == Mode.CHECKED ? foreignKeyCheck() : null;
    // Fast path: the whole batch at once. Almost every batch applies cleanly; when one change
    // fails, push() rolls this transaction back and applies the batch change by change, each
    // under its own savepoint. Not a savepoint around the batch: SQLite keeps the prior image of
    // every page written under a savepoint in a statement journal, which spills to a temporary
    // file past 64 KiB, and for a batch of 1,000 new rows that copying was about a tenth of the
    // store's CPU (BENCHMARKS.md, session 10).
    if (mode == Mode.WHOLE) {
      // Row and metadata writes go as JDBC batches (RowIo.startBatching): about half the cost of
      // one execution per row. All of them are sent before the triggers are switched back on, so
      // none can be captured as a local write.
      io.startBatching();
      try {
        for (int i : order) {
          results[i] = applyCore(i, changes.get(i), tables.get(i), req.device());
        }
        io.stopBatching();
      } catch (SQLException | ProtocolException e) {
        throw new WholeBatchFailed(e);
      } finally {
        io.discard(); // whatever failed (an Error too), nothing queued outlives this block
      }
      order = List.of();
    }
    // Foreign keys are checked immediately, so a child that arrives before its parent (or a
    // parent delete before its children's) fails; such changes are retried after the rest of
    // the batch, as long as a pass makes progress.
    // The passes skip, without SQL, what is certain to fail again (a chain of a table's rows sent
    // children first would otherwise cost a pass over every row left per row: ChainWaits).
    waits = keysBefore == null && !order.isEmpty() && chainWaits ? new ChainWaits<>(new SelfKeys(writer), clock) : null;
    try {
      for (boolean progress = true; progress && !order.isEmpty(); ) {
        List<Integer> retry = new ArrayList<>();
        applyPass(order, changes, tables, results, req.device(), false, keysBefore, retry);
        progress = retry.size() < order.size();
        order = retry;
      }
    } finally {
      if (waits != null) {
        chainSkips += waits.skipped();
      }
      waits = null;
    }
    // A cycle (a row moved under its own descendant, two tables that refer to each other) cannot
    // go in or out one row at a time while foreign keys are checked at once: no row of it ever
    // passes first. What the passes left is tried once more as one group, its checks deferred to
    // the group's end; if they fail there, the group is undone, the changes that failed them are
    // left out and the rest tried again. What is left is refused for now, as before.
    if (!a.skipTogether && order.size() > 1 && ForeignKeyGroups.hasCycle(order, changes, schema, ForeignKeyGroups.referenceValues(order, changes, tables, io::read))) {
      if (mode == Mode.BY_CHANGE) {
        // The group switches PRAGMA defer_foreign_keys off at its end, and that discards SQLite's
        // count of every deferred key failing so far, a declared DEFERRABLE INITIALLY DEFERRED
        // one too: the COMMIT could then let an orphan of the passes in (found in review). Such
        // a batch is applied again with the keys checked (CHECKED), which does not rely on it.
        throw new KeysToCheck();
      }
      order = applyTogether(order, changes, tables, results, req.device());
    }
    applyPass(order, changes, tables, results, req.device(), true, keysBefore, new ArrayList<>());
    Capture.endApply(writer);
    Capture.quiet(writer, false);
    long now = clock.wallMillis();
    String cursor = cursorOf(false, seq);
    PushResult result = new PushResult(req.batch(), List.of(results), cursor, false);
    PreparedStatement save = io.statement("INSERT INTO _tidesync_batches (device, batch, result, at) VALUES (?, ?, ?, ?)");
    save.setString(1, req.device());
    save.setString(2, req.batch());
    save.setBytes(3, Wire.writePushResult(result));
    save.setLong(4, now);
    save.executeUpdate();
    // Increments, as on PostgreSQL: the file is the truth (an operator's command may push too).
    PreparedStatement dev = io.statement("INSERT INTO _tidesync_devices (device, last_push, last_pull, pushes, pulls, changes) "
        + "VALUES (?, ?, 0, 1, 0, ?) ON CONFLICT (device) DO UPDATE SET last_push = max(last_push, excluded.last_push), "
        + "pushes = pushes + 1, changes = changes + excluded.changes");
    dev.setString(1, req.device());
    dev.setLong(2, now);
    dev.setLong(3, changes.size());
    dev.executeUpdate();
    // The pulls noted since the last write go with this transaction, which commits anyway (one
    // statement per device, in process); push() puts them back if it rolls back.
    pullsInTx = pullStats.drain();
    writePulls(pullsInTx);
    saveMeta();
    return result;
  }

  /**
   * Adds pulls to {@code _tidesync_devices}, in the writer's transaction. Pulls are only noted in
   * memory ({@link PullStats}): a write transaction per pull would cost every pull a commit for a
   * statistic. They are written with the next push, before a status is read, and on close.
   */
  private void writePulls(List<PullStats.Pending> pulls) throws SQLException {
    if (pulls.isEmpty()) {
      return;
    }
    PreparedStatement ps = io.statement("INSERT INTO _tidesync_devices (device, last_push, last_pull, pushes, pulls, changes) "
        + "VALUES (?, 0, ?, 0, ?, 0) ON CONFLICT (device) DO UPDATE SET last_pull = max(last_pull, excluded.last_pull), "
        + "pulls = pulls + excluded.pulls");
    for (PullStats.Pending p : pulls) {
      ps.setString(1, p.device());
      ps.setLong(2, p.lastPull());
      ps.setLong(3, p.pulls());
      ps.executeUpdate();
    }
  }

  /**
   * Writes the pulls noted so far in a transaction of their own. Under the write lock, which a
   * push holds from its drain of the pulls to its commit: once this returns, every pull noted
   * before it was called is in the file.
   */
  private void flushPullStats() {
    pullStats.flush(lock, drained -> {
      try {
        Sql.inTx(writer, "recording pulls of " + name, () -> {
          writePulls(drained);
          return null;
        });
      } catch (RuntimeException e) {
        io.reset(); // rolled back: as after a failed push
        throw e;
      }
    });
  }

  /**
   * Creates pushed tables that are new and adds new columns. An incompatible table refuses the
   * push only when the batch writes to it: a device's broken table must not stop its others.
   */
  private void reconcile(List<TableSchema> incoming, Set<String> strict) throws SQLException {
    if (incoming.isEmpty()) {
      return;
    }
    Map<String, TableSchema> next = new LinkedHashMap<>(schema);
    boolean changed = false;
    for (TableSchema in : SchemaOrder.parentsFirst(incoming)) {
      TableSchema have = next.get(in.name());
      if (have == null) {
        for (ForeignKey fk : in.foreignKeys()) {
          if (!next.containsKey(fk.refTable()) && incoming.stream().noneMatch(t -> t.name().equals(fk.refTable()))) {
            throw new IncompatibleSchemaException("table '" + in.name() + "' references table '" + fk.refTable()
                + "', which is neither in the dataset nor in the push");
          }
        }
        exec(writer, Ddl.createTable(in));
        TableSchema created = Introspect.table(writer, in.name(), in.policy());
        Capture.installServerTriggers(writer, created);
        next.put(in.name(), created);
        changed = true;
      } else {
        List<ColumnSchema> add;
        try {
          add = Ddl.additions(have, in);
        } catch (IncompatibleSchemaException e) {
          if (strict.contains(in.name())) {
            throw e;
          }
          continue;
        }
        if (!add.isEmpty()) {
          for (ColumnSchema c : add) {
            exec(writer, Ddl.addColumn(in.name(), c));
          }
          TableSchema merged = Ddl.union(have, add);
          Capture.installServerTriggers(writer, merged);
          next.put(in.name(), merged);
          changed = true;
        }
      }
    }
    if (changed) {
      io.reset();
      setSchema(next.values());
    }
  }

  /** Applies one change inside a savepoint; returns null when it should be retried after the rest. */
  private ChangeResult applyOne(int index, Change ch, TableSchema t, String device, boolean lastPass) throws SQLException {
    io.statement("SAVEPOINT change").execute();
    long seqBefore = seq; // a version taken by a change undone is taken back: versions stay gap-free, as on PostgreSQL
    try {
      ChangeResult r = applyCore(index, ch, t, device);
      io.statement("RELEASE change").execute();
      return r;
    } catch (SQLException e) {
      undo("change", e, index);
      seq = seqBefore;
      if (StoreException.isForeignKey(e)) {
        if (!lastPass) {
          return null;
        }
        return new ChangeResult(index, ChangeResult.REJECTED, 0, "FOREIGN KEY constraint failed on table '" + t.name() + "'", true);
      }
      if (StoreException.isConstraint(e)) {
        return refused(index, e);
      }
      throw e;
    } catch (ProtocolException e) {
      io.statement("ROLLBACK TO change").execute();
      io.statement("RELEASE change").execute();
      seq = seqBefore;
      return new ChangeResult(index, ChangeResult.REJECTED, 0, e.getMessage(), false);
    }
  }

  /** A change refused for good for the constraint {@code e} it failed. */
  private static ChangeResult refused(int index, SQLException e) {
    return new ChangeResult(index, ChangeResult.REJECTED, 0, Batches.cut(StoreException.reason(e)), false);
  }

  /**
   * Rolls back to {@code savepoint} and releases it after {@code failure}, which change {@code
   * index} caused. When SQLite has ended the whole transaction instead (a constraint {@code ON
   * CONFLICT ROLLBACK}, a trigger's {@code RAISE(ROLLBACK, ...)}), the savepoint is gone: throws
   * {@link TransactionEnded}, for the batch to be applied again without that change.
   */
  private void undo(String savepoint, SQLException failure, int index) throws SQLException {
    try {
      io.statement("ROLLBACK TO " + savepoint).execute();
    } catch (SQLException gone) {
      if (index >= 0 && Sql.noSuchSavepoint(gone) && StoreException.isConstraint(failure)) {
        throw new TransactionEnded(refused(index, failure), Set.copyOf(settled), savepoint.equals("together"), failure);
      }
      failure.addSuppressed(gone);
      throw failure;
    }
    io.statement("RELEASE " + savepoint).execute();
  }

  /**
   * One pass over {@code order}: each change applied or refused (its result in {@code results}),
   * or, when it failed a foreign key and {@code lastPass} is false, added to {@code retry}. With
   * {@code keysBefore} (mode {@link Mode#CHECKED}), through {@link #applyChecked}.
   */
  private void applyPass(List<Integer> order, List<Change> changes, List<TableSchema> tables, ChangeResult[] results, String device,
      boolean lastPass, Map<List<Object>, Integer> keysBefore, List<Integer> retry) throws SQLException {
    if (keysBefore != null) {
      // Parts cut before each change of checkBefore: when it comes, what came before it holds its keys.
      int from = 0;
      for (int to = 1; to <= order.size(); to++) {
        if (to == order.size() || checkBefore.contains(order.get(to))) {
          applyChecked(order.subList(from, to), changes, tables, results, device, lastPass, keysBefore, retry);
          from = to;
        }
      }
      return;
    }
    for (int i : order) {
      if (!lastPass && waits != null && waits.skip(i)) {
        retry.add(i);
        continue;
      }
      ChangeResult r = applyOne(i, changes.get(i), tables.get(i), device, lastPass);
      if (r == null) {
        retry.add(i);
        if (waits != null) {
          waits.failed(i, changes.get(i));
        }
      } else {
        results[i] = r;
        settled.add(i);
        if (waits != null) {
          waits.answered(changes.get(i));
        }
      }
    }
  }

  /**
   * Applies {@code part} change by change under a savepoint, then asks SQLite's {@code PRAGMA
   * foreign_key_check} whether any row fails its keys that did not before the batch ({@code
   * keysBefore}): a key declared {@code DEFERRABLE INITIALLY DEFERRED} is not checked at the
   * statement, only at COMMIT, where one failure would fail the whole push. If one does, the part
   * is undone and its halves applied the same way, down to the single change that breaks a key,
   * which is treated as a change failing its key at once: retried after the rest, and refused for
   * now in the last pass. SQLite's own check judges in the parent's collation and affinity, sees
   * what a cascade or a SET DEFAULT did, and covers the tables the store does not sync. It reads
   * every table with a foreign key, about 2 k log2(n) + 1 times for k such changes among n; this
   * mode is only taken after a COMMIT failed on a deferred key.
   */
  private void applyChecked(List<Integer> part, List<Change> changes, List<TableSchema> tables, ChangeResult[] results, String device,
      boolean lastPass, Map<List<Object>, Integer> keysBefore, List<Integer> retry) throws SQLException {
    if (keyChecksDone >= KEY_CHECKS_MAX || (keyChecksDone >= KEY_CHECKS && System.nanoTime() > keyChecksUntil)) {
      // Out of checks (a batch of many such changes): the part is not applied, and refused for
      // now in the last pass; the device sends it again, and each push finds more of the culprits.
      for (int i : part) {
        if (lastPass) {
          results[i] = new ChangeResult(i, ChangeResult.REJECTED, 0, "not applied: too many changes of the batch fail a deferred "
              + "foreign key to find them all in one push", true);
        } else {
          retry.add(i);
        }
      }
      return;
    }
    keyChecksDone++;
    long seqBefore = seq;
    io.statement("SAVEPOINT checked").execute();
    ChangeResult[] got = new ChangeResult[part.size()];
    List<Integer> again = new ArrayList<>();
    for (int j = 0; j < got.length; j++) {
      int i = part.get(j);
      got[j] = applyOne(i, changes.get(i), tables.get(i), device, lastPass);
      if (got[j] == null) {
        again.add(i);
      }
    }
    Map<List<Object>, Integer> after = foreignKeyCheck();
    if (within(after, keysBefore)) {
      io.statement("RELEASE checked").execute();
      for (int j = 0; j < got.length; j++) {
        if (got[j] != null) {
          results[part.get(j)] = got[j];
          settled.add(part.get(j));
        }
      }
      retry.addAll(again);
      return;
    }
    Set<Integer> blamed = blame(part, changes, after, keysBefore); // read before the rows are rolled back
    io.statement("ROLLBACK TO checked").execute();
    io.statement("RELEASE checked").execute();
    seq = seqBefore;
    settled.removeAll(part);
    if (part.size() == 1 || !blamed.isEmpty()) {
      for (int i : part.size() == 1 ? part : blamed) {
        if (lastPass) {
          results[i] = new ChangeResult(i, ChangeResult.REJECTED, 0, "FOREIGN KEY constraint failed on table '" + tables.get(i).name()
              + "' (a deferred key, checked at commit)", true);
          settled.add(i);
        } else {
          retry.add(i);
        }
      }
      List<Integer> rest = new ArrayList<>(part);
      rest.removeAll(blamed);
      if (part.size() > 1 && !rest.isEmpty()) {
        applyChecked(rest, changes, tables, results, device, lastPass, keysBefore, retry);
      }
      return;
    }
    // The first half first: the changes are judged in the order the passes apply them, each
    // against those before it, as keys checked at once would judge them.
    int half = part.size() / 2;
    applyChecked(part.subList(0, half), changes, tables, results, device, lastPass, keysBefore, retry);
    applyChecked(part.subList(half, part.size()), changes, tables, results, device, lastPass, keysBefore, retry);
  }

  /**
   * The changes of {@code part} that certainly broke the keys failing now ({@code after}) and not
   * before: each failing row is one the part wrote once, by an upsert, and its key's parent table is
   * one the part cannot have changed (not written, not reached by a cascade from a table it
   * wrote, no trigger of the file's own). Such a row's parent was missing before the part as after
   * it, so that upsert fails its key as it would have at once, whatever the order. Empty when any
   * failing row is not so (a parent deleted, a cascade, a table with no rowid, a key stored in
   * other terms than pushed): then {@link #applyChecked} halves the part instead. Saves the
   * halving's checks for the usual case, rows pushed with their parent missing.
   */
  private Set<Integer> blame(List<Integer> part, List<Change> changes, Map<List<Object>, Integer> after, Map<List<Object>, Integer> before)
      throws SQLException {
    if (keyGraph == null) {
      keyGraph = keyGraph(); // the file's schema does not change while the batch applies
    }
    if (keyGraph.otherTriggers()) {
      return Set.of();
    }
    Set<String> reached = new HashSet<>(); // lower case, as SQLite matches table names
    Map<String, List<Integer>> writes = new HashMap<>(); // every change of the part, by row
    for (int i : part) {
      Change c = changes.get(i);
      reached.add(c.table().toLowerCase(java.util.Locale.ROOT));
      writes.computeIfAbsent(c.table() + '\u0000' + Keys.canonical(c.pk()), k -> new ArrayList<>()).add(i);
    }
    for (List<String> todo = new ArrayList<>(reached); !todo.isEmpty(); ) {
      for (String child : keyGraph.actions().getOrDefault(todo.remove(todo.size() - 1), Set.of())) {
        if (reached.add(child)) {
          todo.add(child);
        }
      }
    }
    Set<Integer> out = new java.util.LinkedHashSet<>();
    for (Map.Entry<List<Object>, Integer> e : after.entrySet()) {
      if (e.getValue() <= before.getOrDefault(e.getKey(), 0)) {
        continue;
      }
      String child = (String) e.getKey().get(0);
      Object rowid = e.getKey().get(1);
      TableSchema t = schema.get(child);
      if (rowid == null || t == null || reached.contains(((String) e.getKey().get(2)).toLowerCase(java.util.Locale.ROOT))) {
        return Set.of();
      }
      StringBuilder sql = new StringBuilder("SELECT ");
      for (int k = 0; k < t.primaryKey().size(); k++) {
        sql.append(k == 0 ? "" : ", ").append(Sql.q(t.primaryKey().get(k)));
      }
      List<Object> key = new ArrayList<>();
      try (PreparedStatement ps = writer.prepareStatement(sql.append(" FROM ").append(Sql.q(child)).append(" WHERE rowid = ?").toString())) {
        ps.setObject(1, rowid);
        try (ResultSet rs = ps.executeQuery()) {
          if (!rs.next()) {
            return Set.of();
          }
          for (int k = 0; k < t.primaryKey().size(); k++) {
            key.add(dev.tidesync.protocol.Values.normalize(Sql.read(rs, k + 1)));
          }
        }
      }
      // One upsert of the row in the part: with more, an earlier one may have held its keys.
      List<Integer> writers = writes.get(child + '\u0000' + Keys.canonical(key));
      if (writers == null || writers.size() > 1 || changes.get(writers.get(0)).deleted()) {
        return Set.of();
      }
      out.add(writers.get(0));
    }
    return out;
  }

  /**
   * What {@link #blame} reads of the file, once per attempt: whether it has triggers of its own
   * (which may write anywhere), and, by table (lower case), the tables a write to it can reach by
   * a key's action (CASCADE, SET NULL, SET DEFAULT write the child when the parent changes),
   * SQLite's own list over every table of the file.
   */
  private record KeyGraph(boolean otherTriggers, Map<String, Set<String>> actions) {}

  /** This attempt's {@link KeyGraph}; null until {@link #blame} needs it. */
  private KeyGraph keyGraph;

  private KeyGraph keyGraph() throws SQLException {
    // Tidesync's triggers told by exact name and guard, as for ChainWaits (SelfKeys): a backend may
    // name its own _tidesync_... after the store opened.
    if (!Capture.onlyServerTriggers(writer)) {
      return new KeyGraph(true, Map.of());
    }
    Map<String, Set<String>> actions = new HashMap<>();
    try (Statement st = writer.createStatement(); ResultSet rs = st.executeQuery("SELECT f.\"table\", m.name FROM "
        + "sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND (f.on_delete NOT IN ('NO ACTION', 'RESTRICT') "
        + "OR f.on_update NOT IN ('NO ACTION', 'RESTRICT'))")) {
      while (rs.next()) {
        actions.computeIfAbsent(rs.getString(1).toLowerCase(java.util.Locale.ROOT), k -> new HashSet<>())
            .add(rs.getString(2).toLowerCase(java.util.Locale.ROOT));
      }
    }
    return new KeyGraph(false, actions);
  }

  /**
   * Checks of {@link #applyChecked} per attempt at least (an attempt that a change ending the
   * transaction cut short must not leave the next without); more until {@link #keyChecksNanos}
   * after the push began. Each reads every table with a foreign key, so on large
   * tables a batch of many changes that fail a deferred key has some of them found per push, not
   * all at any cost: the changes not told apart are refused for now, and the device sends them
   * again.
   */
  private static final int KEY_CHECKS = 128;

  /** Past {@link #KEY_CHECKS}, checks go on this long into a push, up to {@link #KEY_CHECKS_MAX}. A test may shorten it. */
  static volatile long keyChecksNanos = 2_000_000_000L;

  private static final int KEY_CHECKS_MAX = 8192;

  /** Checks done by {@link #applyChecked} in this attempt, and when the push's time for more ends. */
  private int keyChecksDone;

  private long keyChecksUntil;

  /** Attempts at applying a group (see {@link #applyTogether}), each after leaving out the changes the one before found failing. */
  private static final int TOGETHER_ATTEMPTS = 4;

  /**
   * Applies the changes {@code group} as one, with foreign keys checked at the end of the group
   * instead of at each statement ({@code PRAGMA defer_foreign_keys}), then checked by SQLite's own
   * {@code PRAGMA foreign_key_check} over the whole database: a delete's cascade can reach tables
   * the group does not name, and switching the deferral off discards SQLite's count of the
   * violations still pending, so the commit would not catch what this check misses. Rows that
   * failed their keys before the group (written by a connection with foreign keys off) do not
   * count against it. When the check fails, the group is undone, the changes that failed it are
   * left out ({@link ForeignKeyGroups#culprits}) and the rest tried again, up to {@link
   * #TOGETHER_ATTEMPTS} times. Returns the changes of {@code group} not applied ({@code results}
   * is filled in for the others): all of them when no attempt held. Reads every table with a
   * foreign key, at least once per attempt: only groups whose rows form a cycle come here.
   */
  private List<Integer> applyTogether(List<Integer> group, List<Change> changes, List<TableSchema> tables, ChangeResult[] results, String device)
      throws SQLException {
    Map<List<Object>, Integer> before = foreignKeyCheck(); // what failed before the group, and is not its doing
    List<Integer> members = new ArrayList<>(group);
    for (int attempt = 0; attempt < TOGETHER_ATTEMPTS && members.size() > 1; attempt++) {
      long seqBefore = seq;
      ChangeResult[] got = new ChangeResult[members.size()];
      Set<String> touched = new HashSet<>();
      List<ForeignKeyGroups.Violation> violations = null; // set once the group applied and failed its check
      int current = -1; // the change being applied
      io.statement("SAVEPOINT together").execute();
      try {
        io.statement("PRAGMA defer_foreign_keys = ON").execute();
        for (int j = 0; j < got.length; j++) {
          int i = members.get(j);
          current = i;
          got[j] = applyCore(i, changes.get(i), tables.get(i), device);
          touched.add(tables.get(i).name());
        }
        current = -1;
        if (within(foreignKeyCheck(), before)) {
          // Back to checks at each statement: nothing the group did is left failing.
          io.statement("PRAGMA defer_foreign_keys = OFF").execute();
          io.statement("RELEASE together").execute();
          for (int j = 0; j < got.length; j++) {
            results[members.get(j)] = got[j];
          }
          settled.addAll(members);
          List<Integer> left = new ArrayList<>(group);
          left.removeAll(members);
          return left;
        }
        violations = violations(touched);
      } catch (SQLException | ProtocolException e) {
        if (e instanceof SQLException s) {
          undoTogether(seqBefore, s, current); // TransactionEnded when the failure ended the transaction
          if (!StoreException.isConstraint(s)) {
            throw s;
          }
        } else {
          undoTogether(seqBefore, null, -1);
        }
        // another constraint failed in the group: undone, and no attempt can tell which
      }
      if (violations != null) {
        undoTogether(seqBefore, null, -1);
      }
      Set<Integer> out = ForeignKeyGroups.culprits(members, changes, schema, violations == null ? List.of() : violations);
      if (out.isEmpty()) {
        break;
      }
      members.removeAll(out);
    }
    return group;
  }

  /** Whether every violation of {@code after} was there {@code before} (as many times). */
  private static boolean within(Map<List<Object>, Integer> after, Map<List<Object>, Integer> before) {
    for (Map.Entry<List<Object>, Integer> e : after.entrySet()) {
      if (e.getValue() > before.getOrDefault(e.getKey(), 0)) {
        return false;
      }
    }
    return true;
  }

  /** Undoes a group; {@code failure}, when not null, is what change {@code index} failed (see {@link #undo}). */
  private void undoTogether(long seqBefore, SQLException failure, int index) throws SQLException {
    // Rolling back to the savepoint also takes back the deferred violations the group counted.
    if (failure != null) {
      undo("together", failure, index);
    } else {
      io.statement("ROLLBACK TO together").execute();
      io.statement("RELEASE together").execute();
    }
    io.statement("PRAGMA defer_foreign_keys = OFF").execute();
    seq = seqBefore;
  }

  /** SQLite's check of every foreign key of the database: each failing row (table, rowid, parent, key number), counted. */
  private Map<List<Object>, Integer> foreignKeyCheck() throws SQLException {
    Map<List<Object>, Integer> out = new HashMap<>();
    try (Statement st = writer.createStatement(); ResultSet rs = st.executeQuery("PRAGMA foreign_key_check")) {
      while (rs.next()) {
        out.merge(java.util.Arrays.asList(rs.getString(1), rs.getObject(2), rs.getString(3), rs.getInt(4)), 1, Integer::sum);
      }
    }
    return out;
  }

  /** The rows that fail their foreign keys, in the tables a group that wrote {@code touched} can break. */
  private List<ForeignKeyGroups.Violation> violations(Set<String> touched) throws SQLException {
    return ForeignKeyGroups.violations(touched, schema, Sql::q, Sql::q, (t, sql, cols) -> {
      List<List<Object>> rows = new ArrayList<>();
      try (Statement st = writer.createStatement(); ResultSet rs = st.executeQuery(sql)) {
        while (rs.next()) {
          List<Object> row = new ArrayList<>(cols.size());
          for (int i = 0; i < cols.size(); i++) {
            row.add(Sql.read(rs, 1 + i));
          }
          rows.add(row);
        }
      }
      return rows;
    });
  }

  /** Merges one change and writes the result; throws on any failure (the caller's savepoint undoes it). */
  private ChangeResult applyCore(int index, Change ch, TableSchema t, String device) throws SQLException {
    String key = Keys.canonical(ch.pk());
    RowState stored = loadState(t, key, ch.pk());
    Apply.Decision d = Apply.decide(t, stored, ch, clock);
    long version = stored == null ? 0 : stored.version();
    if (d.newVersion()) {
      version = ++seq;
      if (d.merge().changed()) {
        writeRow(t, key, ch.pk(), stored, d.merge().state());
      }
      saveRowMeta(t.name(), key, d.merge().state(), version, d.clean() ? device : null);
    }
    if (d.logConflict()) {
      logConflict(t, key, device, ch, stored, d.merge());
    }
    return new ChangeResult(index, d.status(), version, null, false);
  }

  /** A row's metadata as stored (clocks still packed). */
  private record StoredMeta(long ver, String live, String dead, String clocks, String tomb) {}

  private static final StoredMeta NO_META = new StoredMeta(-1, null, null, null, null);

  /**
   * Metadata of the rows of the batch being applied, read ahead with one query per table (by
   * {@link #readAhead}); {@link #NO_META} for a row that has none yet. An entry is taken out
   * when its row is read, before the row can be written, and the whole map is dropped whenever
   * other rows may change behind it (cascades): what is left always matches the file.
   */
  private final Map<String, StoredMeta> ahead = new HashMap<>();

  private void readAhead(List<Change> changes) throws SQLException {
    ahead.clear();
    Map<String, List<String>> keys = new LinkedHashMap<>();
    for (Change c : changes) {
      String key = Keys.canonical(c.pk());
      if (Sql.printableAscii(key)) {
        keys.computeIfAbsent(c.table(), k -> new ArrayList<>()).add(key);
      }
    }
    // The keys' array drives the loop: IN (SELECT value FROM json_each(?)) built and sorted a
    // temporary index of the keys first (see readValues). A key given twice is read twice; the
    // map keeps one.
    PreparedStatement ps = io.statement("SELECT r.pk, r.ver, r.live, r.dead, r.clocks, r.tomb FROM json_each(?) k "
        + "CROSS JOIN _tidesync_rows r ON r.tbl = ? AND r.pk = k.value");
    for (Map.Entry<String, List<String>> e : keys.entrySet()) {
      for (String k : e.getValue()) {
        ahead.put(e.getKey() + '\u0000' + k, NO_META);
      }
      if (allAfterStored(e.getKey(), e.getValue())) {
        continue; // none of them can have metadata: no need to look each up
      }
      ps.setString(1, Sql.jsonArray(e.getValue()));
      ps.setString(2, e.getKey());
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ahead.put(e.getKey() + '\u0000' + rs.getString(1),
              new StoredMeta(rs.getLong(2), rs.getString(3), rs.getString(4), rs.getString(5), rs.getString(6)));
        }
      }
    }
  }

  /**
   * Whether every key (printable ASCII, canonical) sorts after the table's greatest stored key, so
   * that none of them has metadata. A device's initial load sends its rows in key order, batch
   * after batch, and keys that grow with time (UUIDv7, ULIDs, counters spelled as text) come the
   * same way: one look at the end of the key's index instead of a lookup per row. The stored key
   * must be printable ASCII too, for Java's order of strings to be SQLite's (BINARY, byte) order.
   */
  private boolean allAfterStored(String table, List<String> keys) throws SQLException {
    String least = keys.get(0);
    for (String k : keys) {
      if (k.compareTo(least) < 0) {
        least = k;
      }
    }
    PreparedStatement ps = io.statement("SELECT max(pk) FROM _tidesync_rows WHERE tbl = ?");
    ps.setString(1, table);
    String greatest;
    try (ResultSet rs = ps.executeQuery()) {
      greatest = rs.next() ? rs.getString(1) : null;
    }
    return greatest == null || (Sql.printableAscii(greatest) && least.compareTo(greatest) > 0);
  }

  private RowState loadState(TableSchema t, String key, List<Object> pk) throws SQLException {
    StoredMeta m = ahead.isEmpty() ? null : ahead.remove(t.name() + '\u0000' + key);
    if (m == null) {
      io.flush(); // the row may be one this batch wrote already
      PreparedStatement ps = io.statement("SELECT ver, live, dead, clocks, tomb FROM _tidesync_rows WHERE tbl = ? AND pk = ?");
      ps.setString(1, t.name());
      ps.setString(2, key);
      try (ResultSet rs = ps.executeQuery()) {
        m = rs.next() ? new StoredMeta(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5)) : NO_META;
      }
    }
    if (m == NO_META) {
      return null;
    }
    Map<String, Object> values;
    if (Clocks.newer(m.live(), m.dead())) {
      values = io.read(t, pk, null);
      if (values == null) {
        values = Map.of();
      }
    } else {
      values = Keys.parseValues(m.tomb());
    }
    return new RowState(values, unpackClocks(t, m.clocks(), m.live()), m.live(), m.dead(), m.ver());
  }

  private void writeRow(TableSchema t, String key, List<Object> pk, RowState before, RowState after) throws SQLException {
    boolean existed = before != null && !before.deleted();
    if (after.deleted()) {
      if (existed) {
        if (cascadeParents.contains(t.name())) {
          // ON DELETE CASCADE / SET NULL change other rows: let the triggers capture those and
          // give them versions, so every device hears of them. Our own row is skipped. Queued
          // writes go first: with the triggers on, they would be captured as local writes.
          // (loadState's read of this live row has sent them already; this keeps it so.)
          io.flush();
          Capture.endApply(writer);
          Capture.quiet(writer, false);
          io.delete(t, pk);
          Capture.quiet(writer, true);
          Capture.beginApply(writer);
          absorbLocal(t.name(), key);
        } else {
          io.delete(t, pk);
        }
      }
    } else {
      io.upsert(t, pk, after.values()); // the table's columns among them, in the table's order
    }
  }

  private static final String SAVE_ROW_META = "INSERT INTO _tidesync_rows (tbl, pk, ver, live, dead, clocks, origin, tomb) "
      + "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tbl, pk) DO UPDATE SET ver = excluded.ver, live = excluded.live, "
      + "dead = excluded.dead, clocks = excluded.clocks, origin = excluded.origin, tomb = excluded.tomb";

  private void saveRowMeta(String table, String key, RowState s, long version, String origin) throws SQLException {
    TableSchema t = schema.get(table);
    io.write(SAVE_ROW_META, table, key, version, s.live(), s.dead(),
        t == null ? Keys.clocksJson(s.clocks()) : packClocks(t, s.clocks(), s.live()), origin,
        s.deleted() ? Keys.valuesJson(s.values()) : null);
  }

  private void logConflict(TableSchema t, String key, String device, Change in, RowState stored, MergeResult m) throws SQLException {
    PreparedStatement ps = io.statement(StoreRows.insertConflict("_tidesync_conflicts"));
    Sql.bindAll(ps, 1, java.util.Arrays.asList(StoreRows.conflictValues(t, key, device, clock.wallMillis(), in, stored, m)));
    ps.executeUpdate();
  }

  /**
   * Turns captured writes made outside the protocol (a backend's SQL, cascades) into versioned
   * row states with fresh server clocks. Runs inside the caller's write transaction. The entry
   * for ({@code skipTable}, {@code skipKey}) is dropped: the caller versions that row itself.
   */
  private void absorbLocal(String skipTable, String skipKey) throws SQLException {
    // Absorbing rewrites other rows' metadata (a cascade's children): drop what was read ahead.
    ahead.clear();
    // In chunks, so that a backend's bulk write does not have to fit in memory at once.
    while (absorbChunk(skipTable, skipKey) == Capture.LOG_CHUNK) {
      // next chunk
    }
  }

  private int absorbChunk(String skipTable, String skipKey) throws SQLException {
    List<Capture.LogEntry> entries = Capture.readLog(io);
    for (Capture.LogEntry e : entries) {
      TableSchema t = schema.get(e.table());
      if (t == null) {
        continue;
      }
      List<String> written = e.written(t);
      if (e.op().equals("U") && written.isEmpty()) {
        continue;
      }
      String key = e.key();
      List<Object> pk = Keys.parseCanonical(key);
      if (e.table().equals(skipTable) && key.equals(skipKey)) {
        continue;
      }
      String hlc = clock.tick(e.wall()).toString();
      RowState s = loadState(t, key, pk);
      Map<String, String> clocks = s == null ? new HashMap<>() : new HashMap<>(s.clocks());
      String live = s == null ? null : s.live();
      String dead = s == null ? null : s.dead();
      Map<String, Object> tomb = s == null ? Map.of() : s.values();
      if (e.op().equals("D")) {
        dead = hlc;
        if (e.values() != null) {
          tomb = Keys.parseSqliteValues(e.values()); // the row is gone: its values come from the log
        }
      } else {
        live = hlc;
        for (String col : written) {
          clocks.put(col, hlc);
        }
        if (e.op().equals("I")) {
          t.primaryKey().forEach(k -> clocks.put(k, hlc));
        }
      }
      saveRowMeta(t.name(), key, new RowState(tomb, clocks, live, dead, 0), ++seq, null);
    }
    if (!entries.isEmpty()) {
      Capture.trimLog(io, entries.get(entries.size() - 1).seq());
    }
    return entries.size();
  }

  // ------------------------------------------------------------------------------------ pull

  private String cursorOf(boolean bootstrap, long version) {
    return Batches.Cursor.format(bootstrap, epoch, version);
  }

  @Override
  public PullPage pull(String cursor, int limit, String device) {
    ensureOpen();
    Batches.Cursor cur = Batches.Cursor.parse(cursor, epoch, name);
    boolean bootstrap = cur.bootstrap();
    long after = cur.after();
    absorbPending();
    Reader r = borrow();
    try {
      PullPage page = Sql.readTx(r.conn(), "pull from " + name, () -> readPage(r, bootstrap, after, limit, device));
      recordPull(device);
      return page;
    } finally {
      giveBack(r);
    }
  }

  private PullPage readPage(Reader r, boolean bootstrap, long after, int limit, String device) throws SQLException {
    // The schema comes from the same snapshot as the rows (this first read starts it): the
    // in-memory one may already show tables of a push that has not committed, or lack tables
    // of one that committed after this pull began.
    Map<String, TableSchema> tables = snapshotSchema(Sql.string(r.conn(), "SELECT v FROM _tidesync_meta WHERE k = 'schema'"));
    long head = Sql.number(r.conn(), "SELECT v FROM _tidesync_meta WHERE k = 'seq'");
    if (after > head) {
      // Not a cursor this file gave out: the file was restored from a backup taken before the
      // cursor was made (the epoch survives a copy). Answering "nothing new" would move the
      // device past the versions the restored file hands out next, and skip those changes.
      throw new ProtocolException("cursor_invalid", 409, "cursor is ahead of dataset '" + name + "' (version " + head
          + "); bootstrap again (pull without a cursor)");
    }
    List<Change> changes = new ArrayList<>();
    long last = after;
    int scanned = 0;
    // A device's own unmodified rows are filtered here, not after reading, so that a device that
    // pushed many rows does not page through all of them again on its next pull.
    PreparedStatement ps = r.io().statement("SELECT tbl, pk, ver, live, dead, origin, clocks FROM _tidesync_rows "
        + "WHERE ver > ? AND (origin IS NULL OR origin <> ?) ORDER BY ver LIMIT ?");
    ps.setLong(1, after);
    ps.setString(2, device == null ? "" : device);
    ps.setInt(3, limit);
    record Row(String tbl, String pk, long ver, String live, String dead, String origin, String clocks) {}
    List<Row> rows = new ArrayList<>();
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        rows.add(new Row(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getString(4), rs.getString(5), rs.getString(6),
            rs.getString(7)));
      }
    }
    // Values are read a slice of rows at a time, and the page ends once its changes reach
    // Sizes.PAGE_BYTES: a page of large rows (photos) holds fewer of them, and neither side ever
    // holds gigabytes for one page.
    long bytes = 0;
    int next = 0;
    Map<String, Map<Object, Map<String, Object>>> values = Map.of();
    for (Row row : rows) {
      if (bytes >= Sizes.PAGE_BYTES) {
        break;
      }
      if (scanned == next) {
        List<Row> slice = rows.subList(scanned, Math.min(rows.size(), scanned + Sizes.nextSlice(bytes, changes.size(), Sizes.PAGE_BYTES, 256)));
        next = scanned + slice.size();
        values = readValues(r, tables, slice.stream()
            .filter(x -> Clocks.newer(x.live(), x.dead())).map(x -> Map.entry(x.tbl(), x.pk())).toList(), Sizes.PAGE_BYTES - bytes);
      }
      scanned++;
      last = row.ver();
      TableSchema t = tables.get(row.tbl());
      boolean deleted = !Clocks.newer(row.live(), row.dead());
      // Tombstones travel in a bootstrap too: a replica that wrote rows before its first pull
      // (or whose bootstrap spans several syncs) must hear of their deletion. A device's own
      // unmodified rows never come back to it (a device id names one replica file).
      if (t == null) {
        continue;
      }
      List<Object> pk = Keys.parseCanonical(row.pk());
      Map<String, Object> cols = Map.of();
      if (!deleted) {
        Map<Object, Map<String, Object>> ofTable = values.get(t.name());
        Map<String, Object> read = ofTable == null ? null : ofTable.get(pk.get(0));
        if (read == null) {
          read = r.io().read(t, pk, t.nonKeyColumns()); // not among those read together: by its key
        }
        if (read == null) {
          continue;
        }
        cols = read;
      }
      String hlc = Clocks.max(row.live(), row.dead());
      Change ch = new Change(t.name(), pk, deleted, cols, hlc, deleted ? null : Keys.pulledClocks(row.clocks(), hlc, cols.keySet()), 0,
          row.ver());
      changes.add(ch);
      bytes += Sizes.approx(ch);
    }
    // More: the limit was reached, or the byte budget ended the page before the rows read.
    boolean hasMore = scanned == limit || scanned < rows.size();
    if (!hasMore) {
      // Everything up to this snapshot's newest version has been seen (the rest was our own).
      last = Math.max(last, head);
    }
    return new PullPage(cursorOf(bootstrap && hasMore, last), hasMore, bootstrap, List.copyOf(tables.values()), changes);
  }

  /**
   * The non-key values of live rows of a page, with one query per table of a one-column key (the
   * key values bound as one JSON array) instead of a point query per row: table → key value →
   * values. A row it does not return (another key shape, or a value JSON does not carry exactly)
   * is read by its key afterwards, as before. Reading stops once the values read reach
   * {@code room} bytes (roughly, at least one row): a slice sized by small rows before it may
   * hold large ones (photos), and must not read hundreds of them at once. Rows are read in the
   * slice's order (version order), so those read are the ones the page takes first; the rows
   * left unread are read by their keys too, one at a time, while the page has room. With several
   * tables in one slice, the first ones may take the room: at most about twice a page is held.
   */
  private static Map<String, Map<Object, Map<String, Object>>> readValues(Reader r, Map<String, TableSchema> tables,
      List<Map.Entry<String, String>> live, long room) throws SQLException {
    Map<String, List<Object>> keys = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : live) {
      TableSchema t = tables.get(e.getKey());
      if (t == null || t.primaryKey().size() != 1) {
        continue;
      }
      Object k = Keys.parseCanonical(e.getValue()).get(0);
      if (k instanceof String || k instanceof Long) {
        keys.computeIfAbsent(t.name(), x -> new ArrayList<>()).add(k);
      }
    }
    Map<String, Map<Object, Map<String, Object>>> out = new HashMap<>();
    long read = 0;
    for (Map.Entry<String, List<Object>> e : keys.entrySet()) {
      if (read >= room && !out.isEmpty()) {
        break;
      }
      TableSchema t = tables.get(e.getKey());
      List<String> cols = t.nonKeyColumns();
      String pkCol = Sql.q(t.primaryKey().get(0));
      // The keys' array drives the loop (CROSS JOIN fixes SQLite's join order), so rows come in
      // the slice's order without an ORDER BY, which would sort every row, values and all,
      // before the first is returned. Only memory depends on that order, not what is read.
      // Qualified names: json_each has columns of its own (key, value, id, ...).
      PreparedStatement ps = r.io().statement("SELECT u." + pkCol + cols.stream().map(c -> ", u." + Sql.q(c)).collect(java.util.stream.Collectors.joining())
          + " FROM json_each(?) k CROSS JOIN " + Sql.q(t.name()) + " u ON u." + pkCol + " = k.value");
      java.io.StringWriter w = new java.io.StringWriter(e.getValue().size() * 40);
      try (com.fasterxml.jackson.core.JsonGenerator g = Wire.factory().createGenerator(w)) {
        g.writeStartArray();
        for (Object k : e.getValue()) {
          if (k instanceof Long l) {
            g.writeNumber(l);
          } else {
            g.writeString((String) k);
          }
        }
        g.writeEndArray();
      } catch (java.io.IOException ex) {
        throw new java.io.UncheckedIOException(ex);
      }
      ps.setString(1, w.toString());
      Map<Object, Map<String, Object>> rows = new HashMap<>();
      out.put(t.name(), rows);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          Map<String, Object> v = new LinkedHashMap<>();
          for (int i = 0; i < cols.size(); i++) {
            v.put(cols.get(i), Sql.read(rs, i + 2));
          }
          rows.put(Sql.read(rs, 1), v);
          read += Sizes.approx(v);
          if (read >= room) {
            break;
          }
        }
      }
    }
    return out;
  }

  private record ParsedSchema(String json, Map<String, TableSchema> tables) {}

  /** Parsing cache: the stored schema text changes only when a push changes the schema. */
  private volatile ParsedSchema parsedSchema = new ParsedSchema(null, Map.of());

  private Map<String, TableSchema> snapshotSchema(String json) {
    if (json == null) {
      return Map.of();
    }
    ParsedSchema cached = parsedSchema;
    if (json.equals(cached.json())) {
      return cached.tables();
    }
    Map<String, TableSchema> m = new LinkedHashMap<>();
    for (TableSchema t : Wire.readSchema(json.getBytes(java.nio.charset.StandardCharsets.UTF_8))) {
      m.put(t.name(), t);
    }
    parsedSchema = new ParsedSchema(json, m);
    return m;
  }

  /** A table's column names, all and non-key, cached per schema object: every row needs them. */
  private record Columns(TableSchema schema, List<String> all, List<String> nonKey) {}

  private final Map<String, Columns> columns = new ConcurrentHashMap<>();

  private Columns columns(TableSchema t) {
    Columns c = columns.get(t.name());
    if (c == null || c.schema() != t) {
      c = new Columns(t, t.columnNames(), t.nonKeyColumns());
      columns.put(t.name(), c);
    }
    return c;
  }

  /**
   * Clocks as stored in {@code _tidesync_rows.clocks}: {@code -N} when the first N non-key columns
   * (all there are) carry the clock {@code live} and nothing else has one — a device's insert,
   * the common case, with no JSON; else {@link Keys#packClocks} over all columns ({@code *N} for a
   * row a backend inserted, whose key columns have clocks too, or the JSON map).
   */
  private String packClocks(TableSchema t, Map<String, String> clocks, String live) {
    Columns c = columns(t);
    if (live != null && !clocks.isEmpty() && clocks.size() == c.nonKey().size()) {
      boolean uniform = true;
      for (String col : c.nonKey()) {
        if (!live.equals(clocks.get(col))) {
          uniform = false;
          break;
        }
      }
      if (uniform) {
        return "-" + c.nonKey().size();
      }
    }
    return Keys.packClocks(clocks, c.all(), live);
  }

  private Map<String, String> unpackClocks(TableSchema t, String packed, String live) {
    Columns c = columns(t);
    if (packed != null && packed.startsWith("-")) {
      return Keys.unpackClocks("*" + packed.substring(1), c.nonKey(), live);
    }
    return Keys.unpackClocks(packed, c.all(), live);
  }

  /** Gives versions to writes a backend made since the last push, before anyone reads. */
  private void absorbPending() {
    lock.lock();
    try {
      if (Sql.readTx(writer, "checking the capture log of " + name, () -> Capture.hasEntries(writer))) {
        long before = seq;
        try {
          Sql.inTx(writer, "absorbing local writes in " + name, () -> {
            seq = Math.max(seq, Sql.number(writer, "SELECT v FROM _tidesync_meta WHERE k = 'seq'"));
            absorbLocal(null, null);
            saveMeta();
            return null;
          });
        } catch (RuntimeException e) {
          seq = before;
          throw e;
        }
      }
    } finally {
      lock.unlock();
    }
  }

  private void recordPull(String device) {
    if (device != null) {
      pullStats.record(device, clock.wallMillis());
    }
  }

  /** Returns a reader to the pool, or closes it when the store closed while it was out. */
  private void giveBack(Reader r) {
    if (closed) {
      r.io().close();
      Sql.closeQuietly(r.conn());
    } else {
      readers.offer(r);
    }
  }

  private Reader borrow() {
    Reader r = readers.poll();
    if (r != null) {
      return r;
    }
    synchronized (this) {
      if (readersOpen < READERS) {
        Connection c = Sql.open(file, true, true);
        readersOpen++;
        return new Reader(c, new RowIo(c));
      }
    }
    try {
      return readers.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new StoreException("interrupted waiting for a reader of " + name, new SQLException("interrupted", "", 5));
    }
  }

  // ------------------------------------------------------------------------------------ status

  @Override
  public DatasetStatus status() {
    ensureOpen();
    // Pulls are in memory until written: write them first, so that the snapshot read below
    // holds every pull that finished before this call. Best effort: a status request must not
    // fail because of statistics (a long backend transaction, a full pool); the pulls stay
    // noted for the next write and the answer shows the last ones written.
    try {
      flushPullStats();
    } catch (RuntimeException e) {
      LOG.warn("status of {}: device pull times not written yet ({})", name, e.getMessage());
    }
    Reader r = borrow();
    try {
      return Sql.readTx(r.conn(), "status of " + name, () -> {
        // The tables of this read's snapshot, not the in-memory schema: a push that is creating
        // a table has put it there before it commits, and counting it here would fail.
        Map<String, TableSchema> tables = snapshotSchema(Sql.string(r.conn(), "SELECT v FROM _tidesync_meta WHERE k = 'schema'"));
        Map<String, Long> rows = new LinkedHashMap<>();
        for (TableSchema t : tables.values()) {
          rows.put(t.name(), Sql.number(r.conn(), "SELECT count(*) FROM " + Sql.q(t.name())));
        }
        long conflicts = Sql.number(r.conn(), "SELECT count(*) FROM _tidesync_conflicts");
        long version = Sql.number(r.conn(), "SELECT v FROM _tidesync_meta WHERE k = 'seq'");
        List<DeviceStatus> ds = new ArrayList<>();
        try (PreparedStatement ps = r.conn().prepareStatement("SELECT " + StoreRows.DEVICE_COLUMNS + " FROM _tidesync_devices "
            + "ORDER BY device");
            ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            ds.add(StoreRows.device(rs::getObject));
          }
        }
        return new DatasetStatus(name, version, rows, ds, conflicts);
      });
    } finally {
      giveBack(r);
    }
  }

  @Override
  public List<ConflictRecord> conflicts(long afterId, int limit) {
    ensureOpen();
    Reader r = borrow();
    try {
      return Sql.readTx(r.conn(), "conflicts of " + name, () -> {
        List<ConflictRecord> out = new ArrayList<>();
        try (PreparedStatement ps = r.conn().prepareStatement(StoreRows.conflictPage("_tidesync_conflicts"))) {
          ps.setLong(1, afterId);
          ps.setInt(2, limit);
          try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
              out.add(StoreRows.conflict(rs::getObject));
            }
          }
        }
        return out;
      });
    } finally {
      giveBack(r);
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new dev.tidesync.protocol.TidesyncException("dataset " + name + " is closed", true);
    }
  }

  @Override
  public void close() {
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      try {
        flushPullStats();
      } catch (RuntimeException ignored) {
        // best effort: device pull times are statistics
      }
      io.close();
      Reader r;
      while ((r = readers.poll()) != null) {
        r.io().close();
        try {
          r.conn().close();
        } catch (SQLException ignored) {
          // closing
        }
      }
      try {
        writer.close();
      } catch (SQLException ignored) {
        // closing
      }
    } finally {
      lock.unlock();
    }
  }
}
