package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.columns;
import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.it.ServerStores;
import dev.tidesync.protocol.TableSchema;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/** The schema travels with the data: created on the server, bootstrapped, extended, guarded. */
class SchemaTravelTest extends ReplicaTestSupport {
  private static final String ITEMS = "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', qty INTEGER)";

  private DatasetStore store() {
    return cluster.dataset();
  }

  @Test
  void theFirstPushCreatesTheTablesOnTheServer() throws Exception {
    sql(a, ITEMS,
        "CREATE TABLE lines (item_id TEXT NOT NULL REFERENCES items(id), n INTEGER NOT NULL, amount REAL, PRIMARY KEY (item_id, n))",
        "INSERT INTO items VALUES ('i1', 'apple', 3)", "INSERT INTO lines VALUES ('i1', 1, 2.5)");
    assertThat(cluster.storage.find(Cluster.DATASET)).isEmpty();

    SyncReport r = cluster.device("a").flush();
    assertThat(r.ok()).as(r.toString()).isTrue();

    assertThat(cluster.storage.find(Cluster.DATASET)).isPresent();
    assertThat(cluster.serverColumns("items")).isEqualTo(cluster.stored("id TEXT", "name TEXT", "qty INTEGER"));
    assertThat(cluster.serverColumns("lines")).isEqualTo(cluster.stored("item_id TEXT", "n INTEGER", "amount REAL"));
    assertThat(ServerStores.primaryKey(cluster.store, cluster.storage, Cluster.ID, "lines")).containsExactly("item_id", "n");
    assertThat(ServerStores.foreignKeys(cluster.store, cluster.storage, Cluster.ID, "lines")).containsExactly("items|item_id|id");
    assertThat(cluster.serverRows("SELECT id, name, qty FROM items")).containsExactly("i1|apple|3");
    assertThat(cluster.serverRows("SELECT item_id, n, amount FROM lines")).containsExactly("i1|1|2.5");
    assertThat(store().schema()).extracting(TableSchema::name).containsExactly("items", "lines");
  }

  @Test
  void foreignKeysSpelledInAnotherCaseSyncAsDeclared() throws Exception {
    // SQLite takes REFERENCES ITEMS (ID) for items (id); the server must too.
    sql(a, ITEMS, "CREATE TABLE notes (id TEXT PRIMARY KEY, Item TEXT REFERENCES ITEMS (ID), up TEXT REFERENCES Notes)",
        "INSERT INTO items VALUES ('i1', 'apple', 3)", "INSERT INTO notes VALUES ('n2', 'i1', NULL)",
        "INSERT INTO notes VALUES ('n1', 'i1', 'n2')");
    SyncReport r = cluster.device("a").flush();
    assertThat(r.ok()).as(r.toString()).isTrue();
    assertThat(r.applied()).isEqualTo(3);
    assertThat(ServerStores.foreignKeys(cluster.store, cluster.storage, Cluster.ID, "notes")).containsExactlyInAnyOrder("items|Item|id",
        "notes|up|id");
    assertThat(cluster.device("b").flush().ok()).isTrue();
    assertThat(rows(b, "SELECT id, Item, up FROM notes ORDER BY id")).containsExactly("n1|i1|n2", "n2|i1|null");
  }

  @Test
  void aBrandNewEmptyFileBootstrapsTablesAndAllRowsOverManyPages() throws Exception {
    int n = 1050;
    sql(a, ITEMS, "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT)", "INSERT INTO tags VALUES (1, 'red'), (2, 'blue')");
    try (Connection c = Db.connect(a)) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO items VALUES (?, ?, ?)")) {
        for (int i = 0; i < n; i++) {
          ps.setString(1, String.format("item-%05d", i));
          ps.setString(2, "name " + i);
          ps.setLong(3, i);
          ps.addBatch();
        }
        ps.executeBatch();
      }
      c.commit();
    }
    SyncReport ra = cluster.device("a").flush();
    assertThat(ra.pushed()).isEqualTo(n + 2);

    Files.createFile(b); // an empty file is an empty SQLite database
    TidesyncClient cb = cluster.device("b", c -> c.pullLimit(100));
    SyncReport rb = cb.flush();
    assertThat(rb.ok()).as(rb.toString()).isTrue();
    assertThat(rb.bootstrap()).isTrue();
    assertThat(rb.pulled()).isEqualTo(n + 2);
    assertThat(rb.pages()).isGreaterThanOrEqualTo((n + 2 + 99) / 100);
    assertThat(columns(b, "items")).containsExactly("id TEXT", "name TEXT", "qty INTEGER");
    assertThat(rows(b, "SELECT name FROM pragma_table_info('items') WHERE pk > 0")).containsExactly("id");
    assertThat(count(b, "SELECT count(*) FROM items")).isEqualTo(n);
    assertThat(rows(b, "SELECT id, name, qty FROM items ORDER BY id")).isEqualTo(rows(a, "SELECT id, name, qty FROM items ORDER BY id"));
    assertThat(rows(b, "SELECT id, label FROM tags ORDER BY id")).containsExactly("1|red", "2|blue");
    // the bootstrapped rows are not pushed back, and B's own writes to the new tables are captured
    assertThat(cb.flush().pushed()).isZero();
    sql(b, "UPDATE items SET qty = -1 WHERE id = 'item-00007'");
    assertThat(cb.flush().pushed()).isEqualTo(1);
  }

  @Test
  void anAddedTableAndAnAddedNullableColumnWithDataReachTheOtherDevice() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('i1', 'apple', 1)");
    TidesyncClient ca = cluster.device("a");
    TidesyncClient cb = cluster.device("b");
    ca.flush();
    cb.flush();

    sql(a, "ALTER TABLE items ADD COLUMN color TEXT", "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)",
        "UPDATE items SET color = 'red' WHERE id = 'i1'", "INSERT INTO notes VALUES ('n1', 'hello')");
    SyncReport ra = ca.flush();
    assertThat(ra.ok()).as(ra.toString()).isTrue();
    assertThat(cluster.serverColumns("items")).isEqualTo(cluster.stored("id TEXT", "name TEXT", "qty INTEGER", "color TEXT"));

    SyncReport rb = cb.flush();
    assertThat(rb.ok()).as(rb.toString()).isTrue();
    assertThat(columns(b, "items")).containsExactly("id TEXT", "name TEXT", "qty INTEGER", "color TEXT");
    assertThat(columns(b, "notes")).containsExactly("id TEXT", "body TEXT");
    assertThat(rows(b, "SELECT id, name, qty, color FROM items")).containsExactly("i1|apple|1|red");
    assertThat(rows(b, "SELECT id, body FROM notes")).containsExactly("n1|hello");

    // B writes to the new column and table: captured and synced back
    sql(b, "UPDATE items SET color = 'green' WHERE id = 'i1'", "INSERT INTO notes VALUES ('n2', 'from b')");
    assertThat(cb.flush().pushed()).isEqualTo(2);
    ca.flush();
    assertThat(rows(a, "SELECT id, color FROM items")).containsExactly("i1|green");
    assertThat(rows(a, "SELECT id, body FROM notes ORDER BY id")).containsExactly("n1|hello", "n2|from b");
  }

  @Test
  void anAddedEmptyTableAndAnAddedColumnWithoutDataReachTheOtherDevice() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('i1', 'apple', 1)");
    TidesyncClient ca = cluster.device("a");
    TidesyncClient cb = cluster.device("b");
    ca.flush();
    cb.flush();

    // Schema changes alone, no row written
    sql(a, "ALTER TABLE items ADD COLUMN color TEXT", "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)");
    SyncReport ra = ca.flush();
    assertThat(ra.ok()).as(ra.toString()).isTrue();
    SyncReport rb = cb.flush();
    assertThat(rb.ok()).as(rb.toString()).isTrue();

    org.assertj.core.api.SoftAssertions soft = new org.assertj.core.api.SoftAssertions();
    soft.assertThat(cluster.serverColumns("items")).as("server items").isEqualTo(cluster.stored("id TEXT", "name TEXT", "qty INTEGER", "color TEXT"));
    soft.assertThat(cluster.serverTables()).as("server has notes").contains("notes");
    soft.assertThat(columns(b, "items")).as("B items").containsExactly("id TEXT", "name TEXT", "qty INTEGER", "color TEXT");
    soft.assertThat(Db.tableExists(b, "notes")).as("B has notes").isTrue();
    soft.assertAll();
  }

  /** A snapshot of everything the server holds for the dataset: schema, version, rows and columns. */
  private List<String> serverState() throws Exception {
    DatasetStore s = store();
    List<String> out = new java.util.ArrayList<>();
    out.add("schema " + s.schema());
    out.add("version " + s.status().version());
    out.addAll(cluster.serverColumns("items"));
    out.addAll(cluster.serverRows("SELECT * FROM items ORDER BY id"));
    out.addAll(cluster.serverTables());
    return out;
  }

  @Test
  void aColumnDeclaredWithAnotherTypeIsRefusedWithAClearErrorAndChangesNothingOnTheServer() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('i1', 'apple', 1)");
    cluster.device("a").flush();
    List<String> before = serverState();

    Path c = cluster.db("c");
    sql(c, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '', qty TEXT)", "INSERT INTO items VALUES ('c1', 'from c', 'many')");
    TidesyncClient cc = cluster.device("c");
    SyncReport rc = cc.flush();

    assertThat(rc.ok()).isFalse();
    assertThat(rc.errors()).anySatisfy(e -> assertThat(e).contains("items").contains("qty").contains("INTEGER").contains("TEXT"));
    assertThat(serverState()).isEqualTo(before);
    assertThat(cluster.serverValue("SELECT count(*) FROM items WHERE id = 'c1'")).isEqualTo("0");
    // C keeps its row: nothing was lost, it stays pending
    assertThat(rows(c, "SELECT id, qty FROM items WHERE id = 'c1'")).containsExactly("c1|many");
    assertThat(cc.status().pendingTotal()).isEqualTo(1);
  }

  @Test
  void aDifferentPrimaryKeyForAnExistingTableIsRefusedWithAClearErrorAndChangesNothingOnTheServer() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('i1', 'apple', 1)");
    cluster.device("a").flush();
    List<String> before = serverState();

    Path c = cluster.db("c");
    sql(c, "CREATE TABLE items (id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', qty INTEGER, PRIMARY KEY (name, id))",
        "INSERT INTO items VALUES ('c1', 'from c', 5)");
    TidesyncClient cc = cluster.device("c");
    SyncReport rc = cc.flush();

    assertThat(rc.ok()).isFalse();
    assertThat(rc.errors()).anySatisfy(e -> assertThat(e).contains("items").containsIgnoringCase("primary key"));
    assertThat(serverState()).isEqualTo(before);
    assertThat(rows(c, "SELECT id, name, qty FROM items WHERE id = 'c1'")).containsExactly("c1|from c|5");
  }

  @Test
  void pullingIntoALocalTableWithADifferentPrimaryKeyWritesNoMisplacedValues() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('i1', 'apple', 1)");
    cluster.device("a").flush();

    Path c = cluster.db("c");
    sql(c, "CREATE TABLE items (id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', qty INTEGER, PRIMARY KEY (name, id))",
        "INSERT INTO items VALUES ('c1', 'from c', 5)");
    SyncReport rc = cluster.device("c").flush();
    assertThat(rc.ok()).isFalse();

    // A server row is either not applied to C's incompatible table, or applied as exactly that row;
    // it must never land with its values in the wrong columns.
    assertThat(rows(c, "SELECT id, name, qty FROM items ORDER BY id")).contains("c1|from c|5")
        .allSatisfy(r -> assertThat(r).isIn("c1|from c|5", "i1|apple|1"));
  }
}
