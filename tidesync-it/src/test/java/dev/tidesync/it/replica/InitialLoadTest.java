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
 * Rows that were in the file before Tidesync first opened it (the initial load), on every store.
 * A table with a one-column key keeps them out of the metadata until they are pushed (see
 * DeviceReplica.loadExisting): they must still go up once, whole, with the values they have when
 * they go, at the clock of the moment the device first opened the file. Seeded; replay with
 * {@code -Dtidesync.seed=N}.
 */
class InitialLoadTest extends ReplicaTestSupport {
  private static final String PARENTS = "SELECT id, name, n FROM parent ORDER BY id";
  private static final String CHILDREN = "SELECT id, parent, v FROM child ORDER BY id";

  @Test
  void rowsThatWereThereGoUpInOneSyncOnceAndComeDownWhole() throws Exception {
    long seed = Long.getLong("tidesync.seed", System.nanoTime());
    SplittableRandom rnd = new SplittableRandom(seed);
    sql(a, "CREATE TABLE parent (id TEXT PRIMARY KEY, name TEXT, n INTEGER)",
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent TEXT NOT NULL REFERENCES parent (id), v REAL)");
    List<String> ids = new ArrayList<>();
    // Keys SQLite spells as Tidesync does wait in the table; the others (a space, an accent, the
    // empty text) go into the metadata at once. Both kinds must go up exactly once.
    ids.addAll(List.of("with space", "é-accent", "", "quote\"d"));
    try (Connection c = Db.connect(a)) {
      c.setAutoCommit(false);
      try (PreparedStatement p = c.prepareStatement("INSERT INTO parent VALUES (?, ?, ?)");
          PreparedStatement ch = c.prepareStatement("INSERT INTO child VALUES (?, ?, ?)")) {
        for (int i = 0; i < 1200; i++) {
          ids.add(new UUID(rnd.nextLong(), rnd.nextLong()).toString());
        }
        for (int i = 0; i < ids.size(); i++) {
          p.setString(1, ids.get(i));
          p.setString(2, "p" + i);
          p.setLong(3, rnd.nextLong());
          p.executeUpdate();
        }
        for (int i = 0; i < 2300; i++) {
          ch.setLong(1, rnd.nextLong(Long.MIN_VALUE / 2, Long.MAX_VALUE / 2));
          ch.setString(2, ids.get(rnd.nextInt(ids.size())));
          ch.setDouble(3, rnd.nextDouble());
          ch.executeUpdate();
        }
      }
      c.commit();
    }
    int total = ids.size() + Integer.parseInt(Db.one(a, "SELECT count(*) FROM child"));
    TidesyncClient ca = cluster.device("a", b -> b.batchLimit(300));
    assertThat(ca.status().pendingTotal()).as("seed %d: rows waiting count as pending", seed).isEqualTo(total);
    SyncReport r = ca.flush();
    assertThat(r.ok()).as("seed %d: %s", seed, r).isTrue();
    assertThat(r.pushed()).as("seed %d: every row once", seed).isEqualTo(total);
    assertThat(r.applied()).isEqualTo(total);
    assertThat(cluster.serverRows(PARENTS)).isEqualTo(rows(a, PARENTS));
    // (REALs are compared between the devices below: each database writes them as text its own way.)
    String links = "SELECT id, parent FROM child ORDER BY id";
    assertThat(cluster.serverRows(links)).isEqualTo(rows(a, links));
    assertThat(ca.status().pendingTotal()).isZero();

    // Nothing goes twice, and the next sync finds every row of the load in the metadata.
    SyncReport again = ca.flush();
    assertThat(again.pushed()).as("seed %d: %s", seed, again).isZero();
    assertThat(Db.one(a, "SELECT count(*) FROM _tidesync_meta WHERE k LIKE 'load:%'")).isEqualTo("0");
    assertThat(Db.one(a, "SELECT count(*) FROM _tidesync_rows WHERE dirty = 0")).isEqualTo(Integer.toString(total));

    TidesyncClient cb = cluster.device("b", b -> b.pullLimit(700));
    assertThat(cb.flush().ok()).isTrue();
    assertThat(rows(b, PARENTS)).isEqualTo(rows(a, PARENTS));
    assertThat(rows(b, CHILDREN)).isEqualTo(rows(a, CHILDREN));
  }

  @Test
  void writesMadeToRowsThatWereThereBeforeTheirFirstPushGoUpAsTheRowsAreThen() throws Exception {
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)",
        "INSERT INTO items VALUES ('i1', 'one', 1), ('i2', 'two', 2), ('i3', 'three', 3), ('i4', 'four', 4)");
    TidesyncClient ca = cluster.device("a");
    assertThat(ca.status().pendingTotal()).isEqualTo(4);
    // Before any push: a waiting row updated (its other column must still go), one deleted (it
    // must never reach the server), a new row.
    sql(a, "UPDATE items SET qty = 99 WHERE id = 'i1'", "DELETE FROM items WHERE id = 'i2'", "INSERT INTO items VALUES ('i5', 'five', 5)");
    SyncReport r = ca.flush();
    assertThat(r.ok()).as("%s", r).isTrue();
    String all = "SELECT id, name, qty FROM items ORDER BY id";
    assertThat(cluster.serverRows(all)).containsExactly("i1|one|99", "i3|three|3", "i4|four|4", "i5|five|5");
    assertThat(ca.flush().pushed()).isZero();
    TidesyncClient cb = cluster.device("b");
    assertThat(cb.flush().ok()).isTrue();
    assertThat(rows(b, all)).isEqualTo(rows(a, all));
  }

  @Test
  void aWriteMadeElsewhereAfterTheDeviceFirstOpenedItsFileWinsOverTheRowThatWasThere() throws Exception {
    // The rows of a load take the clock of the moment the device first opened the file, not of
    // their push: a row that was there loses to a newer write of the same row made elsewhere
    // meanwhile, exactly as if it had been pushed at once.
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)", "INSERT INTO items VALUES ('k', 'old', 1), ('a-only', 'x', 0)");
    TidesyncClient ca = cluster.device("a");
    Thread.sleep(15); // a later wall-clock millisecond, so a newer clock
    sql(b, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)", "INSERT INTO items VALUES ('k', 'new', 2)");
    TidesyncClient cb = cluster.device("b");
    assertThat(cb.flush().ok()).isTrue();

    SyncReport r = ca.flush();
    assertThat(r.ok()).as("%s", r).isTrue();
    String all = "SELECT id, name, qty FROM items ORDER BY id";
    assertThat(cluster.serverRows(all)).containsExactly("a-only|x|0", "k|new|2");
    assertThat(rows(a, all)).containsExactly("a-only|x|0", "k|new|2");
    assertThat(cb.flush().ok()).isTrue();
    assertThat(rows(b, all)).isEqualTo(rows(a, all));
  }
}
