package dev.tidesync.pg;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** PostgreSQL-specific behaviour of the store: type mapping, backend capture, the gap-free cursor. */
class PgStoreTest {
  static final TableSchema ITEMS = new TableSchema("items", List.of(
      new ColumnSchema("id", "TEXT", true, null),
      new ColumnSchema("n", "INTEGER", false, null),
      new ColumnSchema("r", "REAL", false, null),
      new ColumnSchema("t", "TEXT", false, null),
      new ColumnSchema("b", "BLOB", false, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);

  PgTestDatabase db;
  PgStorage storage;
  int batch;

  @BeforeEach
  void setUp() {
    db = PgTestDatabase.create();
    storage = PgStorage.open(db.url());
  }

  @AfterEach
  void tearDown() {
    storage.close();
    db.close();
  }

  static Change insert(String id, Object n, Object r, Object t, Object b) {
    Map<String, Object> cols = new LinkedHashMap<>();
    cols.put("id", id);
    cols.put("n", n);
    cols.put("r", r);
    cols.put("t", t);
    cols.put("b", b);
    return new Change("items", List.of(id), false, cols, "0000001700000000.00000.dev", null, 0, 0);
  }

  PushResult push(DatasetStore s, String device, Change... changes) {
    return s.push(new PushRequest(s.name(), device, "b" + (++batch), List.of(ITEMS), List.of(changes)));
  }

  static List<Change> pullAll(DatasetStore s, String cursor, String device, List<String> cursorOut) {
    List<Change> out = new ArrayList<>();
    String c = cursor;
    PullPage p;
    do {
      p = s.pull(c, 100, device);
      out.addAll(p.changes());
      c = p.cursor();
    } while (p.hasMore());
    cursorOut.add(c);
    return out;
  }

  void sql(String... statements) throws Exception {
    String schema = storage.schemaOf(DatasetId.of("d")).orElseThrow();
    try (Connection c = db.connect(); Statement st = c.createStatement()) {
      st.execute("SET search_path TO " + schema);
      for (String s : statements) {
        st.execute(s);
      }
    }
  }

  @Test
  void valuesRoundTripExactly() {
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    double[] reals = {0.1, -0.0, Double.MIN_VALUE, Double.MAX_VALUE, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 1e-310};
    List<Change> changes = new ArrayList<>();
    for (int i = 0; i < reals.length; i++) {
      changes.add(insert("r" + i, i % 2 == 0 ? Long.MIN_VALUE : Long.MAX_VALUE, reals[i], "نص 🌊 ✓ " + i, Bytes.of(new byte[] {0, (byte) 255, (byte) i})));
    }
    changes.add(insert("nulls", null, null, null, null));
    changes.add(insert("empty", 0L, 0.0, "", Bytes.of(new byte[0])));
    PushResult r = push(s, "a", changes.toArray(new Change[0]));
    assertThat(r.results()).allMatch(x -> x.status().equals(ChangeResult.APPLIED));

    List<Change> pulled = pullAll(s, null, "other", new ArrayList<>());
    assertThat(pulled).hasSize(changes.size());
    for (Change in : changes) {
      Change out = pulled.stream().filter(p -> p.pk().equals(in.pk())).findFirst().orElseThrow();
      for (String col : List.of("n", "t", "b")) {
        assertThat(out.cols().get(col)).as(in.pk() + "." + col).isEqualTo(in.cols().get(col));
      }
      Object rin = in.cols().get("r");
      Object rout = out.cols().get("r");
      if (rin == null) {
        assertThat(rout).isNull();
      } else {
        assertThat(Double.doubleToRawLongBits((Double) rout)).as(in.pk() + ".r").isEqualTo(Double.doubleToRawLongBits((Double) rin));
      }
    }
  }

  @Test
  void aValueOfTheWrongClassIsRejectedAloneWithAReason() {
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    PushResult r = push(s, "a", insert("ok", 1L, 1.5, "x", null), insert("bad", "not a number", null, null, null),
        insert("nul", 1L, null, "a\u0000b", null));
    assertThat(r.results().get(0).status()).isEqualTo(ChangeResult.APPLIED);
    assertThat(r.results().get(1).status()).isEqualTo(ChangeResult.REJECTED);
    assertThat(r.results().get(1).reason()).contains("column 'n'").contains("text");
    assertThat(r.results().get(2).status()).isEqualTo(ChangeResult.REJECTED);
    assertThat(r.results().get(2).reason()).contains("U+0000");
    assertThat(s.status().rows()).containsEntry("items", 1L);
  }

  @Test
  void aForeignKeyCreatedNotDeferrableIsMadeDeferrableWhenACycleComes() throws Exception {
    TableSchema nodes = new TableSchema("nodes", List.of(new ColumnSchema("id", "TEXT", true, null), new ColumnSchema("parent", "TEXT", false, null)),
        List.of("id"), List.of(new dev.tidesync.protocol.ForeignKey(List.of("parent"), "nodes", List.of("id"), "NO ACTION")),
        ConflictPolicy.FIELD_MERGE);
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    s.push(new PushRequest(s.name(), "a", "b" + (++batch), List.of(nodes), List.of()));
    // As a table created before foreign keys were made deferrable.
    sql("DO $$ DECLARE c text; BEGIN SELECT conname INTO c FROM pg_constraint WHERE conrelid = 'nodes'::regclass AND contype = 'f'; "
        + "EXECUTE format('ALTER TABLE nodes ALTER CONSTRAINT %I NOT DEFERRABLE', c); END $$");
    Change a = new Change("nodes", List.of("a"), false, Map.of("parent", "b"), "0000001700000000.00000.dev", null, 0, 0);
    Change b = new Change("nodes", List.of("b"), false, Map.of("parent", "a"), "0000001700000000.00001.dev", null, 0, 0);
    // The orphan fails the batch's fast path (where one multi-row insert would take the cycle
    // whole), so the cycle goes as a group.
    Change orphan = new Change("nodes", List.of("o"), false, Map.of("parent", "missing"), "0000001700000000.00002.dev", null, 0, 0);
    PushResult r = s.push(new PushRequest(s.name(), "a", "b" + (++batch), List.of(nodes), List.of(a, b, orphan)));
    assertThat(r.results()).as("%s", r.results()).extracting(ChangeResult::status)
        .containsExactly(ChangeResult.APPLIED, ChangeResult.APPLIED, ChangeResult.REJECTED);
    try (Connection c = db.connect(); Statement st = c.createStatement();
        java.sql.ResultSet rs = st.executeQuery("SELECT bool_and(condeferrable AND NOT condeferred) FROM pg_constraint WHERE contype = 'f' "
            + "AND connamespace = '" + storage.schemaOf(DatasetId.of("d")).orElseThrow() + "'::regnamespace")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getBoolean(1)).as("deferrable, initially immediate").isTrue();
    }
  }

  @Test
  void aKeyABackendMadeInitiallyDeferredRefusesTheOrphanAloneInsteadOfFailingTheCommit() throws Exception {
    TableSchema p = new TableSchema("p", List.of(new ColumnSchema("id", "TEXT", true, null), new ColumnSchema("name", "TEXT", false, null)),
        List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
    TableSchema c = new TableSchema("c", List.of(new ColumnSchema("id", "TEXT", true, null), new ColumnSchema("p", "TEXT", false, null)),
        List.of("id"), List.of(new dev.tidesync.protocol.ForeignKey(List.of("p"), "p", List.of("id"), "NO ACTION")), ConflictPolicy.FIELD_MERGE);
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    s.push(new PushRequest(s.name(), "a", "b" + (++batch), List.of(p, c), List.of()));
    // A backend's DBA makes the key checked at commit only.
    sql("DO $$ DECLARE k text; BEGIN SELECT conname INTO k FROM pg_constraint WHERE conrelid = 'c'::regclass AND contype = 'f'; "
        + "EXECUTE format('ALTER TABLE c ALTER CONSTRAINT %I DEFERRABLE INITIALLY DEFERRED', k); END $$");
    Change p1 = new Change("p", List.of("p1"), false, Map.of("name", "x"), "0000001700000000.00000.dev", null, 0, 0);
    Change orphan = new Change("c", List.of("c1"), false, Map.of("p", "missing"), "0000001700000000.00001.dev", null, 0, 0);
    Change child = new Change("c", List.of("c2"), false, Map.of("p", "p1"), "0000001700000000.00002.dev", null, 0, 0);
    PushResult r = s.push(new PushRequest(s.name(), "a", "b" + (++batch), List.of(p, c), List.of(p1, orphan, child)));
    assertThat(r.results()).as("%s", r.results()).extracting(ChangeResult::status)
        .containsExactly(ChangeResult.APPLIED, ChangeResult.REJECTED, ChangeResult.APPLIED);
    assertThat(r.results().get(1).retriable()).isTrue();
    assertThat(s.status().rows()).containsEntry("p", 1L).containsEntry("c", 1L);
  }

  @Test
  void aTableDroppedByHandFailsTheRequestAndTheDatasetStaysOpenButADroppedSchemaIsAMissingDataset() throws Exception {
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    push(s, "a", insert("i1", 1L, null, null, null));
    sql("DROP TABLE items CASCADE");
    assertThatThrownBy(() -> push(s, "a", insert("i2", 2L, null, null, null)))
        .isNotInstanceOf(dev.tidesync.core.DatasetNotFoundException.class).hasStackTraceContaining("items");
    assertThat(s.conflicts(0, 10)).isEmpty(); // still open: what does not read the table answers

    String schema = storage.schemaOf(DatasetId.of("d")).orElseThrow();
    try (Connection c = db.connect(); Statement st = c.createStatement()) {
      st.execute("DROP SCHEMA " + schema + " CASCADE");
    }
    assertThatThrownBy(() -> push(s, "a", insert("i3", 3L, null, null, null))).isInstanceOf(dev.tidesync.core.DatasetNotFoundException.class);
  }

  @Test
  void backendSqlIsCapturedAndPulledWithTheDeletedRowsValues() throws Exception {
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    push(s, "a", insert("i1", 1L, 0.5, "one", null), insert("i2", 2L, -0.0, "two", Bytes.of(new byte[] {1, 2})));
    List<String> cur = new ArrayList<>();
    pullAll(s, null, "b", cur);

    sql("INSERT INTO items (id, n, t) VALUES ('i3', 3, 'three')",
        "UPDATE items SET t = 'uno' WHERE id = 'i1'",
        "UPDATE items SET t = t WHERE id = 'i1'", // changes nothing: no entry worth a version
        "DELETE FROM items WHERE id = 'i2'");
    List<Change> got = pullAll(s, cur.get(0), "b", cur);
    assertThat(got).extracting(c -> c.pk().get(0) + (c.deleted() ? "-" : "+")).containsExactlyInAnyOrder("i3+", "i1+", "i2-");
    assertThat(got.stream().filter(c -> c.pk().get(0).equals("i1")).findFirst().orElseThrow().cols()).containsEntry("t", "uno");

    // The tombstone kept the deleted row's values (-0.0 and the blob included): a newer
    // concurrent update from a device that never saw the delete brings the row back whole.
    Change late = new Change("items", List.of("i2"), false, Map.of("n", 22L), String.format("%016d.%05d.dev", System.currentTimeMillis() + 1000, 0),
        null, 1, 0);
    PushResult r = s.push(new PushRequest("d", "c", "late", List.of(), List.of(late)));
    assertThat(r.results().get(0).status()).isNotEqualTo(ChangeResult.REJECTED);
    Change back = pullAll(s, cur.get(1), "b", cur).stream().filter(c -> c.pk().get(0).equals("i2")).findFirst().orElseThrow();
    assertThat(back.deleted()).isFalse();
    assertThat(back.cols()).containsEntry("n", 22L).containsEntry("t", "two").containsEntry("b", Bytes.of(new byte[] {1, 2}));
    assertThat(Double.doubleToRawLongBits((Double) back.cols().get("r"))).isEqualTo(Double.doubleToRawLongBits(-0.0));
  }

  /**
   * The scenario: a transaction takes its number and waits, a second commits, a device
   * pulls; then the first commits and the device's next pull receives it.
   */
  @Test
  void aChangeCommittedAfterALaterOneIsNotSkipped() throws Exception {
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    push(s, "a", insert("seed", 0L, null, null, null));
    List<String> cur = new ArrayList<>();
    pullAll(s, null, "reader", cur);
    String schema = storage.schemaOf(DatasetId.of("d")).orElseThrow();
    try (Connection slow = db.connect()) {
      slow.setAutoCommit(false);
      try (Statement st = slow.createStatement()) {
        // The slow transaction writes first, so its log entry takes the lower sequence number.
        st.execute("INSERT INTO " + schema + ".items (id, n) VALUES ('slow', 1)");
      }
      push(s, "a", insert("fast", 2L, null, null, null));
      try (Connection fast = db.connect(); Statement st = fast.createStatement()) {
        st.execute("INSERT INTO " + schema + ".items (id, n) VALUES ('fast-sql', 3)");
      }
      List<Change> first = pullAll(s, cur.get(0), "reader", cur);
      assertThat(first).extracting(c -> c.pk().get(0)).containsExactlyInAnyOrder("fast", "fast-sql");
      slow.commit();
    }
    List<Change> second = pullAll(s, cur.get(1), "reader", cur);
    assertThat(second).extracting(c -> c.pk().get(0)).containsExactly("slow");
  }

  /**
   * A backend transaction may commit while a push applies (backends do not take the dataset
   * lock): its log entry then arrives after the push that the table shows came later. Here the
   * entry of an update is put into the log after a push deleted the row, as such a race leaves
   * it; absorbing it must not bring the row back against the table (it did: GapFreeCursorTest
   * found it as a row a reader kept that the table no longer had).
   */
  @Test
  void aBackendEntryOlderThanAPushDoesNotContradictTheTable() throws Exception {
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    PushResult first = push(s, "a", insert("k", 1L, null, null, null), insert("other", 1L, null, null, null));
    List<String> cur = new ArrayList<>();
    pullAll(s, null, "reader", cur);
    Change delete = new Change("items", List.of("k"), true, Map.of(), String.format("%016d.%05d.dev", System.currentTimeMillis(), 0),
        null, first.results().get(0).version(), 0);
    s.push(new PushRequest("d", "a", "del", List.of(), List.of(delete)));
    sql("INSERT INTO _tidesync_log (tbl, pk, op, cols, vals, wall) VALUES ('items', '[\"k\"]', 'U', ARRAY['n'], NULL, 0)",
        "INSERT INTO _tidesync_log (tbl, pk, op, cols, vals, wall) VALUES ('items', '[\"other\"]', 'D', NULL, '{\"id\":\"other\",\"n\":1}', 0)");
    List<Change> got = pullAll(s, cur.get(0), "reader", cur);
    assertThat(got).extracting(c -> c.pk().get(0) + (c.deleted() ? "-" : "+")).containsExactly("k-");
    assertThat(s.status().rows()).containsEntry("items", 1L);
  }

  @Test
  void aRolledBackTransactionHoldsNothingUp() throws Exception {
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    push(s, "a", insert("seed", 0L, null, null, null));
    List<String> cur = new ArrayList<>();
    pullAll(s, null, "reader", cur);
    String schema = storage.schemaOf(DatasetId.of("d")).orElseThrow();
    try (Connection gone = db.connect()) {
      gone.setAutoCommit(false);
      try (Statement st = gone.createStatement()) {
        st.execute("INSERT INTO " + schema + ".items (id, n) VALUES ('gone', 1)");
      }
      push(s, "a", insert("after", 2L, null, null, null));
      gone.rollback();
    }
    assertThat(pullAll(s, cur.get(0), "reader", cur)).extracting(c -> c.pk().get(0)).containsExactly("after");
    assertThat(pullAll(s, cur.get(1), "reader", cur)).isEmpty();
  }

  @Test
  void tenantsAreSeparateAndDropForgetsEverything() {
    DatasetStore a = storage.openOrCreate(new DatasetId("acme", "d"));
    DatasetStore b = storage.openOrCreate(new DatasetId("globex", "d"));
    push(a, "x", insert("only-in-acme", 1L, null, null, null));
    assertThat(pullAll(b, null, "y", new ArrayList<>())).isEmpty();
    assertThat(storage.datasets("acme")).containsExactly(new DatasetId("acme", "d"));
    assertThat(storage.datasets()).containsExactly(new DatasetId("acme", "d"), new DatasetId("globex", "d"));

    String oldCursor = a.pull(null, 10, "y").cursor();
    assertThat(storage.drop(new DatasetId("acme", "d"))).isTrue();
    assertThat(storage.drop(new DatasetId("acme", "d"))).isFalse();
    assertThat(storage.find(new DatasetId("acme", "d"))).isEmpty();
    DatasetStore again = storage.openOrCreate(new DatasetId("acme", "d"));
    assertThat(again.schema()).isEmpty();
    assertThatThrownBy(() -> again.pull(oldCursor, 10, "y")).isInstanceOf(ProtocolException.class).hasMessageContaining("bootstrap again");
  }

  @Test
  void aCursorAheadOfTheDatasetIsRefusedNotAnsweredWithNothingNew() throws Exception {
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    push(s, "a", insert("i1", 1L, null, null, null));
    String cursor = s.pull(null, 10, "b").cursor();
    // What a restore from an older backup looks like to a device: the dataset's counter is behind.
    sql("UPDATE _tidesync_meta SET v = '0' WHERE k = 'seq'");
    assertThatThrownBy(() -> s.pull(cursor, 10, "b")).isInstanceOfSatisfying(ProtocolException.class, e -> {
      assertThat(e.code()).isEqualTo("cursor_invalid");
      assertThat(e.status()).isEqualTo(409);
    });
  }

  /** The pulls counted in {@code _tidesync_devices}, read straight from the database. */
  long pullsInDatabase(String device) throws Exception {
    String schema = storage.schemaOf(DatasetId.of("d")).orElseThrow();
    try (Connection c = db.connect(); Statement st = c.createStatement();
        java.sql.ResultSet rs = st.executeQuery("SELECT pulls FROM " + schema + "._tidesync_devices WHERE device = '" + device + "'")) {
      return rs.next() ? rs.getLong(1) : 0;
    }
  }

  /** Reopens the storage with its pull statistics written every {@code millis}; dataset "d" with one row. */
  DatasetStore reopenWithPullStatsEvery(long millis) {
    storage.close();
    storage = PgStorage.open(db.url(), dev.tidesync.protocol.WallClock.SYSTEM, PgStorage.DEFAULT_MAX_DRIFT_MILLIS, 4, "", millis);
    DatasetStore s = storage.openOrCreate(DatasetId.of("d"));
    push(s, "a", insert("r1", 1L, null, null, null));
    return s;
  }

  @Test
  void aPullWritesNothingTheStatisticsGoInOneFlush() throws Exception {
    DatasetStore s = reopenWithPullStatsEvery(3_600_000);
    for (String device : List.of("b", "c", "b")) {
      s.pull(null, 10, device);
    }
    assertThat(pullsInDatabase("b")).as("no flush yet (the timer's hour has not passed)").isZero();
    storage.flushPullStats();
    assertThat(pullsInDatabase("b")).isEqualTo(2);
    assertThat(pullsInDatabase("c")).isEqualTo(1);
    storage.flushPullStats(); // nothing pending: nothing added
    assertThat(pullsInDatabase("b")).isEqualTo(2);
  }

  /** Another server process's status sees this one's pulls within the flush interval, without a status here. */
  @Test
  void anotherProcessSeesPullsOnceTheTimerFlushedThem() throws Exception {
    DatasetStore s = reopenWithPullStatsEvery(50);
    s.pull(null, 10, "b");
    s.pull(null, 10, "b");
    try (PgStorage other = PgStorage.open(db.url())) {
      DatasetStore o = other.find(DatasetId.of("d")).orElseThrow();
      long deadline = System.nanoTime() + 10_000_000_000L;
      long pulls = 0;
      while (pulls < 2 && System.nanoTime() < deadline) {
        Thread.sleep(20);
        pulls = o.status().devices().stream().filter(d -> d.device().equals("b")).mapToLong(d -> d.pulls()).sum();
      }
      assertThat(pulls).isEqualTo(2);
    }
  }

  @Test
  void serverStateIsSharedThroughTheDatabase() {
    assertThat(storage.state().signingKey(() -> "first")).isEqualTo("first");
    try (PgStorage other = PgStorage.open(db.url())) {
      assertThat(other.state().signingKey(() -> "second")).isEqualTo("first");
      other.state().revokeDevice("acme", "dev-1", 1000);
    }
    assertThat(storage.state().revokedAt("acme", "dev-1")).hasValue(1000);
    assertThat(storage.state().revokedAt("acme", "dev-2")).isEmpty();
  }
}
