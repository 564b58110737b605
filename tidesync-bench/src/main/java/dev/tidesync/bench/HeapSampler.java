package dev.tidesync.bench;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;

/**
 * Heap use during one measured section. Two figures: the largest heap-used value seen by a
 * thread sampling {@link MemoryMXBean} every millisecond (includes garbage not yet collected, so
 * it reflects the collector's behaviour as much as the live set), and the sum of the heap pools'
 * peak usage after a {@code System.gc()} and a peak reset (an upper bound: pools peak at
 * different moments). Also the heap left after a full GC before the section, and the GC count
 * and time during it.
 */
final class HeapSampler implements AutoCloseable {
  private final MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
  private final Thread thread;
  private volatile boolean running = true;
  private volatile long maxUsed;
  final long baseline;
  private final long gcCount0;
  private final long gcMillis0;
  private long poolPeak;
  private long gcCount;
  private long gcMillis;

  HeapSampler() {
    System.gc();
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP) {
        p.resetPeakUsage();
      }
    }
    baseline = mem.getHeapMemoryUsage().getUsed();
    gcCount0 = gcCount();
    gcMillis0 = gcMillis();
    maxUsed = baseline;
    thread = new Thread(() -> {
      while (running) {
        long u = mem.getHeapMemoryUsage().getUsed();
        if (u > maxUsed) {
          maxUsed = u;
        }
        try {
          Thread.sleep(1);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "heap-sampler");
    thread.setDaemon(true);
    thread.start();
  }

  private static long gcCount() {
    long n = 0;
    for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) {
      n += Math.max(0, b.getCollectionCount());
    }
    return n;
  }

  private static long gcMillis() {
    long n = 0;
    for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) {
      n += Math.max(0, b.getCollectionTime());
    }
    return n;
  }

  long maxSampled() {
    return maxUsed;
  }

  long poolPeakSum() {
    return poolPeak;
  }

  long gcCountDelta() {
    return gcCount;
  }

  long gcMillisDelta() {
    return gcMillis;
  }

  @Override
  public void close() {
    running = false;
    try {
      thread.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    long sum = 0;
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP && p.getPeakUsage() != null) {
        sum += p.getPeakUsage().getUsed();
      }
    }
    poolPeak = sum;
    long u = mem.getHeapMemoryUsage().getUsed();
    if (u > maxUsed) {
      maxUsed = u;
    }
    gcCount = gcCount() - gcCount0;
    gcMillis = gcMillis() - gcMillis0;
  }
}
