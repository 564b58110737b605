package dev.tidesync.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;

/** What the three benchmarks share besides their command line: logging, checks, figures, JFR, clean-up. */
final class BenchSupport {
  private BenchSupport() {}

  /** A progress line on stderr (stdout holds the results). */
  /** The scenarios of one run: {@code report} false runs them unreported (the warm-up). */
  interface Scenarios {
    void runAll(int n, int reps, int small, int deltaReps, boolean report) throws Exception;
  }

  /** A warm-up pass of every scenario with {@code --warmup-rows} (unless 0), then the measured run. */
  static void warmUpThenRun(Scenarios b, BenchOptions.Sync o) throws Exception {
    if (o.warmupRows > 0) {
      long w0 = System.nanoTime();
      log("warm-up pass with %,d rows (not reported)", o.warmupRows);
      b.runAll(o.warmupRows, 1, Math.min(o.smallRows, o.warmupRows), Math.min(5, o.deltaReps), false);
      log("warm-up done in %.1f s", secs(System.nanoTime() - w0));
    }
    b.runAll(o.rows, o.reps, o.smallRows, o.deltaReps, true);
  }

  /** Prints the report ({@code render(false)}: text) and writes it as Markdown ({@code render(true)}) when asked. */
  static void publish(java.util.function.Function<Boolean, String> render, java.nio.file.Path markdown) throws java.io.IOException {
    System.out.println();
    System.out.print(render.apply(false));
    if (markdown != null) {
      java.nio.file.Files.writeString(markdown, render.apply(true), java.nio.charset.StandardCharsets.UTF_8);
      log("wrote %s", markdown);
    }
  }

  static void log(String fmt, Object... args) {
    System.err.println(String.format(Locale.ROOT, fmt, args));
  }

  /** Every run checks its outcome and fails loudly: a figure of a run that did not sync is worthless. */
  static void check(boolean ok, String what) {
    if (!ok) {
      throw new IllegalStateException("benchmark check failed: " + what);
    }
  }

  static double secs(long nanos) {
    return nanos / 1e9;
  }

  /** Seconds with three significant digits or so. */
  static String f(Double s) {
    if (s == null || Double.isNaN(s)) {
      return "—";
    }
    double a = Math.abs(s);
    String fmt = a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : a >= 0.1 ? "%.3f" : a >= 0.01 ? "%.4f" : "%.5f";
    return String.format(Locale.ROOT, fmt, s);
  }

  /** 1100 as "1k", 100100 as "100k". */
  static String human(long n) {
    return n >= 1_000_000 ? (n / 1_000_000) + "M" : n >= 1000 ? (n / 1000) + "k" : Long.toString(n);
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
  static Map<String, Double> medianRun(List<Map<String, Double>> samples) {
    List<Map<String, Double>> sorted = new ArrayList<>(samples);
    sorted.sort(Comparator.comparingDouble(s -> s.get("seconds")));
    return sorted.get((sorted.size() - 1) / 2);
  }

  /** The {@code q} quantile (nearest rank) of one figure over samples. */
  static <T> double pct(List<T> samples, ToDoubleFunction<T> figure, double q) {
    double[] v = samples.stream().mapToDouble(figure).sorted().toArray();
    return v.length == 0 ? Double.NaN : v[(int) Math.max(0, Math.min(v.length - 1, Math.ceil(v.length * q) - 1))];
  }

  /** A JFR recording (profile settings) into {@code file}, started. */
  static Recording startJfr(Path file) throws Exception {
    Files.createDirectories(file.toAbsolutePath().getParent());
    Recording r = new Recording(Configuration.getConfiguration("profile"));
    // Threads in Java and in native code (SQLite) sampled at the same rate, so counts compare.
    r.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(10));
    r.enable("jdk.NativeMethodSample").withPeriod(Duration.ofMillis(10));
    r.setName(file.getFileName().toString());
    r.setDestination(file);
    r.start();
    return r;
  }

  /** Stops {@code r} (null: none), which writes its file; returns null, for the field that held it. */
  static Recording stopJfr(Recording r) {
    if (r != null) {
      r.stop();
      log("  JFR recording written to %s", r.getDestination());
      r.close();
    }
    return null;
  }

  static void deleteTree(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      System.err.println("bench: could not delete " + root + ": " + e.getMessage());
    }
  }
}
