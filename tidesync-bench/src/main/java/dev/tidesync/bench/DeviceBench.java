package dev.tidesync.bench;

import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.sqlite.DeviceReplica;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The device's own share of a push, with no server: a device file with {@code rows} readings
 * inserted by the app (that insert is the raw baseline, timed in the same run), then the device's
 * work of a push, phase by phase: opening, absorbing the log into row metadata, building the
 * batches (collect, encode, outbox), and recording an answer of "applied" for every row (settle).
 * Each phase is reported in seconds and as a ratio to the raw insert, so that a change to one
 * phase can be measured without the noise of the server and the wire.
 *
 * <p>{@code initial} (the default): the rows are in the file before the device opens it, and
 * opening loads them as pending inserts. {@code captured}: the device opens the empty tables
 * first, the app's insert is captured by the triggers (not timed; the raw baseline is the same
 * insert into another file without triggers), and absorbing turns the log into metadata.
 *
 * <pre>./bench device [ROWS (default 100000) [REPS (default 5) [initial|captured]]]</pre>
 */
public final class DeviceBench {
  private DeviceBench() {}

  public static void main(String[] args) throws Exception {
    int rows;
    int reps;
    boolean captured;
    try {
      if (args.length > 3 || (args.length > 0 && args[0].startsWith("-"))) {
        throw new NumberFormatException();
      }
      rows = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
      reps = args.length > 1 ? Integer.parseInt(args[1]) : 5;
      captured = args.length > 2 && args[2].equals("captured");
      if (rows < 1 || reps < 1 || (args.length > 2 && !captured && !args[2].equals("initial"))) {
        throw new NumberFormatException();
      }
    } catch (NumberFormatException e) {
      System.err.println("usage: ./bench device [ROWS (default 100000) [REPS (default 5) [initial|captured]]], positive integers");
      System.exit(2);
      return;
    }
    ThreadMXBean mx = ManagementFactory.getThreadMXBean();
    Path root = Files.createTempDirectory("tidesync-devicebench");
    String[] names = {"raw insert", "open", "absorb", "build", "settle", "device total"};
    List<double[]> runs = new ArrayList<>();
    try {
      for (int rep = -1; rep < reps; rep++) {
        Path db = root.resolve("device" + rep + ".db");
        Data.createSchema(db);
        Path rawDb = captured ? root.resolve("raw" + rep + ".db") : db;
        if (captured) {
          Data.createSchema(rawDb);
          DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("bench")).close(); // installs the triggers
        }
        long rc0 = mx.getCurrentThreadCpuTime();
        double raw = Data.insert(rawDb, rows, 100, 42) / 1e9;
        double rawCpu = (mx.getCurrentThreadCpuTime() - rc0) / 1e9;
        if (captured) {
          Data.deleteDb(rawDb);
          Data.insert(db, rows, 100, 42); // through the capture triggers
        }
        long cpu0 = mx.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        double open;
        double absorb;
        double build = 0;
        double settle = 0;
        double[] cpu = new double[5]; // open, absorb, build, settle, total: thread CPU
        int batches = 0;
        try (DeviceReplica r = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("bench"))) {
          open = (System.nanoTime() - t0) / 1e9;
          cpu[0] = (mx.getCurrentThreadCpuTime() - cpu0) / 1e9;
          long t1 = System.nanoTime();
          long c1 = mx.getCurrentThreadCpuTime();
          r.absorb();
          absorb = (System.nanoTime() - t1) / 1e9;
          cpu[1] = (mx.getCurrentThreadCpuTime() - c1) / 1e9;
          long version = 0;
          DeviceReplica.PushScan scan = new DeviceReplica.PushScan();
          do {
            while (true) {
              long b0 = System.nanoTime();
              long bc = mx.getCurrentThreadCpuTime();
              PushRequest req = r.nextBatch("bench", scan, 1000);
              build += (System.nanoTime() - b0) / 1e9;
              cpu[2] += (mx.getCurrentThreadCpuTime() - bc) / 1e9;
              if (req == null) {
                break;
              }
              List<ChangeResult> answers = new ArrayList<>(req.changes().size());
              for (int i = 0; i < req.changes().size(); i++) {
                answers.add(new ChangeResult(i, ChangeResult.APPLIED, ++version, null, false));
              }
              long s0 = System.nanoTime();
              long sc = mx.getCurrentThreadCpuTime();
              r.recordPushResult(req, new PushResult(req.batch(), answers, null, false));
              settle += (System.nanoTime() - s0) / 1e9;
              cpu[3] += (mx.getCurrentThreadCpuTime() - sc) / 1e9;
              batches++;
            }
          } while (scan.resume());
          if (r.pending().total() != 0) {
            throw new IllegalStateException("rows still pending after the push: " + r.pending());
          }
        }
        double total = (System.nanoTime() - t0) / 1e9;
        cpu[4] = (mx.getCurrentThreadCpuTime() - cpu0) / 1e9;
        Data.deleteDb(db);
        System.out.printf(Locale.ROOT, "%s raw %.3f s | open %.3f, absorb %.3f, build %.3f, settle %.3f = %.3f s (%d batches) = %.2f× raw;"
            + " thread CPU: raw %.3f | %.3f, %.3f, %.3f, %.3f = %.3f s = %.2f× raw%n",
            rep < 0 ? "warm-up" : "rep " + rep, raw, open, absorb, build, settle, total, batches, total / raw,
            rawCpu, cpu[0], cpu[1], cpu[2], cpu[3], cpu[4], cpu[4] / rawCpu);
        if (rep >= 0) {
          runs.add(new double[] {raw, open, absorb, build, settle, total, rawCpu, cpu[0], cpu[1], cpu[2], cpu[3], cpu[4]});
        }
      }
      StringBuilder sb = new StringBuilder("median of " + reps + " runs: wall seconds, ÷ each run's raw insert; thread CPU seconds, ÷ the raw insert's CPU");
      for (int i = 0; i < names.length; i++) {
        final int k = i;
        double s = median(runs.stream().mapToDouble(x -> x[k]).toArray());
        double ratio = median(runs.stream().mapToDouble(x -> x[k] / x[0]).toArray());
        double c = median(runs.stream().mapToDouble(x -> x[k + 6]).toArray());
        double cratio = median(runs.stream().mapToDouble(x -> x[k + 6] / x[6]).toArray());
        sb.append(String.format(Locale.ROOT, "%n  %-13s %.3f s  %.2f×   CPU %.3f s  %.2f×", names[i], s, ratio, c, cratio));
      }
      System.out.println(sb);
    } finally {
      BenchSupport.deleteTree(root);
    }
  }

  private static double median(double[] xs) {
    double[] s = xs.clone();
    java.util.Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }
}
