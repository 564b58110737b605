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
  private long process = -1;
  private long thread = -1;

  static Cpu start() {
    return new Cpu();
  }

  private static long processNanos() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    return -1;
  }

  /** Ends the section (on the thread that started it). */
  Cpu stop() {
    process = processNanos() - process0;
    thread = THREADS.getCurrentThreadCpuTime() - thread0;
    return this;
  }

  double processSeconds() {
    return process0 < 0 ? Double.NaN : process / 1e9;
  }

  double threadSeconds() {
    return thread / 1e9;
  }
}
