package dev.tidesync.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The command line of the three benchmarks ({@code ./bench}, {@code ./bench pg}, {@code ./bench
 * fleet}): the options they all take, the parsing loop and its errors. Each benchmark's
 * {@code Options} extends this class ({@link Sync} for the two that measure push, bootstrap and
 * delta pull), adds its own options in {@link #option} and {@link #flag}, and prints its own
 * {@link #usage}.
 */
abstract class BenchOptions {
  long seed = 42;
  Path markdown;
  Path dir;
  boolean keep;
  String commandLine = "";

  abstract void usage(PrintStream out);

  /** Sets option {@code name} from {@code value}; false when it is none of this benchmark's. An override calls super last. */
  boolean option(String name, String value) {
    switch (name) {
      case "--seed" -> seed = Long.parseLong(value);
      case "--markdown" -> markdown = Path.of(value);
      case "--dir" -> dir = Path.of(value);
      default -> {
        return false;
      }
    }
    return true;
  }

  /** Sets flag {@code name} (an option without a value); false when it is none of this benchmark's. */
  boolean flag(String name) {
    if (name.equals("--keep")) {
      keep = true;
      return true;
    }
    return false;
  }

  /** Checks the options together, once all are parsed. */
  void validate() {}

  /**
   * Parses {@code args} into {@code options}. {@code --help} prints the usage and exits 0; a bad
   * command line prints {@code PROGRAM: what is wrong} and exits 2.
   */
  static <T extends BenchOptions> T parseOrExit(String program, T options, String[] args) {
    try {
      options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println(program + ": " + e.getMessage());
      System.exit(2);
    }
    return options;
  }

  final void parse(String[] args) {
    commandLine = String.join(" ", args);
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--help") || a.equals("-h")) {
        usage(System.out);
        System.exit(0);
      }
      if (flag(a)) {
        continue;
      }
      if (i + 1 >= args.length) {
        throw new IllegalArgumentException("option " + a + " needs a value (see --help)");
      }
      if (!option(a, args[++i])) {
        throw new IllegalArgumentException("unknown option " + a + " (see --help)");
      }
    }
    validate();
  }

  static int positive(String name, String v) {
    int n = Integer.parseInt(v.replace("_", "").replace(",", ""));
    if (n < 1) {
      throw new IllegalArgumentException(name + " must be positive, got " + v);
    }
    return n;
  }

  /** {@code --dir}, created if missing, else a new temporary directory named after {@code prefix}. */
  Path workDir(String prefix) throws IOException {
    return dir != null ? Files.createDirectories(dir) : Files.createTempDirectory(prefix);
  }

  /**
   * The options of the two benchmarks that sync a dataset of generated rows and compare with a raw
   * insert ({@link Bench}, {@link PgBench}): sizes, repetitions, client limits, the scenarios to run.
   */
  abstract static class Sync extends BenchOptions {
    int rows = 100_000;
    int warmupRows = 10_000;
    int reps = 3;
    int deltaReps = 20;
    int deltaChanges = 10;
    int smallRows = 1_000;
    int sessions = 100;
    int batchLimit = 1000;
    int pullLimit = 1000;
    Path jfr;
    Set<String> only;
    private final List<String> known;

    /** {@code known}: the names {@code --only} takes; {@code defaults}: the scenarios run without it, in order. */
    Sync(List<String> known, List<String> defaults) {
      this.known = known;
      this.only = new LinkedHashSet<>(defaults);
    }

    /** The scenarios that {@code --only NAME} stands for, in order (by default just NAME). */
    List<String> expand(String name) {
      return List.of(name);
    }

    @Override
    boolean option(String name, String v) {
      switch (name) {
        case "--rows" -> rows = positive(name, v);
        case "--warmup-rows" -> warmupRows = Integer.parseInt(v);
        case "--reps" -> reps = positive(name, v);
        case "--delta-reps" -> deltaReps = positive(name, v);
        case "--delta-changes" -> deltaChanges = positive(name, v);
        case "--small-rows" -> smallRows = positive(name, v);
        case "--sessions" -> sessions = positive(name, v);
        case "--batch-limit" -> batchLimit = positive(name, v);
        case "--pull-limit" -> pullLimit = positive(name, v);
        case "--jfr" -> jfr = Path.of(v);
        case "--only" -> {
          only = new LinkedHashSet<>();
          for (String s : v.split(",")) {
            if (!known.contains(s.strip())) {
              throw new IllegalArgumentException("unknown scenario '" + s + "'; known: " + known);
            }
            only.addAll(expand(s.strip()));
          }
        }
        default -> {
          return super.option(name, v);
        }
      }
      return true;
    }

    @Override
    void validate() {
      if (deltaChanges > smallRows) {
        throw new IllegalArgumentException("--delta-changes must not exceed --small-rows");
      }
    }
  }
}
