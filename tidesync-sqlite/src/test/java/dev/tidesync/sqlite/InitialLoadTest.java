package dev.tidesync.sqlite;

import static dev.tidesync.sqlite.TestDb.count;
import static dev.tidesync.sqlite.TestDb.rows;
import static dev.tidesync.sqlite.TestDb.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The initial load of a table with a one-column key waits in the table (see
 * DeviceReplica.loadExisting): a row without metadata stands for a pending insert of the whole row
 * at the load's clock. Every path that meets such a row must see exactly that.
 */
class InitialLoadTest {
  @TempDir Path dir;

  private DeviceReplica open(Path db) {
    return DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"));
  }

  private static String loadClock(Path db, String table) throws Exception {
    return TestDb.one(db, "SELECT v FROM _tidesync_meta WHERE k = 'load:" + table + "'");
  }

  /** One scan's batches, each answered at once by {@code answer} (index in the batch → result) and recorded; the changes sent. */
  private static List<Change> push(DeviceReplica r, int limit, IntFunction<ChangeResult> answer) {
    List<Change> sent = new ArrayList<>();
    Scans.eachBatch(r, limit, req -> {
      List<ChangeResult> results = new ArrayList<>();
      for (int i = 0; i < req.changes().size(); i++) {
        results.add(answer.apply(i));
      }
      r.recordPushResult(req, new PushResult(req.batch(), results, null, false));
      sent.addAll(req.changes());
    });
    return sent;
  }

  /** The next scan sends nothing, and finds table t's load finished: every row of it has its metadata. */
  private static void nothingLeftAndTheLoadEnds(DeviceReplica r, Path db) throws Exception {
    assertThat(push(r, 10, InitialLoadTest::applied)).isEmpty();
    assertThat(loadClock(db, "t")).isNull();
  }

  private static ChangeResult applied(int i) {
    return new ChangeResult(i, ChangeResult.APPLIED, 100 + i, null, false);
  }

  @Test
  void rowsOfEveryKindOfKeyGoOnceWholeAtTheLoadsClockAndSettleClean() throws Exception {
    Path db = dir.resolve("app.db");
    // No declared type: the key column holds integers, plain and other text, a REAL, a BLOB.
    sql(db, "CREATE TABLE t (k PRIMARY KEY, a TEXT, b INTEGER)",
        "INSERT INTO t VALUES (7, 'int', 1), (-3, 'neg', 2), ('plain-key_1.x:y', 'p', 3), ('with space', 's', 4), ('é', 'e', 5), "
            + "('', 'empty', 6), (2.5, 'real', 7), (x'00ff', 'blob', 8), ('zz', 'z', 9), ('x/y ~!@#$%^&*()[]{}<>?''', 'ascii', 10), "
            + "('a\"b', 'quote', 11), ('back\\slash', 'bs', 12), ('tab' || char(9), 'control', 13)");
    try (DeviceReplica r = open(db)) {
      String clock = loadClock(db, "t");
      // Keys SQLite does not spell as Tidesync does (REAL, BLOB, non-ASCII, escaped in JSON) are
      // in the metadata already; the rest wait.
      assertThat(count(db, "SELECT count(*) FROM _tidesync_rows")).isEqualTo(6);
      assertThat(r.pending().total()).isEqualTo(13);

      List<Change> sent = push(r, 2, InitialLoadTest::applied);
      assertThat(sent).hasSize(13);
      assertThat(sent).allSatisfy(c -> {
        assertThat(c.deleted()).isFalse();
        assertThat(c.hlc()).isEqualTo(clock);
        assertThat(c.cols()).containsOnlyKeys("a", "b");
        assertThat(c.base()).isZero();
      });
      assertThat(sent.stream().map(c -> String.valueOf(c.pk().get(0))).sorted().toList())
          .containsExactly("", "-3", "2.5", "7", "a\"b", "back\\slash", "plain-key_1.x:y", "tab\t", "with space", "x'00ff'",
              "x/y ~!@#$%^&*()[]{}<>?'", "zz", "é");
      assertThat(r.pending().total()).isZero();
      assertThat(count(db, "SELECT count(*) FROM _tidesync_rows WHERE tbl = 't' AND dirty = 0 AND ver >= 100 AND live = '" + clock + "'"))
          .isEqualTo(13);
      assertThat(loadClock(db, "t")).isNotNull();
      nothingLeftAndTheLoadEnds(r, db);
    }
  }

  @Test
  void aRowRefusedInAPushIsWrittenIntoTheMetadataFailedOrStillPending() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES ('a', '1'), ('b', '2'), ('c', '3')");
    try (DeviceReplica r = open(db)) {
      List<Change> sent = push(r, 10, i -> switch (i) {
        case 0 -> new ChangeResult(0, ChangeResult.REJECTED, 0, "CHECK failed", false);
        case 1 -> new ChangeResult(1, ChangeResult.REJECTED, 0, "FOREIGN KEY (later)", true);
        default -> applied(i);
      });
      assertThat(sent).extracting(c -> c.pk().get(0)).containsExactly("a", "b", "c");
      assertThat(r.failures()).containsOnlyKeys("t [\"a\"]");
      assertThat(r.pending().pending()).containsExactly(Map.entry("t", 1L));
      assertThat(r.pending().failed()).containsExactly(Map.entry("t", 1L));
      // The row refused for now goes again (from the metadata, at the load's clock); the failed one does not.
      List<Change> again = push(r, 10, InitialLoadTest::applied);
      assertThat(again).extracting(c -> c.pk().get(0)).containsExactly("b");
      assertThat(again.get(0).hlc()).isEqualTo(sent.get(1).hlc());
      assertThat(r.pending().pending()).isEmpty();
      assertThat(r.pending().failed()).containsExactly(Map.entry("t", 1L));
    }
  }

  @Test
  void aRowRefusedAloneAsTooLargeIsFailedAndNamed() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES ('big', 'x')");
    try (DeviceReplica r = open(db)) {
      PushRequest req = r.nextBatch("ds", new DeviceReplica.PushScan(), 10);
      r.discardBatch(req.batch());
      assertThat(r.refuseAlone(req.changes().get(0), "too large")).isEqualTo("t [\"big\"]: too large");
      assertThat(r.failures()).containsOnlyKeys("t [\"big\"]");
    }
  }

  @Test
  void aPulledChangeOfAWaitingRowMeetsItAsAPendingLocalInsert() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)", "INSERT INTO items VALUES ('mine', 'local'), ('other', 'x')");
    try (DeviceReplica r = open(db)) {
      String clock = loadClock(db, "items");
      Map<String, Object> cols = new HashMap<>();
      cols.put("name", "theirs");
      Change pulled = new Change("items", List.of("mine"), false, cols, new Hlc(System.currentTimeMillis() + 60_000, 0, "server").toString(),
          null, 0, 9);
      DeviceReplica.ApplyOutcome o = r.applyPage(new PullPage("c1.e.9", false, false, r.tables(), List.of(pulled)));
      // Left to the push, which carries base 0: the server resolves the conflict and sends the winner back.
      assertThat(o.applied()).isZero();
      assertThat(rows(db, "SELECT id, name FROM items ORDER BY id")).containsExactly("mine|local", "other|x");
      assertThat(rows(db, "SELECT pk, ver, dirty, live FROM _tidesync_rows ORDER BY pk"))
          .containsExactly("[\"mine\"]|0|1|" + clock, "[\"other\"]|0|1|" + clock);
      assertThat(loadClock(db, "items")).isNull();
      List<Change> sent = push(r, 10, InitialLoadTest::applied);
      assertThat(sent).extracting(c -> c.pk().get(0) + " " + c.cols() + " " + c.base()).containsExactly("mine {name=local} 0", "other {name=x} 0");
    }
  }

  @Test
  void aBatchWhoseAnswerWasLostIsSentAgainFromTheOutboxAndItsRowsAreNotTakenTwice() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    PushRequest lost;
    try (DeviceReplica r = open(db)) {
      lost = r.nextBatch("ds", new DeviceReplica.PushScan(), 2);
      assertThat(lost.changes()).hasSize(2);
    }
    try (DeviceReplica r = open(db)) {
      List<PushRequest> outbox = r.outbox();
      assertThat(outbox).extracting(PushRequest::batch).containsExactly(lost.batch());
      // As a client does: the outbox first, answered and recorded, then the scan.
      r.recordPushResult(outbox.get(0), new PushResult(lost.batch(), List.of(applied(0), applied(1)), null, false));
      List<Change> sent = push(r, 10, InitialLoadTest::applied);
      assertThat(sent).extracting(c -> c.pk().get(0)).containsExactly(3L);
      assertThat(r.pending().total()).isZero();
      nothingLeftAndTheLoadEnds(r, db);
    }
  }

  @Test
  void aColumnAddedBeforeThePushGoesWithTheWaitingRows() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES ('a', '1')");
    try (DeviceReplica r = open(db)) {
      sql(db, "ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 5");
      r.refreshSchema();
      List<Change> sent = push(r, 10, InitialLoadTest::applied);
      assertThat(sent).extracting(c -> c.pk().get(0) + " " + c.cols()).containsExactly("a {v=1, w=5}");
    }
  }

  @Test
  void aTableThatComesToReferToItselfIsLoadedAtOnce() throws Exception {
    // Rows of a table that refers to itself go parents first, from the metadata: a rebuild that
    // adds such a reference writes the waiting rows into it.
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES ('a', '1'), ('b', '2')");
    try (DeviceReplica r = open(db)) {
      String clock = loadClock(db, "t");
      sql(db, "CREATE TABLE t_new (id TEXT PRIMARY KEY, v TEXT, parent TEXT REFERENCES t (id))", "INSERT INTO t_new (id, v) SELECT id, v FROM t",
          "DROP TABLE t", "ALTER TABLE t_new RENAME TO t", "UPDATE t SET parent = 'a' WHERE id = 'b'");
      r.refreshSchema();
      assertThat(loadClock(db, "t")).isNull();
      assertThat(rows(db, "SELECT pk, dirty, live FROM _tidesync_rows ORDER BY pk")).containsExactly("[\"a\"]|1|" + clock, "[\"b\"]|1|" + clock);
      List<Change> sent = push(r, 1, InitialLoadTest::applied);
      assertThat(sent).extracting(c -> c.pk().get(0) + " " + c.cols()).containsExactly("a {v=1, parent=null}", "b {v=2, parent=a}");
    }
  }
}
