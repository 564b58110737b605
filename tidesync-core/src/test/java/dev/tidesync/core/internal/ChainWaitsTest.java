package dev.tidesync.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.HlcClock;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * ChainWaits' own rules, against a table held in memory (the stores' probes are tested with their
 * databases in ChainWaitsTest and PgChainWaitsTest): when a change waits, what wakes it, and
 * what keeps an attempt from being skipped (a clock the server has not taken in, a wall clock
 * that stepped back past the drift limit, a parent another writer committed).
 */
class ChainWaitsTest {
  private static final long DRIFT = 600_000;
  private final long start = 1_800_000_000_000L;
  private long wall = start;
  private final HlcClock clock = new HlcClock("server", () -> wall, DRIFT, null);

  /** The table n's keys, as a store's probe would find them; counts the questions. */
  private final Set<String> rows = new HashSet<>();
  private int asked;
  private final ChainWaits.Probe<RuntimeException> probe = new ChainWaits.Probe<>() {
    @Override
    public String selfReference(String table) {
      return table.equals("n") ? "up" : null;
    }

    @Override
    public boolean newAndParentAbsent(String table, String key, String canonicalKey, String parent) {
      asked++;
      return !rows.contains(key) && !rows.contains(parent);
    }
  };

  private Change up(Object id, Object parent, long millis) {
    Map<String, Object> cols = new HashMap<>();
    cols.put("up", parent);
    return new Change("n", List.of(id), false, cols, new Hlc(millis, 0, "dev-a").toString(), null, 0, 0);
  }

  /** A failed attempt as a store makes it: Apply.decide took the change's clock in first. */
  private void attemptFailed(ChainWaits<RuntimeException> w, int i, Change ch) {
    clock.receive(Hlc.parse(ch.hlc()));
    w.failed(i, ch);
  }

  @Test
  void aChangeWaitsFromItsNextTurnUntilItsParentOrItsOwnKeyIsAnswered() {
    ChainWaits<RuntimeException> w = new ChainWaits<>(probe, clock);
    Change c = up("c", "p", start + 1);
    attemptFailed(w, 0, c);
    assertThat(asked).as("nothing asked when it fails: a batch whose passes end asks nothing").isZero();
    assertThat(w.skip(0)).isTrue();
    assertThat(w.skip(0)).isTrue();
    assertThat(asked).as("asked once, at its first turn").isEqualTo(1);
    w.answered(up("q", null, start + 2));
    assertThat(w.skip(0)).as("another key answered").isTrue();
    w.answered(up("p", null, start + 3));
    assertThat(w.skip(0)).as("its parent answered").isFalse();

    attemptFailed(w, 0, c);
    assertThat(w.skip(0)).isTrue();
    w.answered(new Change("n", List.of("c"), true, null, new Hlc(start + 4, 0, "dev-a").toString(), null, 0, 0));
    assertThat(w.skip(0)).as("its own key answered (a delete of it)").isFalse();

    attemptFailed(w, 0, c);
    assertThat(w.skip(0)).isTrue();
    w.answered(up(7L, null, start + 5));
    assertThat(w.skip(0)).as("a number key in its table could be any text key").isFalse();
    assertThat(w.skipped()).isEqualTo(5);
  }

  @Test
  void aChangeWhoseRowOrParentIsThereAtItsTurnIsTried() {
    ChainWaits<RuntimeException> w = new ChainWaits<>(probe, clock);
    attemptFailed(w, 0, up("c", "p", start + 1));
    rows.add("p"); // written between its failure and its next turn, by any writer
    assertThat(w.skip(0)).isFalse();
    assertThat(w.skip(0)).as("tried once more only after failing again").isFalse();
  }

  @Test
  void onlyAnUpsertOfATextKeyNamingAnotherTextParentInATableWithAReferenceWaits() {
    ChainWaits<RuntimeException> w = new ChainWaits<>(probe, clock);
    attemptFailed(w, 0, up("c", "c", start + 1)); // refers to itself
    attemptFailed(w, 1, up("c", 5L, start + 2)); // a number parent
    attemptFailed(w, 2, up(5L, "p", start + 3)); // a number key
    attemptFailed(w, 3, up("c", null, start + 4));
    attemptFailed(w, 4, new Change("m", List.of("c"), false, Map.of("up", "p"), new Hlc(start + 5, 0, "dev-a").toString(), null, 0, 0));
    attemptFailed(w, 5, new Change("n", List.of("c"), true, null, new Hlc(start + 6, 0, "dev-a").toString(), null, 0, 0));
    attemptFailed(w, 6, up("c\uD800", "p", start + 7)); // a lone surrogate: no store holds it as it is
    for (int i = 0; i <= 6; i++) {
      assertThat(w.skip(i)).as("change %d", i).isFalse();
    }
    assertThat(asked).isZero();
  }

  @Test
  void aClockTheServerDidNotTakeInIsNeverSkipped() {
    // Beyond the drift limit, the attempt ticked the server's clock instead of taking the
    // change's in: the next attempt, once the wall has moved on, would take it in.
    ChainWaits<RuntimeException> w = new ChainWaits<>(probe, clock);
    Change c = up("c", "p", start + DRIFT + 500);
    clock.tick(); // what Apply.decide does with a clock beyond the drift
    wall += 1_000; // the wall moves past the limit before the store asks
    w.failed(0, c);
    assertThat(w.skip(0)).isFalse();
  }

  @Test
  void aWallClockThatSteppedBackBeyondTheDriftLimitMakesTheAttempt() {
    ChainWaits<RuntimeException> w = new ChainWaits<>(probe, clock);
    wall = start + 1_000;
    attemptFailed(w, 0, up("c", "p", start + DRIFT + 500));
    assertThat(w.skip(0)).isTrue();
    wall = start; // the change's clock is beyond the limit again: its attempt would be restamped
    assertThat(w.skip(0)).isFalse();
    wall = start + 1_000;
    assertThat(w.skip(0)).as("no longer waiting: it is tried, and waits again only after failing again").isFalse();
  }

  @Test
  void recheckWakesAChangeWhoseParentAnotherWriterCommittedAndItNeverWaitsAgain() {
    ChainWaits<RuntimeException> w = new ChainWaits<>(probe, clock);
    Change c = up("c", "p", start + 1);
    attemptFailed(w, 0, c);
    assertThat(w.skip(0)).isTrue();
    assertThat(w.recheck()).as("nothing changed").isFalse();
    assertThat(w.skip(0)).isTrue();
    rows.add("p"); // a backend's commit, seen by the store's next statement
    assertThat(w.recheck()).isTrue();
    assertThat(w.skip(0)).isFalse();
    rows.remove("p"); // and gone again: the change fails again, but is not skipped any more
    attemptFailed(w, 0, c);
    assertThat(w.skip(0)).isFalse();
  }
}
