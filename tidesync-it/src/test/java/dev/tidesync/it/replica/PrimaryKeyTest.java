package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.it.ServerStores;
import dev.tidesync.protocol.TableSchema;
import org.junit.jupiter.api.Test;

/** Tables without a primary key are reported and left alone; composite keys sync like simple ones. */
class PrimaryKeyTest extends ReplicaTestSupport {
  @Test
  void aTableWithoutPrimaryKeyIsReportedAsSkippedAndNotSynced() throws Exception {
    sql(a, "CREATE TABLE audit (at INTEGER, msg TEXT)", "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)",
        "INSERT INTO audit VALUES (1, 'local only')", "INSERT INTO items VALUES ('i1', 'synced')");
    TidesyncClient ca = cluster.device("a");
    assertThat(ca.replica().skipped()).containsOnlyKeys("audit");
    assertThat(ca.replica().skipped().get("audit")).contains("'audit'").containsIgnoringCase("no primary key");
    assertThat(ca.replica().tables()).extracting(TableSchema::name).containsExactly("items");

    SyncReport ra = ca.flush();
    assertThat(ra.pushed()).isEqualTo(1);
    sql(a, "INSERT INTO audit VALUES (2, 'still local')", "UPDATE audit SET msg = 'edited'");
    assertThat(ca.flush().pushed()).isZero();

    assertThat(cluster.serverTables()).contains("items").doesNotContain("audit");
    assertThat(cluster.dataset().schema()).extracting(TableSchema::name).containsExactly("items");

    TidesyncClient cb = cluster.device("b");
    assertThat(cb.flush().pulled()).isEqualTo(1);
    assertThat(Db.tableExists(b, "audit")).isFalse();
    assertThat(rows(b, "SELECT id, name FROM items")).containsExactly("i1|synced");
  }

  @Test
  void aCompositeKeyMixingIntegerAndTextSyncsInsertUpdateAndDelete() throws Exception {
    sql(a, "CREATE TABLE scores (team INTEGER NOT NULL, player TEXT NOT NULL, pts INTEGER, note TEXT, PRIMARY KEY (team, player))",
        // (1,'2') and (2,'1') look alike as numbers but are different keys; '7' is text, 7 an integer
        "INSERT INTO scores VALUES (1, 'ann', 10, 'a'), (1, 'bob', 5, 'b'), (2, 'ann', 7, 'c'), (1, '2', 1, 'd'), (2, '1', 2, 'e')");
    TidesyncClient ca = cluster.device("a");
    TidesyncClient cb = cluster.device("b");
    assertThat(ca.flush().pushed()).isEqualTo(5);
    assertThat(cb.flush().pulled()).isEqualTo(5);
    String all = "SELECT team, typeof(team), player, typeof(player), pts, note FROM scores ORDER BY team, player";
    assertThat(rows(b, all)).containsExactly(
        "1|integer|2|text|1|d", "1|integer|ann|text|10|a", "1|integer|bob|text|5|b",
        "2|integer|1|text|2|e", "2|integer|ann|text|7|c");

    sql(a, "UPDATE scores SET pts = 11 WHERE team = 1 AND player = 'ann'", "UPDATE scores SET note = 'D' WHERE team = 1 AND player = '2'");
    assertThat(ca.flush().pushed()).isEqualTo(2);
    assertThat(cb.flush().pulled()).isEqualTo(2);
    assertThat(rows(b, all)).containsExactly(
        "1|integer|2|text|1|D", "1|integer|ann|text|11|a", "1|integer|bob|text|5|b",
        "2|integer|1|text|2|e", "2|integer|ann|text|7|c");

    sql(a, "DELETE FROM scores WHERE team = 2 AND player = 'ann'");
    assertThat(ca.flush().pushed()).isEqualTo(1);
    assertThat(cb.flush().pulled()).isEqualTo(1);
    assertThat(rows(b, all)).containsExactly(
        "1|integer|2|text|1|D", "1|integer|ann|text|11|a", "1|integer|bob|text|5|b", "2|integer|1|text|2|e");

    // and the other way round, including a change of one key column (a delete plus an insert)
    sql(b, "UPDATE scores SET player = 'carl' WHERE team = 1 AND player = 'bob'", "INSERT INTO scores VALUES (3, 'ann', 0, NULL)");
    SyncReport rb = cb.flush();
    assertThat(rb.ok()).as(rb.toString()).isTrue();
    ca.flush();
    assertThat(rows(a, all)).containsExactly(
        "1|integer|2|text|1|D", "1|integer|ann|text|11|a", "1|integer|carl|text|5|b", "2|integer|1|text|2|e",
        "3|integer|ann|text|0|null");
    // The server holds the same keys with the same classes: an integer key column that came back
    // as text (or the other way round) would make (1, '2') and (2, '1') ambiguous.
    String order = " FROM scores ORDER BY team, player";
    assertThat(ServerStores.typedRows(cluster.store, cluster.storage, Cluster.ID, "SELECT team, player, pts, note" + order))
        .isEqualTo(rows(a, "SELECT team, typeof(team), player, typeof(player), pts, typeof(pts), note, typeof(note)" + order))
        .hasSize(5);
  }
}
