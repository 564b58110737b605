package dev.tidesync.bench;

import static dev.tidesync.bench.BenchSupport.check;
import static dev.tidesync.bench.BenchSupport.deleteTree;
import static dev.tidesync.bench.BenchSupport.f;
import static dev.tidesync.bench.BenchSupport.human;
import static dev.tidesync.bench.BenchSupport.log;
import static dev.tidesync.bench.BenchSupport.publish;
import static dev.tidesync.bench.BenchSupport.warmUpThenRun;
import static dev.tidesync.bench.BenchSupport.medianRun;
import static dev.tidesync.bench.BenchSupport.medians;
import static dev.tidesync.bench.BenchSupport.pct;
import static dev.tidesync.bench.BenchSupport.secs;
import static dev.tidesync.bench.BenchSupport.startJfr;
import static dev.tidesync.bench.BenchSupport.stopJfr;

import dev.tidesync.client.HttpTransport;
import dev.tidesync.client.SyncListener;
import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.pg.PgStorage;
import dev.tidesync.server.RateLimit;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import java.io.PrintStream;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
public final class PgBench implements BenchSupport.Scenarios {
  static final List<String> SCENARIOS = List.of("push", "bootstrap", "delta");

  /** The dataset tables' shape in PostgreSQL (Data's DDL under the PostgreSQL store's type mapping). */
  static final String[] PG_DDL = {
      "CREATE TABLE sessions (id text PRIMARY KEY, name text, started_at bigint)",
      "CREATE TABLE readings (id text PRIMARY KEY, session_id text REFERENCES sessions (id), at bigint, "
          + "a double precision, b double precision, c bigint, note text)"};

  static final class Options extends BenchOptions.Sync {
    String pgUrl;
    boolean perRow = true;

    Options() {
      super(SCENARIOS, SCENARIOS);
    }

    @Override
    boolean flag(String name) {
      if (name.equals("--no-per-row")) {
        perRow = false;
        return true;
      }
      return super.flag(name);
    }

    @Override
    boolean option(String name, String v) {
      if (name.equals("--pg-url")) {
        pgUrl = v;
        return true;
      }
      return super.option(name, v);
    }

    @Override
    void usage(PrintStream out) {
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
    Options o = BenchOptions.parseOrExit("bench pg", new Options(), args);
    String admin = PgDb.adminUrl(o.pgUrl);
    Path root = o.workDir("tidesync-pgbench");
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
      warmUpThenRun(b, o);
      double total = secs(System.nanoTime() - start);
      String env = b.environment(total);
      publish(md -> b.render(env, md), o.markdown);
    } finally {
      if (!o.keep) {
        deleteTree(root);
      }
    }
  }

  @Override
  public void runAll(int n, int reps, int small, int deltaReps, boolean report) throws Exception {
    this.report = report;
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
      return secs(nanos);
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
          t[i] = secs(System.nanoTime() - t0);
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
      try (BenchDevice d = device(dev, ds, "dev-" + ds)) {
        t1 = System.nanoTime();
        r = d.client.flush();
      }
      long t2 = System.nanoTime();
      cpu.stop();
      check(r.ok() && r.pushed() == total(n) && r.applied() == total(n), "push: " + r);
      Map<String, Double> s = new LinkedHashMap<>();
      s.put("seconds", secs(t2 - t0));
      s.put("raw", raw);
      s.put("ratio", secs(t2 - t0) / raw);
      s.put("open", secs(t1 - t0));
      s.put("httpPush", secs(timers.httpPush.get()));
      s.put("storePush", secs(timers.storePush.get()));
      s.put("pushes", (double) timers.pushes.get());
      s.put("httpPull", secs(timers.httpPull.get()));
      s.put("storePull", secs(timers.storePull.get()));
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
    note(String.format(Locale.ROOT, "push (the median run): open %s s + flush %s s; %.0f push requests; HTTP push calls %s s, of which "
            + "the PostgreSQL store %s s (%.0f µs per change), both summed over requests that are two at a time on the wire (so "
            + "each sum includes the time one waited for the other) and overlapping the device's own work; pull after the push %s s. "
            + "CPU used meanwhile by this JVM (device and server): %s s, by the device's thread %s s.",
        f(m.get("open")), f(m.get("seconds") - m.get("open")), m.get("pushes"), f(m.get("httpPush")), f(m.get("storePush")),
        perChange * 1e6, f(m.get("httpPull")), f(m.get("cpu")), f(m.get("deviceCpu"))));
    if (report) {
      note(String.format(Locale.ROOT, "PostgreSQL round trips: a prepared SELECT 1 takes %.0f µs (median of 2,000). The same %,d rows "
              + "inserted row by row (one round trip per row, one transaction) took %s s (%.0f µs per row) vs %s s batched "
              + "(%.0f µs per row) in the same run: %.1f× for the round trips alone. The store spends %.0f µs per pushed change.",
          rtt * 1e6, total(n), f(perRow), perRow / total(n) * 1e6, f(perRowRaw), perRowRaw / total(n) * 1e6,
          perRow / perRowRaw, perChange * 1e6));
    }
  }

  /** A new, empty device file pulls the whole dataset of the last push. */
  private void bootstrap(int n, int reps) throws Exception {
    if (lastPush == null) {
      long t0 = System.nanoTime();
      String ds = name("boot");
      lastPush = pushInChunks(new Synced(ds, root.resolve(ds + "-src.db"), "src-" + ds), n, o.seed);
      log("  bootstrap setup: pushed %,d rows in %.1f s", total(n), secs(System.nanoTime() - t0));
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
        try (BenchDevice d = device(dev, ds, id)) {
          r = d.client.flush();
        }
        t1 = System.nanoTime();
      }
      check(r.ok() && r.bootstrap() && r.pulled() == total(n), "bootstrap: " + r);
      check(Data.number(dev, "SELECT count(*) FROM readings") == n, "bootstrap: row count differs");
      Map<String, Double> s = new LinkedHashMap<>();
      s.put("seconds", secs(t1 - t0));
      s.put("raw", raw);
      s.put("ratio", secs(t1 - t0) / raw);
      s.put("httpPull", secs(timers.httpPull.get()));
      s.put("storePull", secs(timers.storePull.get()));
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
        m.get("pages"), f(m.get("httpPull")), f(m.get("storePull")), f(m.get("seconds") - m.get("httpPull")),
        m.get("heapMax")));
  }

  /** Setup, untimed: a device inserts {@code n} rows in chunks of 10,000 and syncs after each. */
  private Synced pushInChunks(Synced d, int n, long seed) throws Exception {
    Data.createSchema(d.file());
    int chunk = 10_000;
    try (BenchDevice dev = device(d.file(), d.dataset(), d.device())) {
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
    DeltaPair s = deltaSetup(small, null, null);
    DeltaPair l = deltaSetup(large, lastPush, lastBoot);
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
        reps, total(small), f(sm.get("seconds")), f(pct(ss, x -> x.get("seconds"), 0.9)), total(large),
        f(lm.get("seconds")), f(pct(ls, x -> x.get("seconds"), 0.9)), lm.get("vsSmall"), f(sm.get("httpPull")),
        f(lm.get("httpPull")), f(sm.get("storePull")), f(lm.get("storePull"))));
  }

  /** The pushed and bootstrapped devices of the earlier scenarios when they have {@code n} rows, else two new ones. */
  private DeltaPair deltaSetup(int n, Synced pushedDev, Synced bootDev) throws Exception {
    if (pushedDev == null || bootDev == null || !pushedDev.dataset().equals(bootDev.dataset())
        || Data.number(pushedDev.file(), "SELECT count(*) FROM readings") != n) {
      long t0 = System.nanoTime();
      String ds = name("delta");
      pushedDev = pushInChunks(new Synced(ds, root.resolve(ds + "-a.db"), "a-" + ds), n, o.seed + 400);
      bootDev = new Synced(ds, root.resolve(ds + "-b.db"), "b-" + ds);
      try (BenchDevice d = device(bootDev.file(), ds, bootDev.device())) {
        SyncReport r = d.client.flush();
        check(r.ok() && r.pulled() == total(n), "delta setup bootstrap: " + r);
      }
      log("  delta setup for %,d rows (push + bootstrap of a second device) took %.1f s", total(n), secs(System.nanoTime() - t0));
    }
    return new DeltaPair(pushedDev, bootDev, d -> device(d.file(), d.dataset(), d.device()), timers, o.deltaChanges, o.seed + 500);
  }

  // ----------------------------------------------------------------------------- plumbing

  /** A device whose HTTP calls are timed. */
  private BenchDevice device(Path file, String dataset, String deviceId) {
    return BenchDevice.timed(url, timers, o, file, dataset, deviceId, SyncListener.NONE);
  }

  private void profile(String scenario) throws Exception {
    if (o.jfr != null && report) {
      recording = startJfr(o.jfr.resolve("pg-" + scenario + ".jfr"));
    }
  }

  private void profileEnd() {
    recording = stopJfr(recording);
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
    log("%s%s %d/%d: %s s (raw %s s)", report ? "" : "[warm-up] ", what, rep + 1, reps, f(s.get("seconds")),
        f(s.get("raw")));
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
      rows.add(new String[] {r.scenario(), String.format(Locale.ROOT, "%,d", r.rows()), f(r.seconds()),
          String.format(Locale.ROOT, "%,.0f", r.rows() / r.seconds()), f(r.raw()),
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
