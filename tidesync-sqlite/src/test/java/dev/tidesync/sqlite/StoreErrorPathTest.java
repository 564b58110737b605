package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An Error (here an OutOfMemoryError injected at the clock seam) in the middle of a push whose
 * writes are queued as JDBC batches: the push rolls back whole, and nothing it queued reaches a
 * later transaction (found by review: a later pull committed the failed push's row, and a backend
 * row's version was skipped by another device's cursor).
 */
class StoreErrorPathTest {
  static final TableSchema ITEMS = new TableSchema("items", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("name", "TEXT", false, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);

  @TempDir Path dir;
  long millis = System.currentTimeMillis() - 60_000;

  private Change up(String id, String name) {
    return new Change("items", List.of(id), false, Map.of("name", name), new Hlc(++millis, 0, "dev-a").toString(), null, 0, 0);
  }

  private static void push(SqliteDatasetStore s, Change... changes) {
    s.push(new PushRequest(s.name(), "dev-a", UUID.randomUUID().toString(), List.of(ITEMS), List.of(changes)));
  }

  @Test
  void anErrorMidBatchRollsThePushBackAndLeavesNoQueuedWriteBehind() throws Exception {
    AtomicInteger failAt = new AtomicInteger(-1);
    // Throws on the n-th drift check of a pushed clock once armed: inside the batch, after the
    // first change's writes were queued.
    WallClock wall = () -> {
      boolean inDriftCheck = StackWalker.getInstance().walk(f -> f.anyMatch(x -> x.getMethodName().equals("withinDrift")));
      if (inDriftCheck && failAt.get() > 0 && failAt.decrementAndGet() == 0) {
        throw new OutOfMemoryError("injected");
      }
      return System.currentTimeMillis();
    };
    Path file = dir.resolve("ds.db");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, wall, 60_000)) {
      push(s, up("i0", "zero"));
      failAt.set(2);
      assertThatThrownBy(() -> push(s, up("i1", "one"), up("i2", "two"))).isInstanceOf(OutOfMemoryError.class);
      TestDb.sql(file, "INSERT INTO items (id, name) VALUES ('z', 'backend')");
      List<Change> seen = new ArrayList<>();
      String cursor = null;
      for (int i = 0; i < 10; i++) {
        PullPage p = s.pull(cursor, 1000, "dev-b");
        seen.addAll(p.changes());
        cursor = p.cursor();
        if (!p.hasMore()) {
          break;
        }
      }
      assertThat(TestDb.rows(file, "SELECT id FROM items ORDER BY id")).containsExactly("i0", "z");
      assertThat(seen).extracting(c -> c.pk().get(0)).containsExactly("i0", "z");
      // The store still works, and the failed batch applies when sent again.
      push(s, up("i1", "one"), up("i2", "two"));
      assertThat(TestDb.rows(file, "SELECT id FROM items ORDER BY id")).containsExactly("i0", "i1", "i2", "z");
    }
  }

  @Test
  void aBatchSentChangeByChangeAfterFailingWholeLeavesNoGapInTheVersions() throws Exception {
    // The whole batch is tried in one transaction, which a failing change rolls back; the batch
    // is then applied change by change in a new one. The embedded store's versions are gap-free
    // (PROTOCOL.md): the rolled-back attempt's versions are taken again, not skipped, and the
    // backend row it had versioned is versioned once.
    Path file = dir.resolve("ds.db");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      push(s, up("i0", "zero"));
      TestDb.sql(file, "CREATE UNIQUE INDEX items_name ON items (name)");
      TestDb.sql(file, "INSERT INTO items (id, name) VALUES ('z', 'backend')");
      PushRequest req = new PushRequest(s.name(), "dev-a", UUID.randomUUID().toString(), List.of(ITEMS),
          List.of(up("i1", "zero"), up("i2", "two")));
      assertThat(s.push(req).results()).extracting(r -> r.status()).containsExactly("rejected", "applied");
      List<Change> seen = s.pull(null, 1000, "dev-b").changes();
      assertThat(seen).extracting(c -> c.pk().get(0) + "@" + c.version()).containsExactly("i0@1", "z@2", "i2@3");
      assertThat(TestDb.rows(file, "SELECT id FROM items ORDER BY id")).containsExactly("i0", "i2", "z");
      assertThat(s.push(new PushRequest(s.name(), "dev-a", UUID.randomUUID().toString(), List.of(ITEMS), List.of(up("i3", "three"))))
          .results().get(0).version()).isEqualTo(4);
    }
  }
}
