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

  /** The metadata as table|key|ver|dirty|pending (pending "*N": all N non-key columns at the row's clock). */
  private static final String META = "SELECT tbl, pk, ver, dirty, pending FROM _tidesync_rows ORDER BY tbl, pk";

  @Test
  void rowsThatExistBeforeTidesyncFirstOpensTheFileAreLoadedOnceAsPendingInserts() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)",
        "CREATE TABLE pairs (a INTEGER, b TEXT, v REAL, PRIMARY KEY (a, b))",
        "INSERT INTO items VALUES ('i2', 'two', 2), ('i1', 'one', 1)",
        "INSERT INTO pairs VALUES (1, 'x', 0.5)");
    String loadClock;
    try (DeviceReplica replica = open(db)) {
      // Not through the log. A composite key's rows go straight into the metadata, each a
      // whole-row insert; a one-column key's rows wait, marked with their load's clock, and
      // count as pending all the same.
      assertThat(count(db, "SELECT count(*) FROM _tidesync_changes")).isZero();
      assertThat(rows(db, META)).containsExactly("pairs|[1,\"x\"]|0|1|*1");
      loadClock = TestDb.one(db, "SELECT v FROM _tidesync_meta WHERE k = 'load:items'");
      assertThat(loadClock).isNotNull();
      assertThat(replica.pending().pending()).containsExactly(java.util.Map.entry("items", 2L), java.util.Map.entry("pairs", 1L));
    }
    // Reopening loads nothing again, and keeps the load's clock.
    try (DeviceReplica replica = open(db)) {
      assertThat(replica.absorb()).isZero();
      assertThat(rows(db, META)).hasSize(1);
      assertThat(TestDb.one(db, "SELECT v FROM _tidesync_meta WHERE k = 'load:items'")).isEqualTo(loadClock);
      assertThat(replica.pending().total()).isEqualTo(3);
      // Written out, the waiting rows are what loading them at once would have written, at the
      // load's clock; the persisted clock is past every row's.
      replica.loadAll();
      assertThat(rows(db, META)).containsExactly("items|[\"i1\"]|0|1|*2", "items|[\"i2\"]|0|1|*2", "pairs|[1,\"x\"]|0|1|*1");
      assertThat(rows(db, "SELECT DISTINCT live FROM _tidesync_rows WHERE tbl = 'items'")).containsExactly(loadClock);
      assertThat(TestDb.one(db, "SELECT v FROM _tidesync_meta WHERE k = 'hlc'"))
          .isGreaterThanOrEqualTo(TestDb.one(db, "SELECT max(live) FROM _tidesync_rows"));
      assertThat(TestDb.one(db, "SELECT v FROM _tidesync_meta WHERE k = 'load:items'")).isNull();
      assertThat(replica.pending().total()).isEqualTo(3);
    }
  }

  @Test
  void laterWritesToRowsOfTheInitialLoadFindTheirMetadataWhateverTheKey() throws Exception {
    // The initial load keys a row as absorbing its logged insert would, so the row's later
    // logged writes land on the same metadata: keys of every type, composite ones with REAL and
    // BLOB parts (logged as json_array, which rounds a REAL part: the load must round it alike).
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE t1 (k TEXT PRIMARY KEY, v TEXT)",
        "CREATE TABLE t2 (k INTEGER PRIMARY KEY, v TEXT)",
        "CREATE TABLE t3 (k PRIMARY KEY, v TEXT)", // no declared type: REAL values stay REAL (a REAL column is refused as a key)
        "CREATE TABLE t4 (k BLOB PRIMARY KEY, v TEXT)",
        "CREATE TABLE t5 (a, b BLOB, c TEXT, d INTEGER, v TEXT, PRIMARY KEY (a, b, c, d))",
        "INSERT INTO t1 VALUES ('plain', 'x'), ('quote \" and \\ and é 🙂', 'x'), ('', 'x'), ('123', 'x')",
        "INSERT INTO t2 VALUES (-9223372036854775808, 'x'), (0, 'x'), (9223372036854775807, 'x')",
        "INSERT INTO t3 VALUES (0.1, 'x'), (-0.0, 'x'), (1e308, 'x'), (3.0, 'x')",
        "INSERT INTO t4 VALUES (x'00ff', 'x'), (x'', 'x')",
        "INSERT INTO t5 VALUES (0.1, x'01', 'a', 1, 'x'), (2.5e-300, x'', '', -1, 'x')");
    try (DeviceReplica replica = open(db)) {
      // t1's and t2's plain keys wait in their tables (see DeviceReplica.loadExisting); absorbing
      // a logged write of their table writes them into the metadata first.
      assertThat(replica.pending().total()).isEqualTo(15);
      long loaded = 15;
      sql(db, "UPDATE t1 SET v = 'y'", "UPDATE t2 SET v = 'y'", "UPDATE t3 SET v = 'y'", "UPDATE t4 SET v = 'y'", "UPDATE t5 SET v = 'y'");
      assertThat(replica.absorb()).isEqualTo(15);
      // No second row of metadata for any of them: every update found its row's.
      assertThat(count(db, "SELECT count(*) FROM _tidesync_rows")).isEqualTo(loaded);
      sql(db, "DELETE FROM t1", "DELETE FROM t2", "DELETE FROM t3", "DELETE FROM t4", "DELETE FROM t5");
      replica.absorb();
      assertThat(count(db, "SELECT count(*) FROM _tidesync_rows")).isEqualTo(loaded);
    }
  }

  @Test
  void aTableSyncedBeforeAndAddedBackKeepsWhatTheDeviceKnewOfItsRows() throws Exception {
    // Left out of the table list and added back: its rows are loaded again, through the log,
    // merged with their metadata (the base version of a row the server took stays).
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)", "CREATE TABLE other (id TEXT PRIMARY KEY)",
        "INSERT INTO items VALUES ('i1', 'one'), ('i2', 'two')");
    try (DeviceReplica replica = open(db)) {
      DeviceReplica.PushScan scan = new DeviceReplica.PushScan();
      dev.tidesync.protocol.PushRequest req = replica.nextBatch("ds", scan, 1000);
      assertThat(req.changes()).hasSize(2);
      replica.recordPushResult(req, new dev.tidesync.protocol.PushResult(req.batch(), List.of(
          new dev.tidesync.protocol.ChangeResult(0, "applied", 41, null, false),
          new dev.tidesync.protocol.ChangeResult(1, "applied", 42, null, false)), null, false));
      assertThat(replica.pending().total()).isZero();
    }
    try (DeviceReplica replica = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a").withTables(java.util.Set.of("other")))) {
      assertThat(replica.tables()).extracting(TableSchema::name).containsExactly("other");
    }
    try (DeviceReplica replica = open(db)) {
      replica.absorb();
      assertThat(rows(db, "SELECT pk, ver, dirty FROM _tidesync_rows WHERE tbl = 'items' ORDER BY pk"))
          .containsExactly("[\"i1\"]|41|1", "[\"i2\"]|42|1");
    }
  }

  @Test
  void aTableAddedBackWithWritesStillInTheLogLoadsItsRowsAfterThem() throws Exception {
    // Captured, written (insert and delete, not absorbed), left out of the table list, written
    // again, added back: the row that exists now must be pushed, not the logged delete (found
    // by review: the initial load went before the log).
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)", "CREATE TABLE other (id TEXT PRIMARY KEY)");
    try (DeviceReplica r = open(db)) {
      assertThat(r.tables()).hasSize(2);
    }
    sql(db, "INSERT INTO t VALUES ('a', 'x')", "DELETE FROM t WHERE id = 'a'");
    try (DeviceReplica r = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a").withTables(java.util.Set.of("other")))) {
      assertThat(r.tables()).hasSize(1);
    }
    sql(db, "INSERT INTO t VALUES ('a', 'back')");
    try (DeviceReplica r = open(db)) {
      r.absorb();
      List<String> sent = new java.util.ArrayList<>();
      Scans.eachBatch(r, 1000, req -> req.changes().forEach(c -> sent.add(c.table() + " " + c.pk() + (c.deleted() ? " delete" : " upsert " + c.cols()))));
      assertThat(sent).containsExactly("t [a] upsert {v=back}");
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
