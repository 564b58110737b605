package dev.tidesync.core.internal;

import dev.tidesync.core.Merge;
import dev.tidesync.core.MergeResult;
import dev.tidesync.core.RowState;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.HlcClock;
import dev.tidesync.protocol.TableSchema;

/**
 * What a server store does with one pushed change, decided the same way by every store: the
 * clock check, the merge, whether the row gets a new version, whether the conflict is logged and
 * what the pusher is told. The store only reads the stored state and writes what is decided.
 */
public final class Apply {
  private Apply() {}

  /**
   * @param merge the merge of the change into the stored row
   * @param newVersion the row gets a new version (its state changed, or the pusher's change lost)
   * @param clean the pusher's change won unmodified: the row's origin is the pusher (no echo)
   * @param logConflict the change was made on an older base and is written to the conflict log
   */
  public record Decision(MergeResult merge, boolean newVersion, boolean clean, boolean logConflict) {
    public String status() {
      if (logConflict) {
        return ChangeResult.CONFLICT;
      }
      return clean || merge.outcome() == MergeResult.Outcome.DUPLICATE ? ChangeResult.APPLIED : ChangeResult.MERGED;
    }
  }

  /** Decides {@code ch} against {@code stored} (null: a row the store never had); advances {@code clock}. */
  public static Decision decide(TableSchema t, RowState stored, Change ch, HlcClock clock) {
    boolean conflict = stored != null && ch.base() < stored.version();
    Change in = ch;
    boolean clamped = false;
    Hlc h = Hlc.parse(ch.hlc());
    if (!clock.withinDrift(h)) {
      // A clock further ahead than the allowed drift would win every conflict until real time
      // caught up: the change is restamped with the server's clock instead.
      in = new Change(ch.table(), ch.pk(), ch.deleted(), ch.cols(), clock.tick().toString(), null, ch.base(), 0);
      clamped = true;
    } else {
      clock.receive(h);
    }
    MergeResult m = Merge.merge(t, stored, in);
    boolean clean = !conflict && !clamped && m.outcome() == MergeResult.Outcome.INCOMING;
    // A row the pusher does not hold as it is now (merged, or its change lost) gets a new version
    // with no origin, so the pusher pulls the winning state like everyone else.
    boolean newVersion = m.changed() || m.outcome() == MergeResult.Outcome.STORED;
    return new Decision(m, newVersion, clean, conflict && m.outcome() != MergeResult.Outcome.DUPLICATE);
  }
}
