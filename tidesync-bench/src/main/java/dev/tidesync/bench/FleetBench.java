package dev.tidesync.bench;

import static dev.tidesync.bench.BenchSupport.check;
import static dev.tidesync.bench.BenchSupport.deleteTree;
import static dev.tidesync.bench.BenchSupport.f;
import static dev.tidesync.bench.BenchSupport.log;
import static dev.tidesync.bench.BenchSupport.publish;
import static dev.tidesync.bench.BenchSupport.pct;
import static dev.tidesync.bench.BenchSupport.secs;

import dev.tidesync.client.HttpTransport;
import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A fleet of devices writing and syncing at once against one server process, then against
 * several sharing one PostgreSQL database. Every device is a {@link TidesyncClient} over its own
 * SQLite file with the real {@link HttpTransport}, all in this JVM, each on its own thread; the
 * servers are separate processes ({@code tidesync server --pg URL --port 0} from tidesync-cli's
 * jar), and device {@code i} talks to server {@code i mod k} (what a round-robin balancer would do
 * per device). Each device runs a bounded number of rounds: insert rows, {@code flush()} (push its
 * rows, pull everyone else's). Reports throughput (rows pushed and pulled per second, syncs per
 * second) and the flush latency percentiles, and checks at the end that every device holds every
 * row.
 *
 * <p>Run through {@code ./bench fleet} (see {@code --help}).
 */
public final class FleetBench {
  private static final Pattern LISTENING = Pattern.compile("listening on (http://\\S+)");

  static final class Options extends BenchOptions {
    String pgUrl;
    int devices = 100;
    List<Integer> servers = List.of(1, 2);
    int rounds = 5;
    int rowsPerRound = 10;
    int sessions = 2;
    int datasets = 1;
    int reps = 1;
    long pauseMillis = 0;
    Path serverJar = Path.of("tidesync-cli/target/tidesync.jar");
    String serverHeap = "-Xmx512m";

    @Override
    boolean option(String a, String v) {
      switch (a) {
        case "--pg-url" -> pgUrl = v;
        case "--devices" -> devices = positive(a, v);
        case "--servers" -> {
          List<Integer> l = new ArrayList<>();
          for (String s : v.split(",")) {
            l.add(positive(a, s.strip()));
          }
          servers = List.copyOf(l);
        }
        case "--rounds" -> rounds = positive(a, v);
        case "--rows-per-round" -> rowsPerRound = positive(a, v);
        case "--sessions" -> sessions = positive(a, v);
        case "--datasets" -> datasets = positive(a, v);
        case "--reps" -> reps = positive(a, v);
        case "--pause" -> pauseMillis = Long.parseLong(v);
        case "--server-jar" -> serverJar = Path.of(v);
        case "--server-heap" -> serverHeap = v;
        default -> {
          return super.option(a, v);
        }
      }
      return true;
    }

    @Override
    void validate() {
      if (devices > 1000 || rounds > 1000 || servers.stream().anyMatch(k -> k > 8)) {
        throw new IllegalArgumentException("at most 1000 devices, 1000 rounds and 8 servers");
      }
      if (datasets > devices) {
        throw new IllegalArgumentException("--datasets must not exceed --devices");
      }
    }

    @Override
    void usage(PrintStream out) {
      out.println("""
          usage: bench fleet [options]
          Devices (each its own SQLite file and TidesyncClient over HTTP, in this JVM, one thread each) write and sync at
          once in bounded rounds against K server processes (tidesync server --pg) sharing one PostgreSQL database, for
          each K of --servers in turn; device i uses server i mod K. Each run gets a database of its own, dropped at the end.
            --pg-url URL          an existing database to connect to as a user that may CREATE DATABASE (default: env
                                  TIDESYNC_BENCH_PG_URL, else jdbc:postgresql://127.0.0.1:5432/test?user=postgres)
            --devices N           devices (default 100)
            --servers LIST        server process counts to run, in order (default 1,2)
            --rounds N            measured rounds per device: insert rows, then flush (default 5)
            --rows-per-round N    readings each device inserts per round (default 10)
            --sessions N          sessions (parent rows) each device inserts in its first, unmeasured round (default 2)
            --datasets N          devices spread over N datasets, device i in dataset i mod N (default 1: all share one)
            --reps N              repeat the whole list of --servers N times, alternating its order (default 1)
            --pause MS            pause of each device between its rounds (default 0: back to back)
            --server-jar FILE     tidesync-cli's shaded jar (default tidesync-cli/target/tidesync.jar)
            --server-heap OPT     heap option of each server process (default -Xmx512m)
            --seed N              data generator seed (default 42)
            --markdown FILE       also write the results as Markdown to FILE
            --dir DIR             work directory for the device files and server logs (default: a temp directory, deleted)
            --keep                keep the work directory""");
    }
  }

  /** The figures of one run with {@code servers} server processes. */
  record Result(int servers, double seconds, long flushes, long failed, long pushed, long pulled, double p50, double p90, double p99,
      double max, double serverCpu, double benchCpu, long rowsPerDevice, String firstError) {}

  private final Options o;
  private final String admin;
  private final Path root;
  private int serial;

  private FleetBench(Options o, String admin, Path root) {
    this.o = o;
    this.admin = admin;
    this.root = root;
  }

  public static void main(String[] args) throws Exception {
    Options o = BenchOptions.parseOrExit("bench fleet", new Options(), args);
    if (!Files.isRegularFile(o.serverJar)) {
      System.err.println("bench fleet: no server jar at " + o.serverJar + " (build it with ./tidesync --version, or give --server-jar)");
      System.exit(2);
    }
    Path root = o.workDir("tidesync-fleet");
    long start = System.nanoTime();
    try {
      FleetBench b = new FleetBench(o, PgDb.adminUrl(o.pgUrl), root);
      List<Result> results = new ArrayList<>();
      for (int rep = 0; rep < o.reps; rep++) {
        List<Integer> order = new ArrayList<>(o.servers);
        if (rep % 2 == 1) {
          Collections.reverse(order);
        }
        for (int k : order) {
          results.add(b.run(k));
        }
      }
      String env = b.environment(secs(System.nanoTime() - start));
      publish(md -> b.render(env, results, md), o.markdown);
    } finally {
      if (!o.keep) {
        deleteTree(root);
      }
    }
  }

  /** One run: a fresh database, {@code k} server processes, the fleet's rounds, the check, the teardown. */
  private Result run(int k) throws Exception {
    int id = ++serial;
    Path dir = Files.createDirectories(root.resolve("run-" + id + "-servers-" + k));
    List<Process> procs = new ArrayList<>();
    List<Device> fleet = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(o.devices);
    try (PgDb db = PgDb.create(admin, "fleet")) {
      List<String> urls = new ArrayList<>();
      for (int s = 0; s < k; s++) {
        Process p = startServer(db.url, dir.resolve("server-" + s + ".log"));
        procs.add(p);
        urls.add(awaitUrl(p, dir.resolve("server-" + s + ".log")));
      }
      log("fleet run %d: %d server process(es) %s over database %s; %d devices, %d dataset(s), %d rounds of %d rows", id, k,
          urls, db.name, o.devices, o.datasets, o.rounds, o.rowsPerRound);
      for (int i = 0; i < o.devices; i++) {
        fleet.add(new Device(i, dir.resolve("device-" + i + ".db"), urls.get(i % k)));
      }
      // Round 0, not measured: every device inserts its sessions and first rows and syncs once
      // (this creates the dataset and gives every device the others' first rows).
      long w0 = System.nanoTime();
      List<String> warmErrors = Collections.synchronizedList(new ArrayList<>());
      all(pool, fleet, d -> d.round(0, null, warmErrors));
      settle(fleet);
      log("  warm-up round and settle took %.1f s (%d failed syncs in the warm-up round%s)", secs(System.nanoTime() - w0),
          warmErrors.size(), warmErrors.isEmpty() ? "" : "; the first: " + warmErrors.get(0));

      double cpu0 = cpuSeconds(procs);
      Cpu benchCpu = Cpu.start();
      List<Double> latencies = Collections.synchronizedList(new ArrayList<>());
      CountDownLatch go = new CountDownLatch(1);
      AtomicLong pushed = new AtomicLong();
      AtomicLong pulled = new AtomicLong();
      List<String> errors = Collections.synchronizedList(new ArrayList<>());
      List<Future<?>> fs = new ArrayList<>();
      for (Device d : fleet) {
        fs.add(pool.submit(() -> {
          go.await();
          for (int r = 1; r <= o.rounds; r++) {
            SyncReport rep = d.round(r, latencies, errors);
            if (rep != null) {
              pushed.addAndGet(rep.pushed());
              pulled.addAndGet(rep.pulled());
            }
            if (o.pauseMillis > 0 && r < o.rounds) {
              Thread.sleep(o.pauseMillis);
            }
          }
          return null;
        }));
      }
      long t0 = System.nanoTime();
      go.countDown();
      for (Future<?> f : fs) {
        f.get(30, TimeUnit.MINUTES);
      }
      long t1 = System.nanoTime();
      benchCpu.stop();
      double serverCpu = cpuSeconds(procs) - cpu0;
      settle(fleet);
      long perDevice = checkConverged(fleet);
      List<Double> lat = new ArrayList<>(latencies);
      Collections.sort(lat);
      Result res = new Result(k, secs(t1 - t0), lat.size(), errors.size(), pushed.get(), pulled.get(),
          pct(lat, x -> x, 0.5), pct(lat, x -> x, 0.9), pct(lat, x -> x, 0.99),
          lat.isEmpty() ? Double.NaN : lat.get(lat.size() - 1), serverCpu, benchCpu.processSeconds(), perDevice,
          errors.isEmpty() ? null : errors.get(0));
      log("  %d server(s): %.1f s, %,d syncs (%,d failed), %,d rows pushed, %,d pulled; flush p50 %s s, p99 %s s", k,
          res.seconds(), res.flushes(), res.failed(), res.pushed(), res.pulled(), f(res.p50()), f(res.p99()));
      if (!errors.isEmpty()) {
        log("  first failed sync: %s", errors.get(0));
        for (int s = 0; s < k; s++) {
          String label = "  server " + s + ": ";
          Files.readAllLines(dir.resolve("server-" + s + ".log"), StandardCharsets.UTF_8).stream()
              .filter(l -> l.contains("WARN") || l.contains("ERROR")).limit(10).forEach(l -> log("%s%s", label, l));
        }
      }
      return res;
    } finally {
      for (Device d : fleet) {
        d.close();
      }
      pool.shutdownNow();
      for (Process p : procs) {
        stop(p);
      }
    }
  }

  private interface DeviceTask {
    void run(Device d) throws Exception;
  }

  /** Runs the task on every device at once and waits for all. */
  private static void all(ExecutorService pool, List<Device> fleet, DeviceTask task) throws Exception {
    List<Future<?>> fs = new ArrayList<>();
    for (Device d : fleet) {
      fs.add(pool.submit(() -> {
        task.run(d);
        return null;
      }));
    }
    for (Future<?> f : fs) {
      f.get(30, TimeUnit.MINUTES);
    }
  }

  /** Flushes the devices one after another until a whole pass pulls nothing (at most 5 passes). */
  private static void settle(List<Device> fleet) {
    for (int pass = 0; pass < 5; pass++) {
      long moved = 0;
      for (Device d : fleet) {
        SyncReport r = d.sync.client.flush();
        check(r.ok(), "settle flush of device " + d.index + ": " + r);
        moved += r.pulled() + r.pushed();
      }
      if (moved == 0) {
        return;
      }
    }
    throw new IllegalStateException("benchmark check failed: the fleet did not settle in 5 passes");
  }

  /** Every device holds every reading of its dataset; returns the readings per device of dataset 0. */
  private long checkConverged(List<Device> fleet) throws Exception {
    long expectedPerDevice = (long) o.rowsPerRound * (o.rounds + 1);
    long n0 = -1;
    for (Device d : fleet) {
      long members = fleet.stream().filter(x -> x.dataset.equals(d.dataset)).count();
      long have = Data.number(d.file, "SELECT count(*) FROM readings");
      check(have == members * expectedPerDevice, "device " + d.index + " holds " + have + " readings, expected "
          + members * expectedPerDevice);
      if (d.index == 0) {
        n0 = have;
      }
    }
    return n0;
  }

  /** One device: its file, its client (HTTP to its server), and its position in the generated data. */
  private final class Device implements AutoCloseable {
    final int index;
    final Path file;
    final String dataset;
    final long seed;
    final BenchDevice sync;

    Device(int index, Path file, String serverUrl) throws Exception {
      this.index = index;
      this.file = file;
      this.dataset = "fleet-" + (index % o.datasets);
      this.seed = o.seed * 1_000_003L + index;
      Data.createSchema(file); // before the client opens the file: it captures the tables it finds
      this.sync = new BenchDevice(new HttpTransport(serverUrl), c -> c.database(file).dataset(dataset).deviceId("device-" + index));
    }

    /**
     * Inserts this round's rows (and the sessions in round 0), then flushes; the flush's seconds go
     * to {@code latencies}. With {@code errors}, a flush that fails (an HTTP error or a time-out: a
     * transient failure, which a device in background mode retries later) is noted there and
     * {@code null} returned; its changes go with the device's next flush. Without, it fails the run.
     */
    SyncReport round(int r, List<Double> latencies, List<String> errors) throws Exception {
      int from = r * o.rowsPerRound;
      Data.insertRange(file, from, from + o.rowsPerRound, o.sessions, seed, r == 0);
      long t0 = System.nanoTime();
      SyncReport rep;
      try {
        rep = sync.client.flush();
      } catch (RuntimeException e) {
        if (errors == null) {
          throw e;
        }
        errors.add(String.format(Locale.ROOT, "device %d round %d after %.1f s: %s", index, r, secs(System.nanoTime() - t0), e));
        return null;
      }
      long t1 = System.nanoTime();
      check(rep.rejected() == 0 && (rep.ok() || errors != null), "device " + index + " round " + r + ": " + rep);
      if (!rep.ok()) {
        errors.add("device " + index + " round " + r + ": " + rep);
        return rep;
      }
      if (latencies != null) {
        latencies.add(secs(t1 - t0));
      }
      return rep;
    }

    @Override
    public void close() {
      sync.close();
    }
  }

  // --------------------------------------------------------------------------- server processes

  /**
   * The one place where the server command line is built. The servers run with --insecure (auth
   * off): the devices carry no tokens.
   */
  List<String> serverCommand(String pgUrl) {
    String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    List<String> cmd = new ArrayList<>(List.of(java, o.serverHeap));
    if (Runtime.version().feature() >= 22) {
      cmd.add("--enable-native-access=ALL-UNNAMED");
    }
    // --insecure: the fleet measures sync; auth costs one revocation read per request on top.
    cmd.addAll(List.of("-jar", o.serverJar.toString(), "server", "--pg", pgUrl, "--host", "127.0.0.1", "--port", "0", "--insecure"));
    return cmd;
  }

  private Process startServer(String pgUrl, Path log) throws IOException {
    Process p = new ProcessBuilder(serverCommand(pgUrl)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    // Should this JVM be stopped (Ctrl-C), do not leave servers behind.
    Runtime.getRuntime().addShutdownHook(new Thread(p::destroyForcibly));
    return p;
  }

  /** Waits (at most 60 s) for the server's "listening on URL" line in its log. */
  private static String awaitUrl(Process p, Path log) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      if (Files.exists(log)) {
        Matcher m = LISTENING.matcher(Files.readString(log, StandardCharsets.UTF_8));
        if (m.find()) {
          return m.group(1);
        }
      }
      if (!p.isAlive()) {
        throw new IllegalStateException("server exited with " + p.exitValue() + ": " + Files.readString(log, StandardCharsets.UTF_8));
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("no 'listening on' line from the server within 60 s; see " + log);
  }

  /** SIGTERM (the server closes its storage), then SIGKILL after 20 s. */
  private static void stop(Process p) throws InterruptedException {
    p.destroy();
    if (!p.waitFor(20, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** CPU seconds used so far by the server processes together. */
  private static double cpuSeconds(List<Process> procs) {
    double s = 0;
    for (Process p : procs) {
      s += p.info().totalCpuDuration().map(Duration::toNanos).orElse(0L) / 1e9;
    }
    return s;
  }

  // --------------------------------------------------------------------------------- output

  private String environment(double totalSeconds) {
    return String.format(Locale.ROOT, "%s; revision %s; %d CPUs; Java %s; devices %d over %d dataset(s), %d measured rounds of %d "
            + "rows each (after one unmeasured round), pause %d ms; servers %s (%s each); args: %s; total %.0f s",
        ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME), System.getProperty("tidesync.bench.revision", "unknown"),
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.runtime.version"), o.devices, o.datasets, o.rounds,
        o.rowsPerRound, o.pauseMillis, o.servers, o.serverHeap, o.commandLine.isEmpty() ? "(defaults)" : o.commandLine, totalSeconds);
  }

  private String render(String env, List<Result> results, boolean markdown) {
    String[] header = {"servers", "seconds", "syncs", "failed", "syncs/s", "rows pushed/s", "rows pulled/s", "flush p50 s", "flush p90 s",
        "flush p99 s", "flush max s", "server CPU s", "bench CPU s", "vs first"};
    List<String[]> rows = new ArrayList<>();
    Result first = results.get(0);
    for (Result r : results) {
      rows.add(new String[] {Integer.toString(r.servers()), f(r.seconds()), String.format(Locale.ROOT, "%,d", r.flushes()),
          Long.toString(r.failed()),
          String.format(Locale.ROOT, "%,.1f", r.flushes() / r.seconds()), String.format(Locale.ROOT, "%,.0f", r.pushed() / r.seconds()),
          String.format(Locale.ROOT, "%,.0f", r.pulled() / r.seconds()), f(r.p50()), f(r.p90()), f(r.p99()),
          f(r.max()), f(r.serverCpu()), f(r.benchCpu()),
          String.format(Locale.ROOT, "%.2f× syncs/s, %.2f× p99", (r.flushes() / r.seconds()) / (first.flushes() / first.seconds()),
              r.p99() / first.p99())});
    }
    StringBuilder sb = new StringBuilder("Tidesync fleet bench — ").append(env).append("\n\n");
    sb.append(Table.render(header, rows, markdown, 13));
    sb.append("\nseconds: from the start signal until every device finished its rounds. syncs: flush() calls that succeeded "
        + "(each pushes the device's new rows and pulls everything new in its dataset); failed: flush() calls that failed "
        + "(HTTP error or time-out; their rows went with the device's next flush), not in syncs/s nor in the latencies. flush p50/p90/p99/max: latency of those "
        + "flushes (nearest rank). server CPU s: CPU time of the server processes together during the measured rounds; bench "
        + "CPU s: of this JVM (the devices). vs first: syncs/s and p99 against the first line, measured in the same run. "
        + "After the rounds the devices are flushed until nothing moves, and every device is checked to hold every reading of "
        + "its dataset (" + String.format(Locale.ROOT, "%,d", results.get(0).rowsPerDevice()) + " for dataset 0).\n");
    for (Result r : results) {
      if (r.firstError() != null) {
        sb.append("\n- ").append(r.servers()).append(" server(s): ").append(r.failed()).append(" failed sync(s); the first: ")
            .append(r.firstError()).append('\n');
      }
    }
    return sb.toString();
  }
}
