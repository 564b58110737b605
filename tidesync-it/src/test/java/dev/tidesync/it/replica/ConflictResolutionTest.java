package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.core.ConflictRecord;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.TableSchema;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Deletes travel as tombstones; concurrent writes are resolved by HLC under each table's policy. */
class ConflictResolutionTest extends ReplicaTestSupport {
  private static final String ROW = "SELECT id, name, qty, note FROM items ORDER BY id";

  private TidesyncClient ca;
  private TidesyncClient cb;

  /** A creates the table with one row, B bootstraps it: both hold ('r1', 'orig', 1, 'n'). */
  private void twoSyncedDevices() throws Exception {
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER, note TEXT)",
        "INSERT INTO items VALUES ('r1', 'orig', 1, 'n'), ('keep', 'k', 0, NULL)");
    ca = cluster.device("a");
    cb = cluster.device("b");
    ca.flush();
    cb.flush();
    assertThat(rows(b, ROW)).containsExactly("keep|k|0|null", "r1|orig|1|n");
  }

  /** Makes sure the next write gets a later wall-clock millisecond (and so a newer HLC) than the last. */
  private static void tick() throws InterruptedException {
    Thread.sleep(15);
  }

  private List<String> serverRows() throws Exception {
    return cluster.serverRows(ROW);
  }

  @Test
  void aDeleteTravelsAsATombstone() throws Exception {
    twoSyncedDevices();
    sql(a, "DELETE FROM items WHERE id = 'r1'");
    SyncReport ra = ca.flush();
    assertThat(ra.pushed()).isEqualTo(1);
    assertThat(serverRows()).containsExactly("keep|k|0|null");
    // the server keeps a tombstone: a delete clock newer than the row's last write
    String tomb = cluster.serverValue("SELECT live || ' ' || dead FROM _tidesync_rows WHERE tbl = 'items' AND pk = '[\"r1\"]'");
    assertThat(tomb).isNotNull();
    String[] clocks = tomb.split(" ");
    assertThat(Hlc.parse(clocks[1])).isGreaterThan(Hlc.parse(clocks[0]));

    SyncReport rb = cb.flush();
    assertThat(rb.pulled()).isEqualTo(1);
    assertThat(rows(b, ROW)).containsExactly("keep|k|0|null");
    assertThat(cb.flush().pushed()).as("the pulled delete is not pushed back").isZero();

    // a device that bootstraps later never sees the deleted row
    SyncReport rc = cluster.device("c").flush();
    assertThat(rc.bootstrap()).isTrue();
    assertThat(rows(cluster.db("c"), ROW)).containsExactly("keep|k|0|null");
  }

  /**
   * A deletes row r1 while B concurrently updates its qty. The newer of the two (by HLC) wins,
   * whichever device pushes first. If the update is newer, the row survives with every column it
   * had plus B's edit; if the delete is newer, the row is gone everywhere.
   */
  @ParameterizedTest(name = "delete newer: {0}, deleting device pushes first: {1}")
  @CsvSource({"true, true", "true, false", "false, true", "false, false"})
  void aDeleteAndAConcurrentUpdateAreResolvedByHlcUnderFieldMerge(boolean deleteNewer, boolean deleterFirst) throws Exception {
    twoSyncedDevices();
    if (deleteNewer) {
      sql(b, "UPDATE items SET qty = 42 WHERE id = 'r1'");
      tick();
      sql(a, "DELETE FROM items WHERE id = 'r1'");
    } else {
      sql(a, "DELETE FROM items WHERE id = 'r1'");
      tick();
      sql(b, "UPDATE items SET qty = 42 WHERE id = 'r1'");
    }
    TidesyncClient first = deleterFirst ? ca : cb;
    TidesyncClient second = deleterFirst ? cb : ca;
    first.flush();
    SyncReport r2 = second.flush();
    assertThat(r2.conflicts()).as("the second push is a conflict").isEqualTo(1);
    first.flush();
    second.flush();

    List<String> expected = deleteNewer ? List.of("keep|k|0|null") : List.of("keep|k|0|null", "r1|orig|42|n");
    assertThat(serverRows()).isEqualTo(expected);
    assertThat(rows(a, ROW)).isEqualTo(expected);
    assertThat(rows(b, ROW)).isEqualTo(expected);
    assertThat(ca.flush().pushed() + cb.flush().pushed()).as("settled: nothing left to push").isZero();

    List<ConflictRecord> conflicts = cluster.dataset().conflicts(0, 10);
    assertThat(conflicts).hasSize(1);
    assertThat(conflicts.get(0).table()).isEqualTo("items");
    assertThat(conflicts.get(0).policy()).isEqualTo("field-merge");
  }

  @Test
  void lastWriteWinsSetPerTableMakesTheWholeNewerRowWinWhileFieldMergeKeepsBothEdits() throws Exception {
    sql(a, "CREATE TABLE lww (id TEXT PRIMARY KEY, x TEXT, y TEXT)", "CREATE TABLE fm (id TEXT PRIMARY KEY, x TEXT, y TEXT)",
        "INSERT INTO lww VALUES ('r', 'x0', 'y0')", "INSERT INTO fm VALUES ('r', 'x0', 'y0')");
    ca = cluster.device("a", c -> c.policy("lww", ConflictPolicy.LAST_WRITE_WINS));
    cb = cluster.device("b"); // no policy of its own: it learns the table and its policy from the server
    ca.flush();
    cb.flush();
    assertThat(cb.replica().tables()).filteredOn(t -> t.name().equals("lww")).extracting(TableSchema::policy)
        .containsExactly(ConflictPolicy.LAST_WRITE_WINS);
    assertThat(cb.replica().tables()).filteredOn(t -> t.name().equals("fm")).extracting(TableSchema::policy)
        .containsExactly(ConflictPolicy.FIELD_MERGE);

    // A edits x, then later B edits y of the same row, concurrently (neither has seen the other)
    sql(a, "UPDATE lww SET x = 'xA' WHERE id = 'r'", "UPDATE fm SET x = 'xA' WHERE id = 'r'");
    tick();
    sql(b, "UPDATE lww SET y = 'yB' WHERE id = 'r'", "UPDATE fm SET y = 'yB' WHERE id = 'r'");
    ca.flush();
    SyncReport rb = cb.flush();
    assertThat(rb.conflicts()).isEqualTo(2);
    ca.flush();

    for (Path db : List.of(a, b)) {
      assertThat(rows(db, "SELECT id, x, y FROM lww")).as("lww in %s: exactly B's newer image", db.getFileName()).containsExactly("r|x0|yB");
      assertThat(rows(db, "SELECT id, x, y FROM fm")).as("fm in %s: both edits", db.getFileName()).containsExactly("r|xA|yB");
    }
    assertThat(cluster.serverRows("SELECT id, x, y FROM lww")).as("lww on the server: exactly B's newer image").containsExactly("r|x0|yB");
    assertThat(cluster.serverRows("SELECT id, x, y FROM fm")).as("fm on the server: both edits").containsExactly("r|xA|yB");
    List<ConflictRecord> conflicts = cluster.dataset().conflicts(0, 10);
    assertThat(conflicts).extracting(ConflictRecord::table, ConflictRecord::policy)
        .containsExactlyInAnyOrder(org.assertj.core.groups.Tuple.tuple("lww", "last-write-wins"),
            org.assertj.core.groups.Tuple.tuple("fm", "field-merge"));
    // the losing image stays visible in the conflict log
    assertThat(conflicts).filteredOn(c -> c.table().equals("lww")).singleElement()
        .satisfies(c -> assertThat(c.stored()).contains("xA"));
  }

  @Test
  void lastWriteWinsAlsoHoldsWhenTheOlderWriteIsPushedLast() throws Exception {
    sql(a, "CREATE TABLE lww (id TEXT PRIMARY KEY, x TEXT, y TEXT)", "INSERT INTO lww VALUES ('r', 'x0', 'y0')");
    ca = cluster.device("a", c -> c.policy("lww", ConflictPolicy.LAST_WRITE_WINS));
    cb = cluster.device("b");
    ca.flush();
    cb.flush();

    sql(a, "UPDATE lww SET x = 'xA' WHERE id = 'r'");
    tick();
    sql(b, "UPDATE lww SET y = 'yB' WHERE id = 'r'");
    cb.flush(); // the newer write arrives first
    SyncReport ra = ca.flush();
    assertThat(ra.conflicts()).isEqualTo(1);
    cb.flush();

    for (Path db : List.of(a, b)) {
      assertThat(rows(db, "SELECT id, x, y FROM lww")).as("lww in %s", db.getFileName()).containsExactly("r|x0|yB");
    }
    assertThat(cluster.serverRows("SELECT id, x, y FROM lww")).as("lww on the server").containsExactly("r|x0|yB");
    assertThat(cluster.serverValue("SELECT count(*) FROM _tidesync_conflicts")).isEqualTo("1");
  }
}
