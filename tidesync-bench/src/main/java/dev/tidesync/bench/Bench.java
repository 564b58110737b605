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
import static dev.tidesync.bench.BenchSupport.secs;
import static dev.tidesync.bench.BenchSupport.startJfr;
import static dev.tidesync.bench.BenchSupport.stopJfr;

import dev.tidesync.client.SyncListener;
import dev.tidesync.client.SyncReport;
import dev.tidesync.server.RateLimit;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.sqlite.DeviceReplica;
import dev.tidesync.sqlite.SqliteStorage;
import java.io.PrintStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import jdk.jfr.Recording;

/**
 * Tidesync throughput benchmark: push, bootstrap, capture overhead and delta pull, each against a
 * raw SQLite baseline measured in the same process run. A real {@link TidesyncServer} over a
 * {@link SqliteStorage} in a temporary directory serves the devices on 127.0.0.1.
 *
 * <p>Run through {@code ./bench} (see {@code --help}); results go to stdout and, with
 * {@code --markdown FILE}, to a Markdown file.
 */
public final class Bench implements BenchSupport.Scenarios {
  /** Scenario names for --only; "push" is push-initial then push-captured. */
  static final List<String> SCENARIOS = List.of("push", "push-initial", "push-captured", "bootstrap", "capture", "delta");
  static final List<String> DEFAULT_ORDER = List.of("push-initial", "push-captured", "bootstrap", "capture", "delta");

  /** Command-line options. */
  static final class Options extends BenchOptions.Sync {
    int captureReps = 7;

    Options() {
      super(SCENARIOS, DEFAULT_ORDER);
    }

    @Override
    List<String> expand(String name) {
      return name.equals("push") ? List.of("push-initial", "push-captured") : List.of(name);
    }

    @Override
    boolean option(String name, String v) {
      if (name.equals("--capture-reps")) {
        captureReps = positive(name, v);
        return true;
      }
      return super.option(name, v);
    }

    @Override
    void usage(PrintStream out) {
      out.println("""
          usage: bench [options]
            --rows N           readings rows for push, bootstrap, capture and the large delta dataset (default 100000)
            --warmup-rows N    rows of the unreported warm-up pass of every scenario; 0 skips it (default 10000)
            --reps N           measured repetitions per scenario, the median is reported (default 3)
            --capture-reps N   measured repetitions of the capture scenario, at least --reps (default 7: it is cheap, and noisy)
            --delta-reps N     measured delta pulls per dataset size (default 20)
            --delta-changes N  rows changed on the other device before each delta pull (default 10)
            --small-rows N     readings rows of the small delta dataset (default 1000)
            --sessions N       parent rows (sessions) in every dataset (default 100)
            --batch-limit N    client batchLimit, changes per push request (default 1000, the client default)
            --pull-limit N     client pullLimit, changes per pull page (default 1000, the client default)
            --only LIST        comma-separated scenarios, run in the order given: push (= push-initial,push-captured),
                               push-initial, push-captured, bootstrap, capture, delta (default: all, in that order)
            --seed N           data generator seed (default 42)
            --markdown FILE    also write the results as Markdown to FILE
            --jfr DIR          record each measured scenario with JFR (profile settings) into DIR/<scenario>.jfr
            --dir DIR          work directory (default: a new temp directory, deleted at the end)
            --keep             keep the work directory""");
    }
  }

  /** One line of the results table. NaN means "not applicable". */
  record Row(String scenario, String rows, double seconds, double rowsPerSec, double rawSeconds, double ratio, String target,
      String met) {}

  private final Options o;
  private final Path root;
  private final String url;
  private final Timers timers;
  private final List<Row> table = new ArrayList<>();
  private final List<String> notes = new ArrayList<>();
  /** Per row count: the dataset of the last initial-load push and its (synced) device, kept for the later scenarios. */
  private final Map<Integer, Synced> pushed = new LinkedHashMap<>();
  /** Per row count: the last bootstrapped device of that dataset (the second synced device for delta). */
  private final Map<Integer, Synced> bootstrapped = new LinkedHashMap<>();
  private Recording recording;

  /** A device file synced with a dataset. */
  private boolean report;
  private int serial;

  private Bench(Options o, Path root, String url, Timers timers) {
    this.o = o;
    this.root = root;
    this.url = url;
    this.timers = timers;
  }

  public static void main(String[] args) throws Exception {
    Options o = BenchOptions.parseOrExit("bench", new Options(), args);
    Path root = o.workDir("tidesync-bench");
    long start = System.nanoTime();
    Timers timers = new Timers();
    try (SqliteStorage storage = SqliteStorage.open(root.resolve("server"));
        Timers.TimedStorage timed = new Timers.TimedStorage(storage, timers);
        TidesyncServer server = TidesyncServer.start(timed, ServerConfig.defaults().withHost("127.0.0.1").withPort(0)
            // Measures sync itself: no token checks, no limits on the benchmark's own request rate.
            .withInsecure(true).withDeviceLimit(RateLimit.OFF).withTenantLimit(RateLimit.OFF))) {
      Bench b = new Bench(o, root, server.url(), timers);
      log("server %s, work dir %s, -Xmx %d MiB", server.url(), root, Runtime.getRuntime().maxMemory() >> 20);
      warmUpThenRun(b, o);
      double total = secs(System.nanoTime() - start);
      publish(md -> b.render(total, md), o.markdown);
    } finally {
      if (!o.keep) {
        deleteTree(root);
      }
    }
  }

  @Override
  public void runAll(int n, int reps, int small, int deltaReps, boolean report) throws Exception {
    this.report = report;
    pushed.clear();
    bootstrapped.clear();
    for (String scenario : o.only) {
      switch (scenario) {
        case "push-initial" -> pushInitial(n, reps);
        case "push-captured" -> pushTriggered(n, reps);
        case "bootstrap" -> bootstrap(n, reps);
        case "capture" -> capture(n, report ? Math.max(reps, o.captureReps) : reps);
        case "delta" -> delta(small, n, deltaReps);
        default -> throw new IllegalStateException(scenario);
      }
    }
  }

  // ------------------------------------------------------------------------------- scenarios

  private int total(int n) {
    return n + o.sessions;
  }

  private String name(String prefix) {
    return prefix + "-" + (++serial);
  }

  /** A raw batched insert of the same rows into a plain file: the baseline. Seconds. */
  private Timed raw(int n, long seed) throws Exception {
    Path f = root.resolve(name("raw") + ".db");
    Data.createSchema(f);
    Timed t = insert(f, n, seed);
    Data.deleteDb(f);
    return t;
  }

  /** Wall seconds of a batched insert transaction, and the CPU seconds of this thread meanwhile. */
  private record Timed(double seconds, double cpu) {}

  private Timed insert(Path f, int n, long seed) throws Exception {
    Cpu cpu = Cpu.start();
    long nanos = Data.insert(f, n, o.sessions, seed);
    return new Timed(secs(nanos), cpu.stop().threadSeconds());
  }

  /** Scenario 1a: rows inserted before Tidesync opens the file (initial load); open + flush. */
  private void pushInitial(int n, int reps) throws Exception {
    List<Map<String, Double>> samples = new ArrayList<>();
    profile("push-initial");
    for (int rep = 0; rep < reps; rep++) {
      String ds = name("pinit");
      Path dev = root.resolve(ds + ".db");
      long seed = o.seed + rep;
      Data.createSchema(dev);
      double setup = secs(Data.insert(dev, n, o.sessions, seed));
      Timed raw = raw(n, seed);
      Probe p = new Probe();
      timers.reset();
      HeapSampler h = new HeapSampler();
      Cpu cpu = Cpu.start();
      long t0 = System.nanoTime();
      SyncReport r;
      long t1;
      try (h; BenchDevice d = device(dev, ds, "dev-" + ds, p)) {
        t1 = System.nanoTime();
        r = d.client.flush();
      }
      long t2 = System.nanoTime();
      cpu.stop();
      System.out.println("    CPU of other threads: " + cpu.byPool(5));
      check(r.ok() && r.pushed() == total(n) && r.applied() == total(n), "initial-load push: " + r);
      Map<String, Double> s = flushSample(t0, t1, t2, p, r, cpu);
      s.put("heapMax", mib(h.maxSampled()));
      s.put("raw", raw.seconds());
      s.put("ratio", s.get("seconds") / raw.seconds());
      s.put("rawCpu", raw.cpu());
      s.put("setupInsert", setup);
      samples.add(s);
      Synced old = pushed.put(n, new Synced(ds, dev, "dev-" + ds));
      if (old != null) {
        Data.deleteDb(old.file());
      }
      progress("push/initial", rep, reps, s);
    }
    profileEnd();
    Map<String, Double> m = medians(samples);
    addRow("push, initial load (open + flush)", total(n), m.get("seconds"), m.get("raw"), m.get("ratio"), 3.0, "≤ 3×");
    m = medianRun(samples);
    note(String.format(Locale.ROOT, "push, initial load (the median run): open (finds the %,d existing rows: they wait in their tables, keyed by one column, until pushed) %s s + flush %s s. "
            + "Flush = push phase %s s (%.0f push requests; HTTP push calls %s s, of which server store %s s, summed over requests that "
            + "are two at a time on the wire, so both sums include the time one waited for the other's store, all overlapping the device's "
            + "own work on the next batch) + pull phase %s s "
            + "(pulled %,.0f rows back in %.0f pages; HTTP pull calls %s s, of which server store %s s). "
            + "CPU used meanwhile: %s s by the process, %s s by the device's thread; CPU ratio (process CPU ÷ raw insert CPU %s s) "
            + "%.1f×. Max sampled heap used %.0f MiB (worst run %.0f MiB). "
            + "Baseline insert of the same rows into the device file before opening: %s s.",
        total(n), f(m.get("open")), f(m.get("flush")), f(m.get("pushPhase")), m.get("pushes"), f(m.get("httpPush")),
        f(m.get("storePush")), f(m.get("pullPhase")), m.get("pulled"), m.get("pages"), f(m.get("httpPull")),
        f(m.get("storePull")), f(m.get("cpu")), f(m.get("deviceCpu")), f(m.get("rawCpu")), m.get("cpu") / m.get("rawCpu"),
        m.get("heapMax"), worst(samples, "heapMax"), f(m.get("setupInsert"))));
  }

  /** Scenario 1b: rows inserted after Tidesync opened (captured by triggers); flush only. */
  private void pushTriggered(int n, int reps) throws Exception {
    List<Map<String, Double>> samples = new ArrayList<>();
    profile("push-captured");
    for (int rep = 0; rep < reps; rep++) {
      String ds = name("ptrig");
      Path dev = root.resolve(ds + ".db");
      long seed = o.seed + 100 + rep;
      Data.createSchema(dev);
      Probe p = new Probe();
      Map<String, Double> s;
      try (BenchDevice d = device(dev, ds, "dev-" + ds, p)) {
        double captured = secs(Data.insert(dev, n, o.sessions, seed));
        Timed raw = raw(n, seed);
        timers.reset();
        HeapSampler h = new HeapSampler();
        Cpu cpu = Cpu.start();
        long t0 = System.nanoTime();
        SyncReport r;
        try (h) {
          r = d.client.flush();
        }
        long t2 = System.nanoTime();
        cpu.stop();
        System.out.println("    CPU of other threads: " + cpu.byPool(5));
        check(r.ok() && r.pushed() == total(n) && r.applied() == total(n), "trigger-captured push: " + r);
        s = flushSample(t0, t0, t2, p, r, cpu);
        s.put("heapMax", mib(h.maxSampled()));
        s.put("raw", raw.seconds());
        s.put("ratio", s.get("seconds") / raw.seconds());
        s.put("rawCpu", raw.cpu());
        s.put("capturedInsert", captured);
      }
      samples.add(s);
      Data.deleteDb(dev);
      progress("push/captured", rep, reps, s);
    }
    profileEnd();
    Map<String, Double> m = medians(samples);
    addRow("push, captured by triggers (flush)", total(n), m.get("seconds"), m.get("raw"), m.get("ratio"), 3.0, "≤ 3×");
    m = medianRun(samples);
    note(String.format(Locale.ROOT, "push, captured by triggers (the median run): flush %s s = push phase %s s (HTTP push calls %s s, "
            + "of which server store %s s, both summed over requests two at a time on the wire, overlapping the device's own work) + pull phase %s s (pulled %,.0f rows back; HTTP pull %s s, server store %s s). "
            + "CPU used meanwhile: %s s by the process, %s s by the device's thread; CPU ratio (process CPU ÷ raw insert CPU %s s) "
            + "%.1f×. Max sampled heap used %.0f MiB (worst run %.0f MiB). The app's insert of the rows with triggers installed took %s s before the flush (not in the figure; see capture).",
        f(m.get("flush")), f(m.get("pushPhase")), f(m.get("httpPush")), f(m.get("storePush")), f(m.get("pullPhase")),
        m.get("pulled"), f(m.get("httpPull")), f(m.get("storePull")), f(m.get("cpu")), f(m.get("deviceCpu")), f(m.get("rawCpu")),
        m.get("cpu") / m.get("rawCpu"), m.get("heapMax"), worst(samples, "heapMax"), f(m.get("capturedInsert"))));
  }

  /**
   * Setup, not measured: a device whose app inserts {@code n} rows in chunks, syncing after each,
   * so that building a large dataset needs little memory (a single push of an initial load holds
   * its whole change log in memory; see BENCHMARKS.md).
   */
  private Synced pushInChunks(Synced d, int n, long seed) throws Exception {
    Data.createSchema(d.file());
    int chunk = 10_000;
    try (BenchDevice dev = device(d.file(), d.dataset(), d.device(), SyncListener.NONE)) {
      for (int from = 0; from < n; from += chunk) {
        int to = Math.min(n, from + chunk);
        Data.insertRange(d.file(), from, to, o.sessions, seed, from == 0);
        SyncReport r = dev.client.flush();
        check(r.ok() && r.pushed() == to - from + (from == 0 ? o.sessions : 0), "setup push: " + r);
      }
    }
    return d;
  }

  /** The parts of one flush, from the timers and the listener. */
  private Map<String, Double> flushSample(long t0, long t1, long t2, Probe p, SyncReport r, Cpu cpu) {
    Map<String, Double> s = new LinkedHashMap<>();
    s.put("seconds", secs(t2 - t0));
    s.put("open", secs(t1 - t0));
    s.put("flush", secs(t2 - t1));
    long lastPush = p.lastPush == 0 ? t1 : p.lastPush;
    s.put("pushPhase", secs(lastPush - t1));
    s.put("pullPhase", secs(t2 - lastPush));
    s.put("httpPush", secs(timers.httpPush.get()));
    s.put("storePush", secs(timers.storePush.get()));
    s.put("httpPull", secs(timers.httpPull.get()));
    s.put("storePull", secs(timers.storePull.get()));
    s.put("pushes", (double) timers.pushes.get());
    s.put("pages", (double) r.pages());
    s.put("pulled", (double) r.pulled());
    s.put("cpu", cpu.processSeconds());
    s.put("deviceCpu", cpu.threadSeconds());
    return s;
  }

  /** Scenario 2: a new, empty device file pulls the whole dataset. */
  private void bootstrap(int n, int reps) throws Exception {
    Synced source = pushed.get(n);
    if (source == null) {
      long t0 = System.nanoTime();
      String ds = name("boot");
      source = pushInChunks(new Synced(ds, root.resolve(ds + "-src.db"), "src-" + ds), n, o.seed);
      pushed.put(n, source);
      log("  bootstrap setup: pushed %,d rows in %.1f s", total(n), secs(System.nanoTime() - t0));
    }
    String ds = source.dataset();
    List<Map<String, Double>> samples = new ArrayList<>();
    profile("bootstrap");
    for (int rep = 0; rep < reps; rep++) {
      Timed raw = raw(n, o.seed + 200 + rep);
      String id = name("bootdev");
      Path dev = root.resolve(id + ".db");
      timers.reset();
      SyncReport r;
      long t0;
      long t1;
      HeapSampler h = new HeapSampler();
      Cpu cpu;
      try (h) {
        cpu = Cpu.start();
        t0 = System.nanoTime();
        try (BenchDevice d = device(dev, ds, id, SyncListener.NONE)) {
          r = d.client.flush();
        }
        t1 = System.nanoTime();
        cpu.stop();
      }
      check(r.ok() && r.bootstrap() && r.pulled() == total(n), "bootstrap: " + r);
      check(Data.number(dev, "SELECT count(*) FROM readings") == n, "bootstrap: row count differs");
      Map<String, Double> s = new LinkedHashMap<>();
      s.put("seconds", secs(t1 - t0));
      s.put("raw", raw.seconds());
      s.put("ratio", s.get("seconds") / raw.seconds());
      s.put("rawCpu", raw.cpu());
      s.put("httpPull", secs(timers.httpPull.get()));
      s.put("storePull", secs(timers.storePull.get()));
      s.put("pages", (double) r.pages());
      s.put("heapMax", mib(h.maxSampled()));
      s.put("poolPeak", mib(h.poolPeakSum()));
      s.put("heapBase", mib(h.baseline));
      s.put("gcCount", (double) h.gcCountDelta());
      s.put("gcMillis", (double) h.gcMillisDelta());
      s.put("cpu", cpu.processSeconds());
      s.put("deviceCpu", cpu.threadSeconds());
      samples.add(s);
      Synced old = bootstrapped.put(n, new Synced(ds, dev, id));
      if (old != null) {
        Data.deleteDb(old.file());
      }
      progress("bootstrap", rep, reps, s);
    }
    profileEnd();
    Map<String, Double> m = medians(samples);
    addRow("bootstrap (new device, flush)", total(n), m.get("seconds"), m.get("raw"), m.get("ratio"), Double.NaN, "—");
    double maxHeap = samples.stream().mapToDouble(s -> s.get("heapMax")).max().orElse(0);
    double maxPool = samples.stream().mapToDouble(s -> s.get("poolPeak")).max().orElse(0);
    m = medianRun(samples);
    note(String.format(Locale.ROOT, "bootstrap (the median run): %.0f pages; HTTP pull calls %s s, of which server store %s s; "
            + "the rest (%s s) is the device applying pages. CPU used meanwhile: %s s by the process, %s s by the device's thread; CPU ratio (process CPU ÷ raw insert CPU %s s) %.1f×. Heap (client and server share this JVM): max sampled used %.0f MiB "
            + "(worst of %d runs; this run %.0f MiB), heap pools' peak sum %.0f MiB (worst), %.0f MiB used after GC before the "
            + "bootstrap; -Xmx %d MiB (%s); %.0f GCs taking %.0f ms in this run.",
        m.get("pages"), f(m.get("httpPull")), f(m.get("storePull")), f(m.get("seconds") - m.get("httpPull")), f(m.get("cpu")),
        f(m.get("deviceCpu")), f(m.get("rawCpu")), m.get("cpu") / m.get("rawCpu"), maxHeap,
        samples.size(), m.get("heapMax"), maxPool, m.get("heapBase"), Runtime.getRuntime().maxMemory() >> 20, gcNames(),
        m.get("gcCount"), m.get("gcMillis")));
  }

  /** Scenario 3: the same batched insert into a table with and without capture triggers. */
  private void capture(int n, int reps) throws Exception {
    List<Map<String, Double>> samples = new ArrayList<>();
    profile("capture");
    for (int rep = 0; rep < reps; rep++) {
      long seed = o.seed + 300 + rep;
      Path trig = root.resolve(name("cap-trig") + ".db");
      Path plain = root.resolve(name("cap-plain") + ".db");
      Data.createSchema(trig);
      Data.createSchema(plain);
      DeviceReplica.open(trig, DeviceReplica.Options.defaults()).close();
      Timed withTriggers;
      Timed without;
      System.gc();
      if (rep % 2 == 0) {
        without = insert(plain, n, seed);
        withTriggers = insert(trig, n, seed);
      } else {
        withTriggers = insert(trig, n, seed);
        without = insert(plain, n, seed);
      }
      check(Data.number(trig, "SELECT count(*) FROM _tidesync_changes") == total(n), "capture: the triggers did not log every row");
      Map<String, Double> s = new LinkedHashMap<>();
      s.put("seconds", withTriggers.seconds());
      s.put("raw", without.seconds());
      s.put("ratio", withTriggers.seconds() / without.seconds());
      s.put("cpu", withTriggers.cpu());
      s.put("rawCpu", without.cpu());
      s.put("cpuRatio", withTriggers.cpu() / without.cpu());
      samples.add(s);
      Data.deleteDb(trig);
      Data.deleteDb(plain);
      progress("capture", rep, reps, s);
    }
    profileEnd();
    Map<String, Double> m = medians(samples);
    addRow("capture: batched insert with triggers", total(n), m.get("seconds"), m.get("raw"), m.get("ratio"), 1.5, "≤ 1.5×");
    note(String.format(Locale.ROOT, "capture (medians of %d interleaved pairs): with triggers %s s, without %s s; CPU time of the "
            + "inserting thread %s s vs %s s; median of the pairs' ratios %.2f× (wall), %.2f× (CPU). The triggers add one "
            + "_tidesync_changes row per written row.",
        reps, f(m.get("seconds")), f(m.get("raw")), f(m.get("cpu")), f(m.get("rawCpu")), m.get("ratio"), m.get("cpuRatio")));
  }

  /** Scenario 4: a synced device pulls a few changes made on another device, small vs large dataset. */
  private void delta(int small, int large, int reps) throws Exception {
    // Both datasets are set up first; then each repetition times one pull on each, in
    // alternating order, so that the ratio compares pulls made under the same conditions.
    DeltaPair s = deltaSetup(small);
    DeltaPair l = deltaSetup(large);
    List<Map<String, Double>> ss = new ArrayList<>();
    List<Map<String, Double>> ls = new ArrayList<>();
    List<Map<String, Double>> ratios = new ArrayList<>();
    profile("delta");
    try {
      int warm = 3;
      for (int i = -warm; i < reps; i++) {
        Map<String, Double> a;
        Map<String, Double> b;
        if ((i & 1) == 0) {
          a = s.pullOnce();
          b = l.pullOnce();
        } else {
          b = l.pullOnce();
          a = s.pullOnce();
        }
        if (i >= 0) {
          ss.add(a);
          ls.add(b);
          ratios.add(Map.of("ratio", b.get("seconds") / a.get("seconds")));
        }
      }
    } finally {
      profileEnd();
      s.close();
      l.close();
    }
    Map<String, Double> sm = deltaStats(ss);
    Map<String, Double> lm = deltaStats(ls);
    double ratio = medians(ratios).get("ratio");
    String label = "delta pull of " + o.deltaChanges + " changes";
    addRow(label + ", " + human(total(small)) + "-row dataset", o.deltaChanges, sm.get("seconds"), Double.NaN, Double.NaN,
        Double.NaN, "—");
    addRow(label + ", " + human(total(large)) + "-row dataset (raw = small)", o.deltaChanges, lm.get("seconds"), sm.get("seconds"),
        ratio, 2.0, "≤ 2× small");
    for (int size : new int[] {small, large}) {
      Map<String, Double> m = size == small ? sm : lm;
      note(String.format(Locale.ROOT, "delta pull, %,d-row dataset (%d pulls): median %s s, min %s s, p90 %s s; HTTP pull "
              + "calls %s s, of which server store %s s (medians).", total(size), reps, f(m.get("seconds")), f(m.get("min")),
          f(m.get("p90")), f(m.get("httpPull")), f(m.get("storePull"))));
    }
    if (report) {
      log("delta: %,d rows %s s, %,d rows %s s (medians), median paired ratio %.2f×", total(small), f(sm.get("seconds")),
          total(large), f(lm.get("seconds")), ratio);
    }
  }

  private static Map<String, Double> deltaStats(List<Map<String, Double>> samples) {
    Map<String, Double> m = medians(samples);
    double[] secs = samples.stream().mapToDouble(x -> x.get("seconds")).sorted().toArray();
    m.put("min", secs[0]);
    m.put("p90", secs[(int) Math.min(secs.length - 1, Math.ceil(secs.length * 0.9) - 1)]);
    return m;
  }

  private DeltaPair deltaSetup(int n) throws Exception {
    Synced sa = pushed.remove(n);
    Synced sb = bootstrapped.remove(n);
    if (sa == null || sb == null || !sa.dataset().equals(sb.dataset())) {
      // Not left over from the push and bootstrap scenarios: sync two devices now.
      long setup0 = System.nanoTime();
      String ds = name("delta");
      sa = pushInChunks(new Synced(ds, root.resolve(ds + "-a.db"), "a-" + ds), n, o.seed + 400);
      sb = new Synced(ds, root.resolve(ds + "-b.db"), "b-" + ds);
      try (BenchDevice db = device(sb.file(), ds, sb.device(), SyncListener.NONE)) {
        SyncReport rb = db.client.flush();
        check(rb.ok() && rb.pulled() == total(n), "delta setup bootstrap: " + rb);
      }
      log("  delta setup for %,d rows (push + bootstrap of a second device) took %.1f s", total(n),
          secs(System.nanoTime() - setup0));
    }
    return new DeltaPair(sa, sb, d -> device(d.file(), d.dataset(), d.device(), SyncListener.NONE), timers, o.deltaChanges, o.seed + 500);
  }

  // ------------------------------------------------------------------------------- plumbing

  private BenchDevice device(Path file, String dataset, String deviceId, SyncListener listener) {
    return BenchDevice.timed(url, timers, o, file, dataset, deviceId, listener);
  }

  /** Remembers when the last push batch was answered: the boundary between push and pull phases. */
  private static final class Probe implements SyncListener {
    volatile long lastPush;

    @Override
    public void batchPushed(String table, int changes, int conflicts, int rejected) {
      lastPush = System.nanoTime();
    }
  }

  /** {@code ratio} is the median of the per-run ratios (each run's time over the raw cost measured in that run). */
  private void addRow(String scenario, int rows, double seconds, double raw, double ratio, double target, String targetText) {
    if (!report) {
      return;
    }
    String met = Double.isNaN(target) || Double.isNaN(ratio) ? "—" : ratio <= target ? "yes" : "NO";
    table.add(new Row(scenario, String.format(Locale.ROOT, "%,d", rows), seconds, rows / seconds, raw, ratio, targetText, met));
  }

  private void note(String s) {
    if (report) {
      notes.add(s);
    }
  }

  private void progress(String what, int rep, int reps, Map<String, Double> s) {
    log("%s%s %d/%d: %s s (raw %s s)", report ? "" : "[warm-up] ", what, rep + 1, reps, f(s.get("seconds")), f(s.get("raw")));
  }

  /** Starts a JFR recording of the measured runs of a scenario (with --jfr). */
  private void profile(String scenario) throws Exception {
    if (o.jfr != null && report) {
      recording = startJfr(o.jfr.resolve(scenario + ".jfr"));
    }
  }

  private void profileEnd() {
    recording = stopJfr(recording);
  }

  private static double worst(List<Map<String, Double>> samples, String key) {
    return samples.stream().mapToDouble(s -> s.get(key)).max().orElse(Double.NaN);
  }

  private static double mib(long bytes) {
    return bytes / (1024.0 * 1024.0);
  }

  private static String sqliteVersion() {
    try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite::memory:")) {
      return c.getMetaData().getDatabaseProductVersion();
    } catch (java.sql.SQLException e) {
      return "?";
    }
  }

  private static String gcNames() {
    return ManagementFactory.getGarbageCollectorMXBeans().stream().map(GarbageCollectorMXBean::getName)
        .collect(Collectors.joining(" + "));
  }

  // ------------------------------------------------------------------------------- output

  private static final String[] HEADER = {"scenario", "rows", "seconds", "rows/s", "raw s", "ratio", "target", "met?"};

  private List<String[]> cells() {
    List<String[]> out = new ArrayList<>();
    for (Row r : table) {
      out.add(new String[] {r.scenario(), r.rows(), f(r.seconds()), String.format(Locale.ROOT, "%,.0f", r.rowsPerSec()),
          f(r.rawSeconds()), Double.isNaN(r.ratio()) ? "—" : String.format(Locale.ROOT, "%.2f×", r.ratio()), r.target(), r.met()});
    }
    return out;
  }

  private String environment(double totalSeconds) {
    Runtime rt = Runtime.getRuntime();
    return String.format(Locale.ROOT, "%s; revision %s; %d CPUs; Java %s (%s); -Xmx %d MiB; GC %s; SQLite %s; %s %s; args: %s; "
            + "median of %d runs (capture: %d; delta: %d pulls) after a %s-row warm-up; total %.0f s",
        ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME), System.getProperty("tidesync.bench.revision", "unknown"),
        rt.availableProcessors(), System.getProperty("java.runtime.version"), System.getProperty("java.vm.name"), rt.maxMemory() >> 20,
        gcNames(), sqliteVersion(),
        System.getProperty("os.name"), System.getProperty("os.arch"), o.commandLine.isEmpty() ? "(defaults)" : o.commandLine,
        o.reps, Math.max(o.reps, o.captureReps), o.deltaReps, o.warmupRows > 0 ? String.format(Locale.ROOT, "%,d", o.warmupRows) : "no", totalSeconds);
  }

  private static final String LEGEND = "raw s: a batched insert of the same rows in one transaction into a plain SQLite file "
      + "(WAL, synchronous NORMAL), measured in the same run; for capture, the same insert into identical tables without "
      + "triggers; for the large delta pull, the small dataset's delta pull. ratio: the median over runs of each run's "
      + "seconds ÷ its own raw s (delta: of pulls paired in time), so it can differ from the two medians' quotient. rows counts "
      + "readings plus sessions.";

  /** The results as aligned text, or as Markdown. */
  String render(double totalSeconds, boolean markdown) {
    StringBuilder sb = new StringBuilder();
    if (markdown) {
      sb.append("<!-- written by dev.tidesync.bench.Bench -->\n").append(environment(totalSeconds)).append("\n\n");
    } else {
      sb.append("Tidesync bench — ").append(environment(totalSeconds)).append('\n');
    }
    sb.append(Table.render(HEADER, cells(), markdown, 0, 6, 7));
    sb.append('\n').append(LEGEND).append(markdown ? "\n\n" : "\n");
    for (String n : notes) {
      sb.append("- ").append(n).append('\n');
    }
    return sb.toString();
  }


}
