package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Writes made by connections that run no Tidesync code (another JDBC connection, the sqlite3
 * shell) are captured and reach another device; captured atomically with the write; rows that
 * existed before Tidesync first opened the file are pushed too. Capture is on the device files
 * (SQLite); the server between the devices is each store of {@code ServerStores}.
 */
class CaptureFromAnyConnectionTest extends ReplicaTestSupport {
  private static final Path SQLITE3 = Path.of("/usr/bin/sqlite3");
  private static final String ITEMS = "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)";

  /** A and B both synced once with the table in place (created by A, received by B). */
  private TidesyncClient[] twoSyncedDevices() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('seed', 'seed', 0)");
    TidesyncClient ca = cluster.device("a");
    TidesyncClient cb = cluster.device("b");
    assertThat(ca.flush().pushed()).isEqualTo(1);
    assertThat(cb.flush().pulled()).isEqualTo(1);
    return new TidesyncClient[] {ca, cb};
  }

  @Test
  void insertsAndDeletesMadeRightAfterATableRebuildReachAnotherDevice() throws Exception {
    TidesyncClient[] d = twoSyncedDevices();
    // The SQLite way to change a table: new table, copy, drop, rename. The copy has no capture
    // triggers until the next sync looks at the schema; the writes in between are found then.
    sql(a, "CREATE TABLE items_new (id TEXT PRIMARY KEY, name TEXT, qty INTEGER, note TEXT)",
        "INSERT INTO items_new (id, name, qty) SELECT id, name, qty FROM items", "DROP TABLE items",
        "ALTER TABLE items_new RENAME TO items", "INSERT INTO items (id, name, qty) VALUES ('r1', 'after the rebuild', 1)",
        "DELETE FROM items WHERE id = 'seed'");
    SyncReport r = d[0].flush();
    assertThat(r.ok()).as(r.toString()).isTrue();
    assertThat(r.pushed()).isEqualTo(2);
    assertThat(d[1].flush().ok()).isTrue();
    assertThat(rows(b, "SELECT id, name, qty FROM items ORDER BY id")).containsExactly("r1|after the rebuild|1");
    assertThat(Db.columns(b, "items")).contains("note TEXT");
  }

  @Test
  void writesFromASecondPlainJdbcConnectionReachAnotherDevice() throws Exception {
    TidesyncClient[] d = twoSyncedDevices();
    TidesyncClient ca = d[0];
    TidesyncClient cb = d[1];

    try (Connection app = Db.connect(a); Statement s = app.createStatement()) {
      s.executeUpdate("INSERT INTO items VALUES ('j1', 'jdbc', 1)");
      assertThat(ca.flush().pushed()).isEqualTo(1);
      assertThat(cb.flush().pulled()).isEqualTo(1);
      assertThat(rows(b, "SELECT id, name, qty FROM items WHERE id = 'j1'")).containsExactly("j1|jdbc|1");

      s.executeUpdate("UPDATE items SET qty = 2 WHERE id = 'j1'");
      assertThat(ca.flush().pushed()).isEqualTo(1);
      assertThat(cb.flush().pulled()).isEqualTo(1);
      assertThat(rows(b, "SELECT id, name, qty FROM items WHERE id = 'j1'")).containsExactly("j1|jdbc|2");

      s.executeUpdate("DELETE FROM items WHERE id = 'j1'");
      assertThat(ca.flush().pushed()).isEqualTo(1);
      assertThat(cb.flush().pulled()).isEqualTo(1);
      assertThat(count(b, "SELECT count(*) FROM items WHERE id = 'j1'")).isZero();
    }
    assertThat(rows(b, "SELECT id FROM items")).containsExactly("seed");
  }

  @Test
  void writesFromTheSqlite3ShellReachAnotherDevice() throws Exception {
    assumeTrue(Files.isExecutable(SQLITE3), "sqlite3 command-line shell not installed");
    TidesyncClient[] d = twoSyncedDevices();
    TidesyncClient ca = d[0];
    TidesyncClient cb = d[1];

    shell(a, "INSERT INTO items VALUES ('sh1', 'shell', 10);");
    assertThat(ca.flush().pushed()).isEqualTo(1);
    assertThat(cb.flush().pulled()).isEqualTo(1);
    assertThat(rows(b, "SELECT id, name, qty FROM items WHERE id = 'sh1'")).containsExactly("sh1|shell|10");

    shell(a, "UPDATE items SET name = 'shell2' WHERE id = 'sh1';");
    assertThat(ca.flush().pushed()).isEqualTo(1);
    assertThat(cb.flush().pulled()).isEqualTo(1);
    assertThat(rows(b, "SELECT id, name, qty FROM items WHERE id = 'sh1'")).containsExactly("sh1|shell2|10");

    shell(a, "DELETE FROM items WHERE id = 'sh1';");
    assertThat(ca.flush().pushed()).isEqualTo(1);
    assertThat(cb.flush().pulled()).isEqualTo(1);
    assertThat(count(b, "SELECT count(*) FROM items WHERE id = 'sh1'")).isZero();
    assertThat(rows(b, "SELECT id FROM items")).containsExactly("seed");
  }

  @Test
  void aWriteRolledBackByTheAppLeavesNoLogEntryAndPushesNothing() throws Exception {
    TidesyncClient[] d = twoSyncedDevices();
    TidesyncClient ca = d[0];
    TidesyncClient cb = d[1];

    try (Connection app = Db.connect(a)) {
      app.setAutoCommit(false);
      try (Statement s = app.createStatement()) {
        s.executeUpdate("INSERT INTO items VALUES ('ghost', 'never', 1)");
        s.executeUpdate("UPDATE items SET qty = 99 WHERE id = 'seed'");
        s.executeUpdate("DELETE FROM items WHERE id = 'seed'");
        assertThat(count(a, "SELECT count(*) FROM _tidesync_changes")).as("other connections do not see uncommitted log entries").isZero();
      }
      app.rollback();
    }
    assertThat(count(a, "SELECT count(*) FROM _tidesync_changes")).isZero();
    assertThat(ca.status().pending()).isEmpty();

    SyncReport ra = ca.flush();
    assertThat(ra.pushed()).isZero();
    assertThat(cb.flush().pulled()).isZero();
    assertThat(rows(b, "SELECT id, name, qty FROM items")).containsExactly("seed|seed|0");
    assertThat(cluster.serverRows("SELECT id, name, qty FROM items")).containsExactly("seed|seed|0");
  }

  @Test
  void rowsThatExistBeforeTidesyncFirstOpensTheFileArePushed() throws Exception {
    sql(a, ITEMS, "CREATE TABLE pairs (k1 INTEGER, k2 TEXT, v REAL, PRIMARY KEY (k1, k2))",
        "INSERT INTO items VALUES ('p1', 'old', 1), ('p2', 'older', 2), ('p3', NULL, NULL)",
        "INSERT INTO pairs VALUES (1, 'x', 1.5), (2, 'y', NULL)");
    assertThat(Db.tableExists(a, "_tidesync_changes")).isFalse();

    TidesyncClient ca = cluster.device("a");
    SyncReport ra = ca.flush();
    assertThat(ra.pushed()).isEqualTo(5);
    assertThat(ra.ok()).as(ra.toString()).isTrue();

    TidesyncClient cb = cluster.device("b");
    SyncReport rb = cb.flush();
    assertThat(rb.pulled()).isEqualTo(5);
    assertThat(rows(b, "SELECT id, name, qty FROM items ORDER BY id")).containsExactly("p1|old|1", "p2|older|2", "p3|null|null");
    assertThat(rows(b, "SELECT k1, k2, v FROM pairs ORDER BY k1")).containsExactly("1|x|1.5", "2|y|null");
  }

  private static void shell(Path db, String statements) throws Exception {
    Process p = new ProcessBuilder(SQLITE3.toString(), "-bail", "-cmd", ".timeout 10000", db.toString(), statements)
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(15, TimeUnit.SECONDS)).as("sqlite3 finished").isTrue();
    assertThat(p.exitValue()).as("sqlite3 exit status, output: %s", out).isZero();
  }
}
