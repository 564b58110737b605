package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * A table that refers to itself (a tree with a second cross link), keys in no order: the device
 * pushes it parents first across batches, so one sync takes all of it to the server, on every
 * store, and a new device bootstraps it whole; the whole tree deleted at once also goes in one
 * sync. Seeded; replay with {@code -Dtidesync.seed=N}.
 */
class SelfReferenceTest extends ReplicaTestSupport {
  @Test
  void aTreeWithRandomKeysGoesUpInOneSyncAndComesDownWhole() throws Exception {
    long seed = Long.getLong("tidesync.seed", System.nanoTime());
    SplittableRandom rnd = new SplittableRandom(seed);
    sql(a, "CREATE TABLE tree (id TEXT PRIMARY KEY, parent TEXT REFERENCES tree (id), link TEXT REFERENCES tree (id), v INTEGER)");
    List<String> ids = new ArrayList<>();
    try (Connection c = Db.connect(a)) {
      c.setAutoCommit(false);
      try (PreparedStatement s = c.prepareStatement("INSERT INTO tree VALUES (?, ?, ?, ?)")) {
        for (int i = 0; i < 700; i++) {
          String id = new UUID(rnd.nextLong(), rnd.nextLong()).toString();
          s.setString(1, id);
          s.setString(2, i == 0 || rnd.nextInt(8) == 0 ? null : ids.get(rnd.nextInt(ids.size())));
          s.setString(3, i == 0 || rnd.nextInt(2) == 0 ? null : ids.get(rnd.nextInt(ids.size())));
          s.setInt(4, i);
          s.executeUpdate();
          ids.add(id);
        }
      }
      c.commit();
    }
    TidesyncClient ca = cluster.device("a", b -> b.batchLimit(50));
    SyncReport r = ca.flush();
    assertThat(r.ok()).as("seed %d: %s", seed, r).isTrue();
    assertThat(r.applied()).as("seed %d", seed).isEqualTo(700);
    assertThat(cluster.serverValue("SELECT count(*) FROM tree")).isEqualTo("700");

    // New leaves under random nodes, and an old node moved under a new one: parents first again.
    sql(a, "INSERT INTO tree VALUES ('zz-new-1', '" + ids.get(rnd.nextInt(ids.size())) + "', NULL, 1000)",
        "INSERT INTO tree VALUES ('aa-new-2', 'zz-new-1', NULL, 1001)",
        "UPDATE tree SET parent = 'aa-new-2' WHERE id = '" + ids.get(rnd.nextInt(1, ids.size())) + "'");
    SyncReport again = ca.flush();
    assertThat(again.ok()).as("seed %d: %s", seed, again).isTrue();
    assertThat(again.applied()).isEqualTo(3);

    TidesyncClient cb = cluster.device("b", b -> b.pullLimit(60));
    assertThat(cb.flush().ok()).isTrue();
    assertThat(rows(b, "SELECT id, parent, link, v FROM tree ORDER BY id")).isEqualTo(rows(a, "SELECT id, parent, link, v FROM tree ORDER BY id"));

    // The whole tree deleted at once: the deletes go in key order, so a batch holds parents whose
    // children are in later batches, which the server refuses (retriable) until those are gone.
    // One sync still takes every delete to the server: it pushes again while that makes progress.
    sql(a, "DELETE FROM tree");
    SyncReport gone = ca.flush();
    assertThat(gone.ok()).as("seed %d: %s", seed, gone).isTrue();
    assertThat(ca.status().pendingTotal()).as("seed %d", seed).isZero();
    assertThat(cluster.serverValue("SELECT count(*) FROM tree")).isEqualTo("0");
    assertThat(cb.flush().ok()).isTrue();
    assertThat(Db.one(b, "SELECT count(*) FROM tree")).isEqualTo("0");
  }

  /**
   * A cycle: a root moved under its own grandchild. No row of it can reach the server before the
   * others, and with one row per batch no batch holds all of them: the rows refused for now go
   * once more, together, and the server applies them as one group. Deleted whole, the same.
   */
  @Test
  void aCycleSplitAcrossBatchesGoesUpAndIsDeletedInOneSync() throws Exception {
    sql(a, "CREATE TABLE tree (id TEXT PRIMARY KEY, parent TEXT REFERENCES tree (id), v INTEGER)",
        "INSERT INTO tree VALUES ('r', NULL, 1)", "INSERT INTO tree VALUES ('x', 'r', 2)", "INSERT INTO tree VALUES ('y', 'x', 3)",
        "INSERT INTO tree VALUES ('leaf', 'y', 4)", "UPDATE tree SET parent = 'y' WHERE id = 'r'");
    TidesyncClient ca = cluster.device("a", b -> b.batchLimit(1));
    SyncReport up = ca.flush();
    assertThat(up.ok()).as("%s", up).isTrue();
    assertThat(up.applied()).isEqualTo(4);
    assertThat(ca.status().pendingTotal()).isZero();
    assertThat(cluster.serverValue("SELECT count(*) FROM tree")).isEqualTo("4");

    TidesyncClient cb = cluster.device("b", b -> b.pullLimit(1));
    assertThat(cb.flush().ok()).isTrue();
    assertThat(rows(b, "SELECT id, parent, v FROM tree ORDER BY id")).isEqualTo(rows(a, "SELECT id, parent, v FROM tree ORDER BY id"));

    sql(a, "DELETE FROM tree");
    SyncReport gone = ca.flush();
    assertThat(gone.ok()).as("%s", gone).isTrue();
    assertThat(ca.status().pendingTotal()).isZero();
    assertThat(cluster.serverValue("SELECT count(*) FROM tree")).isEqualTo("0");
    assertThat(cb.flush().ok()).isTrue();
    assertThat(Db.one(b, "SELECT count(*) FROM tree")).isEqualTo("0");
  }

  /**
   * Two tables that refer to each other, a team and its lead: neither table's rows can go first.
   * The server creates both tables, the rows go up in one sync (the rows refused for now go
   * together in a last batch) and come down whole; deleted, the same.
   */
  @Test
  void twoTablesThatReferToEachOtherSyncBothWays() throws Exception {
    sql(a, "CREATE TABLE team (id TEXT PRIMARY KEY, name TEXT, lead TEXT REFERENCES person (id))",
        "CREATE TABLE person (id TEXT PRIMARY KEY, name TEXT, team TEXT REFERENCES team (id))",
        "INSERT INTO team VALUES ('t1', 'field', NULL)", "INSERT INTO team VALUES ('t2', 'office', NULL)",
        "INSERT INTO person VALUES ('p1', 'Ada', 't1')", "INSERT INTO person VALUES ('p2', 'Ben', 't2')",
        "INSERT INTO person VALUES ('p3', 'Cy', 't1')",
        "UPDATE team SET lead = 'p1' WHERE id = 't1'", "UPDATE team SET lead = 'p2' WHERE id = 't2'");
    TidesyncClient ca = cluster.device("a");
    SyncReport up = ca.flush();
    assertThat(up.ok()).as("%s", up).isTrue();
    assertThat(up.applied()).isEqualTo(5);
    assertThat(cluster.serverValue("SELECT count(*) FROM person")).isEqualTo("3");

    TidesyncClient cb = cluster.device("b");
    assertThat(cb.flush().ok()).isTrue();
    for (String q : List.of("SELECT id, name, lead FROM team ORDER BY id", "SELECT id, name, team FROM person ORDER BY id")) {
      assertThat(rows(b, q)).isEqualTo(rows(a, q));
    }

    sql(a, "DELETE FROM team", "DELETE FROM person");
    SyncReport gone = ca.flush();
    assertThat(gone.ok()).as("%s", gone).isTrue();
    assertThat(ca.status().pendingTotal()).isZero();
    assertThat(cluster.serverValue("SELECT count(*) FROM team")).isEqualTo("0");
    assertThat(cluster.serverValue("SELECT count(*) FROM person")).isEqualTo("0");
  }
}
