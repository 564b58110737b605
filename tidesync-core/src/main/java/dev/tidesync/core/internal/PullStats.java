package dev.tidesync.core.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.locks.Lock;
import java.util.function.Consumer;

/**
 * A server store's pull statistics not yet written: per device, the latest pull time and how many
 * pulls, kept in memory so that a pull writes nothing. A store {@link #drain drains} them into its
 * devices table in one statement, as increments ({@code pulls = pulls + n}, {@code last_pull =
 * max(last_pull, at)}), so that several server processes on one database each add their own and
 * none overwrites another's. If that write fails, the store {@link #restore restores} what it
 * drained, and the next write carries it. Thread-safe.
 */
public final class PullStats {
  /** Pulls of one device since the last drain: the latest one's time (epoch ms) and the count. */
  public record Pending(String device, long lastPull, long pulls) {
    Pending plus(Pending o) {
      return new Pending(device, Math.max(lastPull, o.lastPull), pulls + o.pulls);
    }
  }

  // Sorted by device: a drain writes the devices' rows in this order, so two processes' writes
  // lock rows in the same order and cannot deadlock each other.
  private final ConcurrentSkipListMap<String, Pending> pending = new ConcurrentSkipListMap<>();

  /** Notes one pull by {@code device} at {@code atMillis}. */
  public void record(String device, long atMillis) {
    pending.merge(device, new Pending(device, atMillis, 1), Pending::plus);
  }

  public boolean isEmpty() {
    return pending.isEmpty();
  }

  /**
   * Takes every pending entry out, sorted by device. Each entry is removed on its own, atomically:
   * a pull noted meanwhile is either in the result or still pending, never lost nor counted twice.
   */
  public List<Pending> drain() {
    List<Pending> out = new ArrayList<>();
    for (String device : pending.keySet()) {
      Pending p = pending.remove(device);
      if (p != null) {
        out.add(p);
      }
    }
    return out;
  }

  /**
   * Drains the pending entries under {@code lock} and hands them to {@code write}, which writes
   * them in a transaction of its own; if it throws, they are restored for the next write. The
   * lock is held until the write is done: a store passes the lock that every drain of its
   * statistics is done under, so that a caller who gets it sees no drained pull still on its way
   * to the database.
   */
  public void flush(Lock lock, Consumer<List<Pending>> write) {
    lock.lock();
    try {
      List<Pending> drained = drain();
      if (drained.isEmpty()) {
        return;
      }
      try {
        write.accept(drained);
      } catch (RuntimeException | Error e) {
        restore(drained);
        throw e;
      }
    } finally {
      lock.unlock();
    }
  }

  /** Puts back entries whose write failed, merged with any noted since they were drained. */
  public void restore(List<Pending> drained) {
    for (Pending p : drained) {
      pending.merge(p.device(), p, Pending::plus);
    }
  }
}
