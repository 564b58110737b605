package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetStore;
import dev.tidesync.protocol.Change;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The push order of a table that refers to itself: parents first across batches, and key order
 * (whose refusals go in a later push) when more rows are pending than the order may hold in memory.
 */
class ParentsFirstTest {
  @TempDir Path dir;

  @AfterEach
  void reset() {
    DeviceReplica.parentsFirstMax = 250_000;
  }

  /** A chain of 30 whose parents sort after their children: n30 is the root, n29's parent is n30, ... */
  private Path chain() throws Exception {
    Path db = dir.resolve("app.db");
    TestDb.sql(db, "CREATE TABLE nodes (id TEXT PRIMARY KEY, parent TEXT REFERENCES nodes (id))",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30) INSERT INTO nodes "
            + "SELECT printf('n%02d', i), CASE WHEN i = 30 THEN NULL ELSE printf('n%02d', i + 1) END FROM n");
    return db;
  }

  /** Pushes everything pending in batches of 5 to the store; the keys in the order they were sent, and what was refused. */
  private static List<String> push(DeviceReplica replica, DatasetStore store, List<String> refused) {
    List<String> sent = new ArrayList<>();
    replica.absorb();
    Scans.eachBatch(replica, 5, req -> {
      for (Change c : req.changes()) {
        sent.add((String) c.pk().get(0));
      }
      refused.addAll(replica.recordPushResult(req, store.push(req)).errors());
    });
    return sent;
  }

  @Test
  void parentsGoFirstAcrossBatches() throws Exception {
    Path db = chain();
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"));
        DeviceReplica replica = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      List<String> refused = new ArrayList<>();
      List<String> sent = push(replica, storage.openOrCreate("ds"), refused);
      assertThat(sent).hasSize(30).startsWith("n30", "n29", "n28").endsWith("n02", "n01");
      assertThat(refused).isEmpty();
      assertThat(replica.pending().total()).isZero();
    }
  }

  @Test
  void moreRowsThanTheOrderMayHoldGoInKeyOrderAndTheRefusedOnesInALaterPush() throws Exception {
    DeviceReplica.parentsFirstMax = 10;
    Path db = chain();
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"));
        DeviceReplica replica = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      DatasetStore store = storage.openOrCreate("ds");
      List<String> refused = new ArrayList<>();
      List<String> sent = push(replica, store, refused);
      assertThat(sent).startsWith("n01", "n02", "n03");
      assertThat(refused).isNotEmpty().allSatisfy(e -> assertThat(e).contains("FOREIGN KEY"));
      assertThat(replica.pending().failed()).as("refused as retriable: still pending, not failed").isEmpty();
      // Later pushes take the rest as their parents arrive.
      for (int i = 0; i < 10 && replica.pending().total() > 0; i++) {
        push(replica, store, new ArrayList<>());
      }
      assertThat(replica.pending().total()).isZero();
    }
  }
}
