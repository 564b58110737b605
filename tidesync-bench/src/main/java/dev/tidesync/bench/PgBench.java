package dev.tidesync.bench;

import dev.tidesync.client.HttpTransport;
import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.client.Transport;
import dev.tidesync.pg.PgStorage;
import dev.tidesync.server.RateLimit;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;

/**
 * Push, bootstrap and delta pull against a real {@link TidesyncServer} over a
 * {@link PgStorage}, each against a raw batched insert of the same rows into PostgreSQL measured in
 * the same run. The server runs in this JVM on 127.0.0.1 (so that its store calls can be timed);
 * devices are {@link TidesyncClient}s over SQLite files with the real {@link HttpTransport}. Each
 * run creates its own database on the PostgreSQL server and drops it at the end.
 *
 * <p>Run through {@code ./bench pg} (see {@code --help}).
 */
public final class PgBench {
  static final List<String> SCENARIOS = List.of("push", "bootstrap", "delta");

  /** The dataset tables' shape in PostgreSQL (Data's DDL under the PostgreSQL store's type mapping). */
  static final String[] PG_DDL = {
      "CREATE TABLE sessions (id text PRIMARY KEY, name text, started_at bigint)",
      "CREATE TABLE readings (id text PRIMARY KEY, session_id text REFERENCES sessions (id), at bigint, "
          + "a double precision, b double precision, c bigint, note text)"};

  static final class Options {
    String pgUrl;
    int rows = 100_000;
    int warmupRows = 10_000;
    int reps = 3;
    int deltaReps = 20;
    int deltaChanges = 10;
    int smallRows = 1_000;
    int sessions = 100;
    int batchLimit = 1000;
    int pullLimit = 1000;
    long seed = 42;
    boolean perRow = true;
    Set<String> only = new LinkedHashSet<>(SCENARIOS);
    Path markdown;
    Path dir;
    Path jfr;
    boolean keep;
    String commandLine = "";

    static Options parse(String[] args) {
      Options o = new Options();
      o.commandLine = String.join(" ", args);
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        switch (a) {
          case "--help", "-h" -> {
            usage(System.out);
            System.exit(0);
          }
          case "--keep" -> o.keep = true;
          case "--no-per-row" -> o.perRow = false;
          default -> {
            if (i + 1 >= args.length) {
              throw new IllegalArgumentException("option " + a + " needs a value (see --help)");
            }
            String v = args[++i];
            switch (a) {
              case "--pg-url" -> o.pgUrl = v;
              case "--rows" -> o.rows = positive(a, v);
              case "--warmup-rows" -> o.warmupRows = Integer.parseInt(v);
              case "--reps" -> o.reps = positive(a, v);
              case "--delta-reps" -> o.deltaReps = positive(a, v);
              case "--delta-changes" -> o.deltaChanges = positive(a, v);
              case "--small-rows" -> o.smallRows = positive(a, v);
              case "--sessions" -> o.sessions = positive(a, v);
              case "--batch-limit" -> o.batchLimit = positive(a, v);
              case "--pull-limit" -> o.pullLimit = positive(a, v);
              case "--seed" -> o.seed = Long.parseLong(v);
              case "--markdown" -> o.markdown = Path.of(v);
              case "--dir" -> o.dir = Path.of(v);
              case "--jfr" -> o.jfr = Path.of(v);
              case "--only" -> {
                o.only = new LinkedHashSet<>();
                for (String s : v.split(",")) {
                  if (!SCENARIOS.contains(s.strip())) {
                    throw new IllegalArgumentException("unknown scenario '" + s + "'; known: " + SCENARIOS);
                  }
                  o.only.add(s.strip());
                }
              }
              default -> throw new IllegalArgumentException("unknown option " + a + " (see --help)");
            }
          }
        }
      }
      if (o.deltaChanges > o.smallRows) {
        throw new IllegalArgumentException("--delta-changes must not exceed --small-rows");
      }
      return o;
    }

    static int positive(String name, String v) {
      int n = Integer.parseInt(v.replace("_", "").replace(",", ""));
      if (n < 1) {
        throw new IllegalArgumentException(name + " must be positive, got " + v);
      }
      return n;
    }

    static void usage(PrintStream out) {
      out.println("""
          usage: bench pg [options]
          Push, bootstrap and delta pull with a TidesyncServer over PostgreSQL storage (in this JVM), each as a ratio
          to a raw batched INSERT of the same rows into PostgreSQL in one transaction, measured in the same run. A
          database of its own is created on the PostgreSQL server and dropped at the end.
            --pg-url URL       an existing database to connect to as a user that may CREATE DATABASE (default: env
                               TIDESYNC_BENCH_PG_URL, else jdbc:postgresql://127.0.0.1:5432/test?user=postgres)
            --rows N           readings rows for push, bootstrap and the large delta dataset (default 100000)
            --warmup-rows N    rows of the unreported warm-up pass of every scenario; 0 skips it (default 10000)
            --reps N           measured repetitions of push and bootstrap, the median is reported (default 3)
            --delta-reps N     measured delta pulls per dataset size (default 20)
            --delta-changes N  rows changed on the other device before each delta pull (default 10)
            --small-rows N     readings rows of the small delta dataset (default 1000)
            --sessions N       parent rows (sessions) in every dataset (default 100)
            --batch-limit N    client batchLimit, changes per push request (default 1000)
            --pull-limit N     client pullLimit, changes per pull page (default 1000)
            --only LIST        comma-separated scenarios, in this order: push, bootstrap, delta (default: all)
            --no-per-row       skip the extra baseline of a row-by-row insert (one round trip per row) in push
            --seed N           data generator seed (default 42)
            --markdown FILE    also write the results as Markdown to FILE
            --jfr DIR          record each measured scenario with JFR into DIR/pg-<scenario>.jfr
            --dir DIR          work directory for the device files (default: a new temp directory, deleted at the end)
            --keep             keep the work directory (the database is dropped all the same)""");
    }
  }

  /** One line of the results table. */
  record Row(String scenario, long rows, double seconds, double raw, double ratio, String rawIs) {}

  /** A device file synced with a dataset. */
  record Synced(String dataset, Path file, String device) {}

  private final Options o;
  private final Path root;
  private final PgDb db;
  private final String url;
  private final Timers timers;
  private final List<Row> table = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();
  private boolean report;
  private int serial;
  private Synced lastPush;
  private Synced lastBoot;
  private Recording recording;

  private PgBench(Options o, Path root, PgDb db, String url, Timers timers) {
    this.o = o;
    this.root = root;
    this.db = db;
    this.url = url;
    this.timers = timers;
  }

  public static void main(String[] args) throws Exception {
    Options o;
    try {
      o = Options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("bench pg: " + e.getMessage());
      System.exit(2);
      return;
    }
    String admin = PgDb.adminUrl(o.pgUrl);
    Path root = o.dir != null ? Files.createDirectories(o.dir) : Files.createTempDirectory("tidesync-pgbench");
    long start = System.nanoTime();
    Timers timers = new Timers();
    try (PgDb db = PgDb.create(admin, "pg");
        PgStorage storage = PgStorage.open(db.url);
        Timers.TimedStorage timed = new Timers.TimedStorage(storage, timers);
        TidesyncServer server = TidesyncServer.start(timed, ServerConfig.defaults().withHost("127.0.0.1").withPort(0)
            // As Bench: what is measured is sync, not auth or rate limits.
            .withInsecure(true).withDeviceLimit(RateLimit.OFF).withTenantLimit(RateLimit.OFF))) {
      PgBench b = new PgBench(o, root, db, server.url(), timers);
      log("server %s over PostgreSQL %s (database %s), work dir %s", server.url(), db.serverVersion(), db.name, root);
      if (o.warmupRows > 0) {
        long w0 = System.nanoTime();
        log("warm-up pass with %,d rows (not reported)", o.warmupRows);
        b.report = false;
        b.runAll(o.warmupRows, 1, Math.min(o.smallRows, o.warmupRows), Math.min(5, o.deltaReps));
        log("warm-up done in %.1f s", Bench.secs(System.nanoTime() - w0));
      }
      b.report = true;
      b.runAll(o.rows, o.reps, o.smallRows, o.deltaReps);
      double total = Bench.secs(System.nanoTime() - start);
      String env = b.environment(total);
      System.out.println();
      System.out.print(b.render(env, false));
      if (o.markdown != null) {
        Files.writeString(o.markdown, b.render(env, true), StandardCharsets.UTF_8);
        log("wrote %s", o.markdown);
      }
    } finally {
      if (!o.keep) {
        deleteTree(root);
      }
    }
  }

  private void runAll(int n, int reps, int small, int deltaReps) throws Exception {
    lastPush = null;
    lastBoot = null;
    for (String s : o.only) {
      switch (s) {
        case "push" -> push(n, reps);
        case "bootstrap" -> bootstrap(n, reps);
        case "delta" -> delta(small, n, deltaReps);
        default -> throw new IllegalStateException(s);
      }
    }
  }

  private long total(int n) {
    return n + (long) o.sessions;
  }

  private String name(String prefix) {
    return prefix + "-" + (++serial);
  }

  // ----------------------------------------------------------------------------- baselines

  /**
   * The raw baseline: readings {@code from..to} (and the sessions when {@code withSessions}) inserted
   * with JDBC batches of {@code batch} rows in one transaction into plain tables of the dataset's
   * shape (no triggers) in a fresh schema of the bench database. Seconds from the first statement
   * to the end of COMMIT. Without {@code withSessions} the sessions are inserted first, untimed
   * (the readings reference them).
   */
  private double raw(int from, int to, boolean withSessions, long seed, int batch) throws SQLException {
    String schema = "raw_" + (++serial);
    try (Connection c = db.connect(); Statement st = c.createStatement()) {
      st.execute("CREATE SCHEMA " + schema);
      st.execute("SET search_path TO " + schema);
      for (String ddl : PG_DDL) {
        st.execute(ddl);
      }
      if (!withSessions) {
        Data.insertRows(c, 0, 0, o.sessions, seed, true, batch);
      }
      c.setAutoCommit(false);
      long t0 = System.nanoTime();
      Data.insertRows(c, from, to, o.sessions, seed, withSessions, batch);
      c.commit();
      long nanos = System.nanoTime() - t0;
      c.setAutoCommit(true);
      st.execute("DROP SCHEMA " + schema + " CASCADE");
      return Bench.secs(nanos);
    }
  }

  /** Median seconds of one round trip ({@code SELECT 1}, prepared) to the PostgreSQL server. */
  private double roundTrip() throws SQLException {
    double[] t = new double[2000];
    try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement("SELECT 1")) {
      for (int i = -200; i < t.length; i++) {
        long t0 = System.nanoTime();
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
        }
        if (i >= 0) {
          t[i] = Bench.secs(System.nanoTime() - t0);
        }
      }
    }
    Arrays.sort(t);
    return t[t.length / 2];
  }

  // ----------------------------------------------------------------------------- scenarios

  /** Initial load: rows inserted before Tidesync opens the device file; open + flush into an empty dataset. */
  private void push(int n, int reps) throws Exception {
    List<Map<String, Double>> samples = new ArrayList<>();
    double rtt = report ? roundTrip() : Double.NaN;
    double perRow = Double.NaN;
    double perRowRaw = Double.NaN;
    if (report && o.perRow) {
      // One row per round trip, for the cost of the store's per-row statements (untimed by the table).
      perRow = raw(0, n, true, o.seed, 1);
      perRowRaw = raw(0, n, true, o.seed, 1000);
    }
    profile("push");
    for (int rep = 0; rep < reps; rep++) {
      String ds = name("push");
      Path dev = root.resolve(ds + ".db");
      long seed = o.seed + rep;
      Data.createSchema(dev);
      Data.insert(dev, n, o.sessions, seed);
      double raw = raw(0, n, true, seed, 1000);
      timers.reset();
      Cpu cpu = Cpu.start();
      long t0 = System.nanoTime();
      long t1;
      SyncReport r;
      try (Device d = new Device(dev, ds, "dev-" + ds)) {
        t1 = System.nanoTime();
        r = d.client.flush();
      }
      long t2 = System.nanoTime();
      cpu.stop();
      check(r.ok() && r.pushed() == total(n) && r.applied() == total(n), "push: " + r);
      Map<String, Double> s = new LinkedHashMap<>();
      s.put("seconds", Bench.secs(t2 - t0));
      s.put("raw", raw);
      s.put("ratio", Bench.secs(t2 - t0) / raw);
      s.put("open", Bench.secs(t1 - t0));
      s.put("httpPush", Bench.secs(timers.httpPush.get()));
      s.put("storePush", Bench.secs(timers.storePush.get()));
      s.put("pushes", (double) timers.pushes.get());
      s.put("httpPull", Bench.secs(timers.httpPull.get()));
      s.put("storePull", Bench.secs(timers.storePull.get()));
      s.put("cpu", cpu.processSeconds());
      s.put("deviceCpu", cpu.threadSeconds());
      samples.add(s);
      if (lastPush != null) {
        Data.deleteDb(lastPush.file());
      }
      lastPush = new Synced(ds, dev, "dev-" + ds);
      progress("push", rep, reps, s);
    }
    profileEnd();
    Map<String, Double> m = medians(samples);
    addRow("push, initial load (open + flush)", total(n), m.get("seconds"), m.get("raw"), m.get("ratio"), "batched insert");
    m = medianRun(samples);
    double perChange = m.get("storePush") / total(n);
    note(String.format(Locale.ROOT, "push (the median run): open %s s + flush; %.0f push requests; HTTP push calls %s s, of which "
            + "the PostgreSQL store %s s (%.0f µs per change); device-side work (flush − HTTP) %s s; pull after the push %s s. "
            + "CPU used meanwhile by this JVM (device and server): %s s, by the device's thread %s s.",
        Bench.f(m.get("open")), m.get("pushes"), Bench.f(m.get("httpPush")), Bench.f(m.get("storePush")), perChange * 1e6,
        Bench.f(m.get("seconds") - m.get("open") - m.get("httpPush") - m.get("httpPull")), Bench.f(m.get("httpPull")),
        Bench.f(m.get("cpu")), Bench.f(m.get("deviceCpu"))));
    if (report) {
      note(String.format(Locale.ROOT, "PostgreSQL round trips: a prepared SELECT 1 takes %.0f µs (median of 2,000). The same %,d rows "
              + "inserted row by row (one round trip per row, one transaction) took %s s (%.0f µs per row) vs %s s batched "
              + "(%.0f µs per row) in the same run: %.1f× for the round trips alone. The store spends %.0f µs per pushed change.",
          rtt * 1e6, total(n), Bench.f(perRow), perRow / total(n) * 1e6, Bench.f(perRowRaw), perRowRaw / total(n) * 1e6,
          perRow / perRowRaw, perChange * 1e6));
    }
  }

  /** A new, empty device file pulls the whole dataset of the last push. */
  private void bootstrap(int n, int reps) throws Exception {
    if (lastPush == null) {
      long t0 = System.nanoTime();
      String ds = name("boot");
      lastPush = pushInChunks(new Synced(ds, root.resolve(ds + "-src.db"), "src-" + ds), n, o.seed);
      log("  bootstrap setup: pushed %,d rows in %.1f s", total(n), Bench.secs(System.nanoTime() - t0));
    }
    String ds = lastPush.dataset();
    List<Map<String, Double>> samples = new ArrayList<>();
    profile("bootstrap");
    for (int rep = 0; rep < reps; rep++) {
      double raw = raw(0, n, true, o.seed + 200 + rep, 1000);
      String id = name("bootdev");
      Path dev = root.resolve(id + ".db");
      timers.reset();
      SyncReport r;
      long t0;
      long t1;
      HeapSampler h = new HeapSampler();
      try (h) {
        t0 = System.nanoTime();
        try (Device d = new Device(dev, ds, id)) {
          r = d.client.flush();
        }
        t1 = System.nanoTime();
      }
      check(r.ok() && r.bootstrap() && r.pulled() == total(n), "bootstrap: " + r);
      check(Data.number(dev, "SELECT count(*) FROM readings") == n, "bootstrap: row count differs");
      Map<String, Double> s = new LinkedHashMap<>();
      s.put("seconds", Bench.secs(t1 - t0));
      s.put("raw", raw);
      s.put("ratio", Bench.secs(t1 - t0) / raw);
      s.put("httpPull", Bench.secs(timers.httpPull.get()));
      s.put("storePull", Bench.secs(timers.storePull.get()));
      s.put("pages", (double) r.pages());
      s.put("heapMax", h.maxSampled() / 1048576.0);
      samples.add(s);
      if (lastBoot != null) {
        Data.deleteDb(lastBoot.file());
      }
      lastBoot = new Synced(ds, dev, id);
      progress("bootstrap", rep, reps, s);
    }
    profileEnd();
    Map<String, Double> m = medians(samples);
    addRow("bootstrap (new device, flush)", total(n), m.get("seconds"), m.get("raw"), m.get("ratio"), "batched insert");
    m = medianRun(samples);
    note(String.format(Locale.ROOT, "bootstrap (the median run): %.0f pages; HTTP pull calls %s s, of which the PostgreSQL store "
            + "%s s; the rest (%s s) is the device applying pages. Max sampled heap (device and server) %.0f MiB.",
        m.get("pages"), Bench.f(m.get("httpPull")), Bench.f(m.get("storePull")), Bench.f(m.get("seconds") - m.get("httpPull")),
        m.get("heapMax")));
  }

  /** Setup, untimed: a device inserts {@code n} rows in chunks of 10,000 and syncs after each. */
  private Synced pushInChunks(Synced d, int n, long seed) throws Exception {
    Data.createSchema(d.file());
    int chunk = 10_000;
    try (Device dev = new Device(d.file(), d.dataset(), d.device())) {
      for (int from = 0; from < n; from += chunk) {
        int to = Math.min(n, from + chunk);
        Data.insertRange(d.file(), from, to, o.sessions, seed, from == 0);
        SyncReport r = dev.client.flush();
        check(r.ok() && r.pushed() == to - from + (from == 0 ? o.sessions : 0), "setup push: " + r);
      }
    }
    return d;
  }

  /**
   * A synced device pulls a few changes another device made, on a small and a large dataset in
   * alternating order; each pull is compared with a raw batched insert of as many rows into
   * PostgreSQL, timed in the same repetition, and the large pull with the small one.
   */
  private void delta(int small, int large, int reps) throws Exception {
    DeltaSide s = deltaSetup(small, null, null);
    DeltaSide l = deltaSetup(large, lastPush, lastBoot);
    lastPush = null;
    lastBoot = null;
    List<Map<String, Double>> ss = new ArrayList<>();
    List<Map<String, Double>> ls = new ArrayList<>();
    profile("delta");
    try {
      for (int i = -3; i < reps; i++) {
        Map<String, Double> a;
        Map<String, Double> b;
        if ((i & 1) == 0) {
          a = s.pullOnce();
          b = l.pullOnce();
        } else {
          b = l.pullOnce();
          a = s.pullOnce();
        }
        double raw = raw(0, o.deltaChanges, false, o.seed + 700 + i, 1000);
        a.put("raw", raw);
        a.put("ratio", a.get("seconds") / raw);
        b.put("raw", raw);
        b.put("ratio", b.get("seconds") / raw);
        b.put("vsSmall", b.get("seconds") / a.get("seconds"));
        if (i >= 0) {
          ss.add(a);
          ls.add(b);
        }
      }
    } finally {
      profileEnd();
      s.close();
      l.close();
    }
    Map<String, Double> sm = medians(ss);
    Map<String, Double> lm = medians(ls);
    String label = "delta pull of " + o.deltaChanges + " changes";
    addRow(label + ", " + human(total(small)) + "-row dataset", o.deltaChanges, sm.get("seconds"), sm.get("raw"), sm.get("ratio"),
        "batched insert of " + o.deltaChanges + " rows");
    addRow(label + ", " + human(total(large)) + "-row dataset", o.deltaChanges, lm.get("seconds"), lm.get("raw"), lm.get("ratio"),
        "batched insert of " + o.deltaChanges + " rows");
    note(String.format(Locale.ROOT, "delta pull (%d pulls per size, paired in time): %,d-row dataset median %s s (p90 %s s), "
            + "%,d-row dataset median %s s (p90 %s s); large ÷ small, median of the pairs: %.2f×. HTTP pull calls %s / %s s, of "
            + "which the PostgreSQL store %s / %s s (small / large, medians).",
        reps, total(small), Bench.f(sm.get("seconds")), Bench.f(pct(ss, x -> x.get("seconds"), 0.9)), total(large),
        Bench.f(lm.get("seconds")), Bench.f(pct(ls, x -> x.get("seconds"), 0.9)), lm.get("vsSmall"), Bench.f(sm.get("httpPull")),
        Bench.f(lm.get("httpPull")), Bench.f(sm.get("storePull")), Bench.f(lm.get("storePull"))));
  }

  /** Two devices synced with one dataset: {@code b} changes rows and pushes, {@code a}'s pull is timed. */
  private final class DeltaSide implements AutoCloseable {
    final Synced sa;
    final Synced sb;
    final Device a;
    final Device b;
    final Random rnd = new Random(o.seed + 500);

    DeltaSide(Synced sa, Synced sb) {
      this.sa = sa;
      this.sb = sb;
      this.a = new Device(sa.file(), sa.dataset(), sa.device());
      this.b = new Device(sb.file(), sb.dataset(), sb.device());
    }

    Map<String, Double> pullOnce() throws Exception {
      int k = Data.updateRandom(sb.file(), o.deltaChanges, rnd);
      check(k == o.deltaChanges, "delta: updated " + k + " rows");
      SyncReport pushB = b.client.flush();
      check(pushB.ok() && pushB.pushed() == o.deltaChanges, "delta: push from the other device: " + pushB);
      timers.reset();
      long t0 = System.nanoTime();
      SyncReport r = a.client.flush();
      long t1 = System.nanoTime();
      check(r.ok() && r.pulled() == o.deltaChanges && r.pushed() == 0, "delta pull: " + r);
      Map<String, Double> s = new LinkedHashMap<>();
      s.put("seconds", Bench.secs(t1 - t0));
      s.put("httpPull", Bench.secs(timers.httpPull.get()));
      s.put("storePull", Bench.secs(timers.storePull.get()));
      return s;
    }

    @Override
    public void close() {
      try {
        a.close();
      } finally {
        b.close();
        Data.deleteDb(sa.file());
        Data.deleteDb(sb.file());
      }
    }
  }

  /** The pushed and bootstrapped devices of the earlier scenarios when they have {@code n} rows, else two new ones. */
  private DeltaSide deltaSetup(int n, Synced pushedDev, Synced bootDev) throws Exception {
    if (pushedDev == null || bootDev == null || !pushedDev.dataset().equals(bootDev.dataset())
        || Data.number(pushedDev.file(), "SELECT count(*) FROM readings") != n) {
      long t0 = System.nanoTime();
      String ds = name("delta");
      pushedDev = pushInChunks(new Synced(ds, root.resolve(ds + "-a.db"), "a-" + ds), n, o.seed + 400);
      bootDev = new Synced(ds, root.resolve(ds + "-b.db"), "b-" + ds);
      try (Device d = new Device(bootDev.file(), ds, bootDev.device())) {
        SyncReport r = d.client.flush();
        check(r.ok() && r.pulled() == total(n), "delta setup bootstrap: " + r);
      }
      log("  delta setup for %,d rows (push + bootstrap of a second device) took %.1f s", total(n), Bench.secs(System.nanoTime() - t0));
    }
    return new DeltaSide(pushedDev, bootDev);
  }

  // ----------------------------------------------------------------------------- plumbing

  /** A device: a client over a SQLite file whose HTTP transport is timed. */
  private final class Device implements AutoCloseable {
    final TidesyncClient client;
    final Transport transport;

    Device(Path file, String dataset, String deviceId) {
      this.transport = new Timers.TimedTransport(new HttpTransport(url), timers);
      this.client = TidesyncClient.create(c -> c.database(file).transport(transport).dataset(dataset).deviceId(deviceId)
          .batchLimit(o.batchLimit).pullLimit(o.pullLimit));
    }

    @Override
    public void close() {
      try {
        client.close();
      } finally {
        transport.close();
      }
    }
  }

  private void profile(String scenario) throws Exception {
    if (o.jfr == null || !report) {
      return;
    }
    recording = startJfr(o.jfr.resolve("pg-" + scenario + ".jfr"));
  }

  private void profileEnd() {
    if (recording != null) {
      recording.stop();
      log("  JFR recording written to %s", recording.getDestination());
      recording.close();
      recording = null;
    }
  }

  /** A JFR recording (profile settings; Java and native frames sampled every 10 ms) into {@code file}. */
  static Recording startJfr(Path file) throws Exception {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Recording r = new Recording(Configuration.getConfiguration("profile"));
    r.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(10));
    r.enable("jdk.NativeMethodSample").withPeriod(Duration.ofMillis(10));
    r.setDestination(file);
    r.start();
    return r;
  }

  private void addRow(String scenario, long rows, double seconds, double raw, double ratio, String rawIs) {
    if (report) {
      table.add(new Row(scenario, rows, seconds, raw, ratio, rawIs));
    }
  }

  private void note(String s) {
    if (report) {
      notes.add(s);
    }
  }

  private void progress(String what, int rep, int reps, Map<String, Double> s) {
    log("%s%s %d/%d: %s s (raw %s s)", report ? "" : "[warm-up] ", what, rep + 1, reps, Bench.f(s.get("seconds")),
        Bench.f(s.get("raw")));
  }

  static void check(boolean ok, String what) {
    if (!ok) {
      throw new IllegalStateException("benchmark check failed: " + what);
    }
  }

  static void log(String fmt, Object... args) {
    System.err.println(String.format(Locale.ROOT, fmt, args));
  }

  /** The {@code q} quantile (nearest rank) of one figure over samples. */
  static <T> double pct(List<T> samples, ToDoubleFunction<T> figure, double q) {
    double[] v = samples.stream().mapToDouble(figure).sorted().toArray();
    return v.length == 0 ? Double.NaN : v[(int) Math.max(0, Math.min(v.length - 1, Math.ceil(v.length * q) - 1))];
  }

  /** Per key, the median over samples (the mean of the middle two for an even count). */
  static Map<String, Double> medians(List<Map<String, Double>> samples) {
    Map<String, Double> out = new LinkedHashMap<>();
    for (String k : samples.get(0).keySet()) {
      double[] v = samples.stream().mapToDouble(x -> x.get(k)).sorted().toArray();
      out.put(k, (v[(v.length - 1) / 2] + v[v.length / 2]) / 2);
    }
    return out;
  }

  /** The sample whose seconds are the median (the lower middle one for an even count), for coherent breakdowns. */
  private static Map<String, Double> medianRun(List<Map<String, Double>> samples) {
    List<Map<String, Double>> sorted = new ArrayList<>(samples);
    sorted.sort(Comparator.comparingDouble(s -> s.get("seconds")));
    return sorted.get((sorted.size() - 1) / 2);
  }

  static String human(long n) {
    return n >= 1_000_000 ? (n / 1_000_000) + "M" : n >= 1000 ? (n / 1000) + "k" : Long.toString(n);
  }

  static void deleteTree(Path root) {
    try (Stream<Path> s = Files.walk(root)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      System.err.println("bench: could not delete " + root + ": " + e.getMessage());
    }
  }

  private String environment(double totalSeconds) {
    Runtime rt = Runtime.getRuntime();
    return String.format(Locale.ROOT, "%s; revision %s; %d CPUs; Java %s; -Xmx %d MiB; PostgreSQL %s; args: %s; median of %d runs "
            + "(delta: %d pulls) after a %s-row warm-up; total %.0f s",
        ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME), System.getProperty("tidesync.bench.revision", "unknown"),
        rt.availableProcessors(), System.getProperty("java.runtime.version"), rt.maxMemory() >> 20, db.serverVersion(),
        o.commandLine.isEmpty() ? "(defaults)" : o.commandLine, o.reps, o.deltaReps,
        o.warmupRows > 0 ? String.format(Locale.ROOT, "%,d", o.warmupRows) : "no", totalSeconds);
  }

  private String render(String env, boolean markdown) {
    String[] header = {"scenario", "rows", "seconds", "rows/s", "raw s", "ratio", "raw is"};
    List<String[]> rows = new ArrayList<>();
    for (Row r : table) {
      rows.add(new String[] {r.scenario(), String.format(Locale.ROOT, "%,d", r.rows()), Bench.f(r.seconds()),
          String.format(Locale.ROOT, "%,.0f", r.rows() / r.seconds()), Bench.f(r.raw()),
          String.format(Locale.ROOT, "%.2f×", r.ratio()), r.rawIs()});
    }
    StringBuilder sb = new StringBuilder("Tidesync PostgreSQL bench — ").append(env).append("\n\n");
    sb.append(Table.render(header, rows, markdown, 0, 6));
    sb.append("\nraw s: a batched INSERT (JDBC batches of 1,000) of the same rows in one transaction into plain PostgreSQL tables "
        + "of the dataset's shape, in the same run (delta: of as many rows as were pulled, in the same repetition). ratio: the "
        + "median over runs of each run's seconds ÷ its own raw s. rows counts readings plus sessions.\n\n");
    for (String n : notes) {
      sb.append("- ").append(n).append('\n');
    }
    return sb.toString();
  }
}
