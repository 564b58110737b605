package dev.tidesync.bench;

import static dev.tidesync.bench.BenchSupport.check;
import static dev.tidesync.bench.BenchSupport.secs;

import dev.tidesync.client.SyncReport;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

/**
 * Two devices synced with one dataset, for the delta pull scenario: each time, {@code b} changes
 * a few random rows and pushes them, then {@code a}'s pull of them is timed. Closing deletes both
 * device files.
 */
final class DeltaPair implements AutoCloseable {
  private final Synced sa;
  private final Synced sb;
  private final BenchDevice a;
  private final BenchDevice b;
  private final Timers timers;
  private final int changes;
  private final Random rnd;

  DeltaPair(Synced sa, Synced sb, Function<Synced, BenchDevice> open, Timers timers, int changes, long seed) {
    this.sa = sa;
    this.sb = sb;
    this.a = open.apply(sa);
    this.b = open.apply(sb);
    this.timers = timers;
    this.changes = changes;
    this.rnd = new Random(seed);
  }

  /** One delta pull: seconds of {@code a}'s flush, and of its HTTP pull calls and the server store's pull calls in it. */
  Map<String, Double> pullOnce() throws Exception {
    int k = Data.updateRandom(sb.file(), changes, rnd);
    check(k == changes, "delta: updated " + k + " rows");
    SyncReport pushB = b.client.flush();
    check(pushB.ok() && pushB.pushed() == changes, "delta: push from the other device: " + pushB);
    timers.reset();
    long t0 = System.nanoTime();
    SyncReport r = a.client.flush();
    long t1 = System.nanoTime();
    check(r.ok() && r.pulled() == changes && r.pushed() == 0, "delta pull: " + r);
    Map<String, Double> s = new LinkedHashMap<>();
    s.put("seconds", secs(t1 - t0));
    s.put("httpPull", secs(timers.httpPull.get()));
    s.put("storePull", secs(timers.storePull.get()));
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
