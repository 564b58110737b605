package dev.tidesync.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * CPU time used during a measured section: by the whole process (device, server and JVM threads
 * together) and by the calling thread (the device's flush). Compared with wall time this tells
 * whether a section was busy computing or waiting (disk, lock, another process on a shared CPU).
 */
final class Cpu {
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  private final long process0 = processNanos();
  private final long thread0 = THREADS.getCurrentThreadCpuTime();
  private final java.util.Map<Long, Long> threads0 = perThread();
  private long process = -1;
  private long thread = -1;
  private final java.util.Map<String, Long> groups = new java.util.TreeMap<>();

  static Cpu start() {
    return new Cpu();
  }

  private static long processNanos() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    return -1;
  }

  /** CPU nanoseconds of every live thread, by id. */
  private static java.util.Map<Long, Long> perThread() {
    java.util.Map<Long, Long> out = new java.util.HashMap<>();
    for (long id : THREADS.getAllThreadIds()) {
      long t = THREADS.getThreadCpuTime(id);
      if (t >= 0) {
        out.put(id, t);
      }
    }
    return out;
  }

  /** Ends the section (on the thread that started it). */
  Cpu stop() {
    process = processNanos() - process0;
    thread = THREADS.getCurrentThreadCpuTime() - thread0;
    long self = Thread.currentThread().getId();
    groups.clear(); // a second stop measures again from the start, it does not add
    for (java.lang.management.ThreadInfo info : THREADS.getThreadInfo(THREADS.getAllThreadIds())) {
      if (info == null || info.getThreadId() == self) {
        continue;
      }
      long t = THREADS.getThreadCpuTime(info.getThreadId());
      long used = t - threads0.getOrDefault(info.getThreadId(), 0L);
      if (t >= 0 && used > 0) {
        groups.merge(group(info.getThreadName()), used, Long::sum);
      }
    }
    return this;
  }

  /** A thread's name without its numbers: the pool it belongs to. */
  private static String group(String name) {
    return name.replaceAll("[0-9]+", "N");
  }

  /**
   * CPU seconds of the other Java threads alive at the end, by pool (numbers in names dropped),
   * largest first, as "pool 1.23 s"; what is missing from the process figure is GC, JIT and
   * threads that ended meanwhile.
   */
  String byPool(int top) {
    return groups.entrySet().stream().sorted(java.util.Map.Entry.<String, Long>comparingByValue().reversed()).limit(top)
        .map(e -> String.format(java.util.Locale.ROOT, "%s %.2f s", e.getKey(), e.getValue() / 1e9))
        .collect(java.util.stream.Collectors.joining(", "));
  }


  double processSeconds() {
    return process0 < 0 ? Double.NaN : process / 1e9;
  }

  double threadSeconds() {
    return thread / 1e9;
  }
}
