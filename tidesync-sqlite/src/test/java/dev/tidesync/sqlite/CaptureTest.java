package dev.tidesync.sqlite;

import static dev.tidesync.sqlite.TestDb.count;
import static dev.tidesync.sqlite.TestDb.rows;
import static dev.tidesync.sqlite.TestDb.sql;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tidesync.protocol.TableSchema;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Change capture at the replica level: triggers record writes from connections that run no
 * Tidesync code, in the same transaction as the write.
 */
class CaptureTest {
  private static final Path SQLITE3 = Path.of("/usr/bin/sqlite3");
  /** The log as table|key|op|mask: a one-column key is logged raw, an insert's or delete's mask is NULL ("all"). */
  private static final String LOG = "SELECT g.tbl, l.pk, l.op, l.mask FROM _tidesync_changes l JOIN _tidesync_capture g ON g.id = l.cap "
      + "ORDER BY l.seq";

  @TempDir Path dir;

  private DeviceReplica open(Path db) {
    return DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"));
  }

  @Test
  void writesFromAPlainJdbcConnectionAreLoggedWithTheirOperationAndChangedColumn() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)");
    try (DeviceReplica replica = open(db)) {
      assertThat(replica.tables()).extracting(TableSchema::name).containsExactly("items");

      sql(db, "INSERT INTO items VALUES ('i1', 'apple', 1)");
      assertThat(rows(db, LOG)).containsExactly("items|i1|I|null");

      sql(db, "UPDATE items SET qty = 2 WHERE id = 'i1'");
      // qty is column 2 in declaration order: only its bit is set
      assertThat(rows(db, LOG)).containsExactly("items|i1|I|null", "items|i1|U|4");

      sql(db, "DELETE FROM items WHERE id = 'i1'");
      assertThat(rows(db, LOG)).containsExactly("items|i1|I|null", "items|i1|U|4", "items|i1|D|null");

      assertThat(replica.absorb()).isEqualTo(3);
      assertThat(count(db, "SELECT count(*) FROM _tidesync_changes")).isZero();
      assertThat(replica.pending().total()).isEqualTo(1);
    }
  }

  @Test
  void writesFromTheSqlite3ShellAreLogged() throws Exception {
    assumeTrue(Files.isExecutable(SQLITE3), "sqlite3 command-line shell not installed");
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)");
    try (DeviceReplica replica = open(db)) {
      shell(db, "INSERT INTO items VALUES ('s1', 'pear', 5);");
      shell(db, "UPDATE items SET name = 'nashi' WHERE id = 's1';");
      shell(db, "DELETE FROM items WHERE id = 's1';");
      assertThat(rows(db, LOG)).containsExactly("items|s1|I|null", "items|s1|U|2", "items|s1|D|null");
      assertThat(replica.absorb()).isEqualTo(3);
    }
  }

  @Test
  void aRolledBackTransactionLeavesNoLogEntry() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)", "INSERT INTO items VALUES ('keep', 'k', 0)");
    try (DeviceReplica replica = open(db)) {
      replica.absorb(); // the initial load of 'keep'
      try (Connection c = TestDb.connect(db)) {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
          s.execute("INSERT INTO items VALUES ('gone', 'never', 1)");
          s.execute("UPDATE items SET qty = 99 WHERE id = 'keep'");
          s.execute("DELETE FROM items WHERE id = 'keep'");
        }
        c.rollback();
      }
      assertThat(count(db, "SELECT count(*) FROM _tidesync_changes")).isZero();

      // A savepoint rolled back inside a committed transaction: only the surviving write is logged.
      try (Connection c = TestDb.connect(db); Statement s = c.createStatement()) {
        s.execute("BEGIN");
        s.execute("INSERT INTO items VALUES ('x1', 'kept', 1)");
        s.execute("SAVEPOINT sp");
        s.execute("INSERT INTO items VALUES ('x2', 'undone', 2)");
        s.execute("ROLLBACK TO sp");
        s.execute("RELEASE sp");
        s.execute("COMMIT");
      }
      assertThat(rows(db, LOG)).containsExactly("items|x1|I|null");
    }
  }

  @Test
  void rowsThatExistBeforeTidesyncFirstOpensTheFileAreLoggedOnceAsInserts() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)",
        "CREATE TABLE pairs (a INTEGER, b TEXT, v REAL, PRIMARY KEY (a, b))",
        "INSERT INTO items VALUES ('i1', 'one', 1), ('i2', 'two', 2)",
        "INSERT INTO pairs VALUES (1, 'x', 0.5)");
    try (DeviceReplica replica = open(db)) {
      assertThat(rows(db, "SELECT g.tbl, l.pk, l.op FROM _tidesync_changes l JOIN _tidesync_capture g ON g.id = l.cap "
          + "ORDER BY g.tbl, l.pk")).containsExactly("items|i1|I", "items|i2|I", "pairs|[1,\"x\"]|I");
      assertThat(replica.pending().total()).isEqualTo(3);
    }
    // Reopening does not log the same rows again.
    try (DeviceReplica replica = open(db)) {
      assertThat(count(db, "SELECT count(*) FROM _tidesync_changes")).isEqualTo(3);
      assertThat(replica.absorb()).isEqualTo(3);
      assertThat(replica.pending().total()).isEqualTo(3);
    }
  }

  @Test
  void aTableWithoutPrimaryKeyIsSkippedWithAReasonAndNotCaptured() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE audit (at INTEGER, msg TEXT)", "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)",
        "INSERT INTO audit VALUES (1, 'before')");
    try (DeviceReplica replica = open(db)) {
      assertThat(replica.tables()).extracting(TableSchema::name).containsExactly("items");
      assertThat(replica.skipped()).containsOnlyKeys("audit");
      assertThat(replica.skipped().get("audit")).contains("audit").containsIgnoringCase("primary key");
      assertThat(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")).isZero();

      sql(db, "INSERT INTO audit VALUES (2, 'after')", "UPDATE audit SET msg = 'x'", "DELETE FROM audit WHERE at = 1");
      assertThat(count(db, "SELECT count(*) FROM _tidesync_changes")).isZero();
      assertThat(replica.pending().total()).isZero();
    }
  }

  @Test
  void aLogWrittenByTheEarlierTriggerFormatIsCarriedOverAndCaptureGoesOn() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)", "CREATE TABLE pairs (a INTEGER, b TEXT, v REAL, PRIMARY KEY (a, b))");
    try (DeviceReplica replica = open(db)) {
      assertThat(replica.tables()).hasSize(2);
    }
    // Turn the file into what the previous build left behind: its log table and its triggers
    // (as it generated them: table name, key as json_array, integer milliseconds, a WHEN clause).
    String wall = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
    String when = "WHEN NOT EXISTS (SELECT 1 FROM _tidesync_apply)";
    sql(db, "DROP TRIGGER _tidesync_ins_items", "DROP TRIGGER _tidesync_upd_items", "DROP TRIGGER _tidesync_updk_items",
        "DROP TRIGGER _tidesync_del_items", "DROP TRIGGER _tidesync_ins_pairs", "DROP TRIGGER _tidesync_upd_pairs",
        "DROP TRIGGER _tidesync_updk_pairs", "DROP TRIGGER _tidesync_del_pairs", "DROP TABLE _tidesync_changes",
        "DROP TABLE _tidesync_capture",
        "CREATE TABLE _tidesync_log (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, op TEXT NOT NULL, "
            + "mask INTEGER NOT NULL, wall INTEGER NOT NULL, ncols INTEGER NOT NULL DEFAULT 0, vals TEXT)",
        "CREATE TABLE _tidesync_apply (x INTEGER)",
        "CREATE TRIGGER \"_tidesync_ins_items\" AFTER INSERT ON \"items\" " + when + " BEGIN INSERT INTO _tidesync_log "
            + "(tbl, pk, op, mask, wall, ncols) VALUES ('items', json_array(CASE typeof(NEW.\"id\") WHEN 'blob' THEN "
            + "json_object('$hex', hex(NEW.\"id\")) ELSE NEW.\"id\" END), 'I', -1, " + wall + ", 3); END",
        "CREATE TRIGGER \"_tidesync_upd_items\" AFTER UPDATE ON \"items\" " + when + " AND (NEW.\"id\" IS OLD.\"id\") BEGIN "
            + "INSERT INTO _tidesync_log (tbl, pk, op, mask, wall, ncols) VALUES ('items', json_array(NEW.\"id\"), 'U', "
            + "(0 | (CASE WHEN NEW.\"name\" IS NOT OLD.\"name\" THEN 2 ELSE 0 END) | (CASE WHEN NEW.\"qty\" IS NOT OLD.\"qty\" "
            + "THEN 4 ELSE 0 END)), " + wall + ", 3); END",
        "CREATE TRIGGER \"_tidesync_ins_pairs\" AFTER INSERT ON \"pairs\" " + when + " BEGIN INSERT INTO _tidesync_log "
            + "(tbl, pk, op, mask, wall, ncols) VALUES ('pairs', json_array(NEW.\"a\", NEW.\"b\"), 'I', -1, " + wall + ", 3); END");
    // The app's own trigger, whose text happens to contain "_tidesync_log": not Tidesync's, so it stays.
    sql(db, "CREATE TABLE my_tidesync_logbook (id TEXT)",
        "CREATE TRIGGER keep_book AFTER INSERT ON items BEGIN INSERT INTO my_tidesync_logbook VALUES (NEW.id); END");
    sql(db, "INSERT INTO items VALUES ('i1', 'one', 1)", "UPDATE items SET qty = 2 WHERE id = 'i1'", "INSERT INTO pairs VALUES (1, 'x', 0.5)");
    List<String> walls = rows(db, "SELECT wall FROM _tidesync_log ORDER BY seq");
    assertThat(walls).hasSize(3);

    try (DeviceReplica replica = open(db)) {
      assertThat(count(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('_tidesync_log', '_tidesync_apply')")).isZero();
      assertThat(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND instr(sql, 'INTO _tidesync_log ') > 0"))
          .isZero();
      assertThat(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name GLOB '_tidesync_*'")).isEqualTo(8);
      assertThat(count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'keep_book'")).isEqualTo(1);
      // The old entries keep their key form (json), operation, mask and time.
      assertThat(rows(db, LOG)).containsExactly("items|[\"i1\"]|I|-1", "items|[\"i1\"]|U|4", "pairs|[1,\"x\"]|I|-1");
      assertThat(rows(db, "SELECT CAST(round((wall - 2440587.5) * 86400000.0) AS INTEGER) FROM _tidesync_changes ORDER BY seq"))
          .isEqualTo(walls);

      sql(db, "INSERT INTO items VALUES ('i2', 'two', 2)"); // captured by the current triggers
      assertThat(rows(db, LOG)).endsWith("items|i2|I|null");
      assertThat(replica.absorb()).isEqualTo(4);
      assertThat(replica.pending().pending()).containsEntry("items", 2L).containsEntry("pairs", 1L);
    }

    // The earlier build opens the file once more (its log and trigger come back; the capture rows
    // of the first carry-over stay), then this one: its entry is carried over once, not twice.
    sql(db, "DROP TRIGGER _tidesync_ins_items",
        "CREATE TABLE _tidesync_log (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, op TEXT NOT NULL, "
            + "mask INTEGER NOT NULL, wall INTEGER NOT NULL, ncols INTEGER NOT NULL DEFAULT 0, vals TEXT)",
        "CREATE TRIGGER \"_tidesync_ins_items\" AFTER INSERT ON \"items\" BEGIN INSERT INTO _tidesync_log "
            + "(tbl, pk, op, mask, wall, ncols) VALUES ('items', json_array(NEW.\"id\"), 'I', -1, " + wall + ", 3); END",
        "INSERT INTO _tidesync_capture (tbl, ncols, keyform) VALUES ('items', 3, 'json')",
        "INSERT INTO items VALUES ('i3', 'three', 3)");
    try (DeviceReplica replica = open(db)) {
      assertThat(rows(db, LOG)).containsExactly("items|[\"i3\"]|I|-1");
      assertThat(replica.absorb()).isEqualTo(1);
    }
  }

  @Test
  void aRenamedTableIsCapturedOnceUnderItsNewName() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)");
    try (DeviceReplica replica = open(db)) {
      sql(db, "ALTER TABLE items RENAME TO goods"); // items' triggers move to goods, names unchanged
      replica.refreshSchema();
      assertThat(rows(db, "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"))
          .containsExactly("_tidesync_del_goods", "_tidesync_ins_goods", "_tidesync_upd_goods", "_tidesync_updk_goods");
      sql(db, "INSERT INTO goods VALUES ('g1', 'one')");
      assertThat(rows(db, LOG)).containsExactly("goods|g1|I|null");
    }
  }

  private static void shell(Path db, String statements) throws Exception {
    Process p = new ProcessBuilder(SQLITE3.toString(), "-bail", "-cmd", ".timeout 10000", db.toString(), statements)
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(p.waitFor(15, TimeUnit.SECONDS)).as("sqlite3 finished").isTrue();
    assertThat(p.exitValue()).as("sqlite3 exit status, output: %s", out).isZero();
  }
}
