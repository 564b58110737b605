package dev.tidesync.core;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.Values;
import dev.tidesync.protocol.internal.OwnedMap;
import java.util.Map;

/**
 * The merge function every replica applies. It is a join of max-registers, so it is commutative,
 * associative and idempotent: replicas that have merged the same changes hold the same rows in
 * whatever order (and however often) the changes arrived.
 *
 * <ul>
 *   <li>each column is a register holding the value with the newest clock;</li>
 *   <li>{@code live} and {@code dead} hold the newest upsert and delete clocks; the row exists
 *       when live is newer;</li>
 *   <li>{@code last-write-wins} is the same join over whole-row images: every column of an
 *       incoming upsert carries the change's single clock, so the newest image wins entirely.</li>
 * </ul>
 * Clocks compare as (millis, counter, node); one node never issues the same clock twice, so two
 * different values never tie.
 */
public final class Merge {
  private Merge() {}

  public static MergeResult merge(TableSchema table, RowState stored, Change in) {
    boolean lww = table.policy() == ConflictPolicy.LAST_WRITE_WINS;
    // Handed to the result's RowState as they are (OwnedMap): built here for it alone.
    int size = table.columns().size();
    Map<String, Object> values = new OwnedMap<>(size);
    Map<String, String> clocks = new OwnedMap<>(size);
    String live = null;
    String dead = null;
    long version = 0;
    if (stored != null) {
      values.putAll(stored.values());
      clocks.putAll(stored.clocks());
      live = stored.live();
      dead = stored.dead();
      version = stored.version();
    }
    boolean anyIncoming = false;
    boolean anyStoredKept = false;
    boolean changed = false;
    if (in.deleted()) {
      if (Clocks.newer(in.hlc(), dead)) {
        dead = in.hlc();
        changed = true;
        anyIncoming = true;
      } else if (!in.hlc().equals(dead)) {
        anyStoredKept = true;
      }
    } else {
      if (Clocks.newer(in.hlc(), live)) {
        live = in.hlc();
        changed = true;
      }
      for (Map.Entry<String, Object> e : in.cols().entrySet()) {
        String col = e.getKey();
        String clock = lww ? in.hlc() : in.clockOf(col);
        String have = clocks.get(col);
        if (Clocks.newer(clock, have)) {
          clocks.put(col, clock);
          if (!values.containsKey(col) || !Values.same(values.get(col), e.getValue())) {
            values.put(col, e.getValue());
          }
          changed = true;
          anyIncoming = true;
        } else if (!clock.equals(have)) {
          anyStoredKept = true;
        }
      }
      for (int i = 0; i < table.primaryKey().size(); i++) {
        values.putIfAbsent(table.primaryKey().get(i), in.pk().get(i));
      }
    }
    boolean existedBefore = stored != null && !stored.deleted();
    RowState after = new RowState(values, clocks, live, dead, version);
    boolean existsAfter = !after.deleted();
    if (existedBefore != existsAfter) {
      changed = true;
    }
    MergeResult.Outcome outcome;
    if (!changed) {
      outcome = anyStoredKept ? MergeResult.Outcome.STORED : MergeResult.Outcome.DUPLICATE;
    } else if (!anyStoredKept && (in.deleted() ? !existsAfter : existsAfter)) {
      outcome = MergeResult.Outcome.INCOMING;
    } else if (!anyIncoming && existsAfter == existedBefore) {
      outcome = MergeResult.Outcome.STORED;
    } else {
      outcome = MergeResult.Outcome.MERGED;
    }
    return new MergeResult(after, changed, outcome);
  }
}
