package dev.tidesync.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetStore;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.sqlite.SqliteStorage;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A device whose clock is hours fast must not win every later conflict. */
class ClockDriftTest {
  @TempDir Path dir;

  static final TableSchema T = new TableSchema("t", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("v", "TEXT", false, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);

  static PushRequest push(String device, String batch, String value, Hlc hlc, long base) {
    return new PushRequest("d", device, batch, List.of(T),
        List.of(new Change("t", List.of("k"), false, Map.of("v", value), hlc.toString(), null, base, 0)));
  }

  @Test
  void aClockBeyondTheMaximumDriftIsRestampedAndLosesToALaterWrite() {
    AtomicLong now = new AtomicLong(1_800_000_000_000L);
    try (SqliteStorage storage = SqliteStorage.open(dir, now::get, 60_000)) {
      DatasetStore store = storage.openOrCreate("d");
      // Six hours fast: far beyond the one-minute drift allowed here.
      PushResult fast = store.push(push("fast", "b1", "from the future", new Hlc(now.get() + 6 * 3_600_000L, 0, "fast"), 0));
      assertThat(fast.results().get(0).status()).isEqualTo(ChangeResult.MERGED);
      PullPage page = store.pull(null, 100, "observer");
      Hlc stored = Hlc.parse(page.changes().get(0).hlc());
      assertThat(stored.millis()).as("restamped with the server's clock").isLessThanOrEqualTo(now.get());
      // Ten seconds later an honest device writes the same column: it wins.
      now.addAndGet(10_000);
      long base = page.changes().get(0).version();
      store.push(push("honest", "b2", "from now", new Hlc(now.get(), 0, "honest"), base));
      PullPage after = store.pull(null, 100, "observer");
      assertThat(after.changes().get(0).cols()).containsEntry("v", "from now");
      // A clock within the drift is taken as it is.
      Hlc slightlyAhead = new Hlc(now.get() + 30_000, 0, "near");
      PushResult near = store.push(push("near", "b3", "slightly ahead", slightlyAhead, after.changes().get(0).version()));
      assertThat(near.results().get(0).status()).isEqualTo(ChangeResult.APPLIED);
      assertThat(store.pull(null, 100, "observer").changes().get(0).hlc()).isEqualTo(slightlyAhead.toString());
    }
  }
}
