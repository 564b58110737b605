package dev.tidesync.core.internal;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.HlcClock;
import dev.tidesync.protocol.Identifiers;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The changes of a pushed batch that a server store's retry passes may skip without SQL, because
 * applying them again would fail their table's foreign key to itself for certain.
 *
 * <p>Why: a store applies what failed a foreign key again after the rest of the batch, one pass
 * after the other while a pass makes progress. A chain of rows of a self-referencing table sent
 * children first goes in one row per pass, and each pass tried every row left: 2,000 such rows
 * took 85 s of an embedded dataset's write lock (session 11's review), and 400 took 21 s on
 * PostgreSQL. Skipping the attempts that certainly fail keeps the passes, and so every outcome,
 * as they were: an attempt that fails is undone to its savepoint and changes nothing the next
 * attempts see (its version is given back; receiving its clock again leaves the server's clock
 * as it was), so leaving it out is the same as making it. A change whose clock the server has not
 * taken in, or that is beyond the allowed drift, is the exception (its attempt would move the
 * server's clock), and is never skipped.
 *
 * <p>Certain means, for an upsert that failed a foreign key: at its next turn its row has no
 * metadata and no row in the table, so applying it would be an INSERT of its columns, which name
 * a parent key that is not in the table either. It then waits: applied again, it fails again as
 * long as no change of the batch with its own key or that parent key has been answered since
 * (and, where other writers commit meanwhile, until {@link #recheck} finds the parent). The
 * store's {@link Probe} says
 * where that holds (its file or database can change neither the comparison nor the rows behind
 * the batch's back: no triggers of its own, keys compared as the texts they are, no other unique
 * index whose clash could refuse the change at an earlier pass, nothing that differs from one
 * attempt to the next such as a default of {@code random()}) and checks the row and the parent.
 *
 * <p>One object per attempt at a batch, for its passes; never for the last pass, which gives
 * every change left its answer.
 *
 * @param <E> what the store's probe throws
 */
public final class ChainWaits<E extends Exception> {
  /** What a store knows of its tables and rows, for {@link ChainWaits}. */
  public interface Probe<E extends Exception> {
    /**
     * The column of {@code table}'s one reference to itself, when the store can foresee that
     * reference's failures (see the class comment); null otherwise.
     */
    String selfReference(String table) throws E;

    /**
     * Whether the row {@code key} of {@code table} (canonical text {@code canonicalKey}) has
     * neither metadata nor a row, and the key {@code parent} no row.
     */
    boolean newAndParentAbsent(String table, String key, String canonicalKey, String parent) throws E;
  }

  /** A change that failed and may wait: its clock, its row and the parent its reference names. */
  private record Failed(Hlc hlc, String table, String key, String canonicalKey, String parent) {}

  private final Probe<E> probe;
  private final HlcClock clock;
  /**
   * Changes that failed and may wait, not asked about yet: the probe is asked at the change's
   * next turn, not when it fails, so that a batch whose passes end after one (rows whose parents
   * exist nowhere) asks nothing (found in review: 10,000 such rows cost 3x).
   */
  private final Map<Integer, Failed> failed = new HashMap<>();
  /** Changes that wait: the probe found their row new and their parent absent. */
  private final Map<Integer, Failed> waiting = new HashMap<>();
  /** Table and key (as {@link #slot}) → the changes waiting for an answer there. */
  private final Map<String, List<Integer>> waiters = new HashMap<>();
  /** Tables (folded) with a change that waited. */
  private final Set<String> tracked = new HashSet<>();
  /** Changes {@link #recheck} woke: they never wait again, so the passes stay at most one per change. */
  private final Set<Integer> rechecked = new HashSet<>();
  private long skipped;

  /** Waits judged by {@code probe}; {@code clock} is the store's, which a change's attempt may advance. */
  public ChainWaits(Probe<E> probe, HlcClock clock) {
    this.probe = probe;
    this.clock = clock;
  }

  /**
   * Whether the pass skips change {@code i}: applying it again now is certain to fail (it waits,
   * and nothing it waits for was answered since; or it failed, and the probe finds its row new
   * and its parent absent now, as the attempt would). Counted in {@link #skipped}.
   */
  public boolean skip(int i) throws E {
    Failed w = waiting.get(i);
    if (w == null) {
      Failed f = failed.remove(i);
      if (f == null || !clock.withinDrift(f.hlc()) || !probe.newAndParentAbsent(f.table(), f.key(), f.canonicalKey(), f.parent())) {
        return false;
      }
      waiting.put(i, f);
      tracked.add(fold(f.table()));
      waiters.computeIfAbsent(slot(f.table(), f.key()), k -> new ArrayList<>()).add(i);
      waiters.computeIfAbsent(slot(f.table(), f.parent()), k -> new ArrayList<>()).add(i);
      w = f;
    }
    // A clock beyond the allowed drift is restamped with a tick of the server's clock on every
    // attempt, which its rollback does not undo (found in review): such an attempt is made. The
    // wall clock may have stepped back since the change waited, so this is asked every time.
    if (!clock.withinDrift(w.hlc())) {
      waiting.remove(i);
      return false;
    }
    skipped++;
    return true;
  }

  /** Attempts skipped so far. */
  public long skipped() {
    return skipped;
  }

  /**
   * Change {@code i} ({@code ch}) has just failed a foreign key and was undone: when it can be
   * judged, its next turn asks whether applying it again is certain to fail ({@link #skip}).
   */
  public void failed(int i, Change ch) throws E {
    waiting.remove(i);
    if (rechecked.contains(i) || ch.deleted() || ch.cols() == null || ch.pk().size() != 1 || !(ch.pk().get(0) instanceof String key)
        || !wellFormed(key)) {
      return;
    }
    String ref = probe.selfReference(ch.table());
    if (ref == null) {
      return;
    }
    // The change names its columns as the schema does; the store's name of the reference may
    // differ in ASCII case only (SQLite's rule: "éup" and "Éup" are two columns).
    Object value = null;
    for (Map.Entry<String, Object> e : ch.cols().entrySet()) {
      if (Identifiers.same(e.getKey(), ref)) {
        value = e.getValue();
      }
    }
    // The attempt took the change's clock into the server's (Apply.decide), so taking it again
    // changes nothing. Unless the wall clock moved past the drift limit meanwhile: then the
    // attempt ticked the server's clock instead, and the next one would take the change's clock
    // in (found in review) - that attempt is made.
    Hlc h = Hlc.parse(ch.hlc());
    Hlc now = clock.current();
    boolean taken = now.millis() > h.millis() || (now.millis() == h.millis() && now.counter() >= h.counter());
    if (!(value instanceof String parent) || parent.equals(key) || !wellFormed(parent) || !clock.withinDrift(h) || !taken) {
      return;
    }
    failed.put(i, new Failed(h, ch.table(), key, Keys.canonical(ch.pk()), parent));
  }

  /**
   * Asks the probe again for every waiting change, and wakes those whose row or parent is no
   * longer absent; true if any woke. For a store whose transaction sees what other writers commit
   * meanwhile (PostgreSQL reads committed rows at each statement): a backend's commit during the
   * passes may bring a parent (found in review). A store calls it when a pass made no progress,
   * before it would end the passes, so a parent committed by then is seen as the passes without
   * skipping would have seen it (at a later pass, maybe: which pass sees a concurrent commit was
   * never fixed). A change it woke never waits again, so it adds at most one pass per change.
   */
  public boolean recheck() throws E {
    boolean woke = false;
    for (Map.Entry<Integer, Failed> e : new ArrayList<>(waiting.entrySet())) {
      Failed w = e.getValue();
      if (!probe.newAndParentAbsent(w.table(), w.key(), w.canonicalKey(), w.parent())) {
        waiting.remove(e.getKey());
        rechecked.add(e.getKey());
        woke = true;
      }
    }
    return woke;
  }

  /** Change {@code ch} has its answer (written, or refused): whoever waits for its row is tried again. */
  public void answered(Change ch) {
    if (waiting.isEmpty() || !tracked.contains(fold(ch.table()))) {
      return; // no change waits in that table
    }
    if (ch.pk().size() != 1 || !(ch.pk().get(0) instanceof String key) || !wellFormed(key)) {
      // A key the store may hold as another text than the Java value (a number into a text
      // key): it could be any waited-for key.
      waiting.clear();
      waiters.clear();
      return;
    }
    List<Integer> woken = waiters.remove(slot(ch.table(), key));
    if (woken != null) {
      woken.forEach(waiting::remove);
    }
  }

  /**
   * A table and key. Table names as SQLite compares them (ASCII case ignored); a store that tells
   * such names apart (PostgreSQL's quoted ones) only wakes more changes than it needs to.
   */
  private static String slot(String table, String key) {
    return fold(table) + '\u0000' + key;
  }

  private static String fold(String table) {
    return Identifiers.folded(table);
  }

  /** Whether a store holds {@code s} as the same characters (no lone surrogate, which UTF-8 cannot hold). */
  private static boolean wellFormed(String s) {
    return StandardCharsets.UTF_8.newEncoder().canEncode(s);
  }
}
