package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tables a backend created in an embedded dataset's file with SQLite features that act at the
 * end of a transaction or end it: a foreign key {@code DEFERRABLE INITIALLY DEFERRED} (checked
 * only at COMMIT) and a constraint or trigger that rolls the transaction back ({@code ON CONFLICT
 * ROLLBACK}, {@code RAISE(ROLLBACK, ...)}). A change that fails them is refused alone, as any
 * other failing change, and the rest of its batch applies: before, the whole push failed, every
 * time it was sent. The deferred keys are judged by SQLite's own {@code PRAGMA foreign_key_check},
 * so in the parent's collation and affinity, through cascades and in tables the store does not
 * sync.
 */
class BackendConstraintsTest {
  private static final String P = "CREATE TABLE p (id TEXT PRIMARY KEY, name TEXT)";
  private static final String C_DEFERRED = "CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)";

  @TempDir Path dir;
  private SqliteDatasetStore store;
  private long millis = System.currentTimeMillis() - 60_000;
  private final Map<String, Long> versions = new HashMap<>();

  @AfterEach
  void close() {
    if (store != null) {
      store.close();
    }
  }

  /** Creates the file with the backend's DDL (and rows), then opens the store over it. */
  private void open(String... backendSql) throws SQLException {
    Path file = dir.resolve("ds.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file); Statement s = c.createStatement()) {
      s.execute("PRAGMA foreign_keys = ON");
      for (String q : backendSql) {
        s.execute(q);
      }
    }
    store = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000);
  }

  private Change up(String table, String id, Object... cols) {
    Map<String, Object> m = new HashMap<>();
    for (int i = 0; i < cols.length; i += 2) {
      m.put((String) cols[i], cols[i + 1]);
    }
    return new Change(table, List.of(id), false, m, new Hlc(++millis, 0, "dev-a").toString(), null, versions.getOrDefault(table + "/" + id, 0L), 0);
  }

  private Change del(String table, String id) {
    return new Change(table, List.of(id), true, Map.of(), new Hlc(++millis, 0, "dev-a").toString(), null,
        versions.getOrDefault(table + "/" + id, 0L), 0);
  }

  private PushResult push(Change... changes) {
    return push(UUID.randomUUID().toString(), changes);
  }

  private PushResult push(String batch, Change... changes) {
    PushResult r = store.push(new PushRequest("ds", "dev-a", batch, List.of(), List.of(changes)));
    for (ChangeResult cr : r.results()) {
      Change ch = changes[cr.index()];
      if (cr.version() > 0) {
        versions.put(ch.table() + "/" + ch.pk().get(0), cr.version());
      }
    }
    return r;
  }

  private static List<String> statuses(PushResult r) {
    List<String> out = new ArrayList<>();
    for (ChangeResult cr : r.results()) {
      out.add(cr.status() + (ChangeResult.REJECTED.equals(cr.status()) ? (cr.retriable() ? "/retriable" : "/permanent") : ""));
    }
    return out;
  }

  private List<List<Object>> rows(String sql) throws SQLException {
    return rows(dir.resolve("ds.db"), sql);
  }

  /** The rows {@code sql} reads from the file, on a connection of its own. */
  static List<List<Object>> rows(Path file, String sql) throws SQLException {
    List<List<Object>> out = new ArrayList<>();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + file); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      while (rs.next()) {
        List<Object> row = new ArrayList<>();
        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
          row.add(rs.getObject(i));
        }
        out.add(row);
      }
    }
    return out;
  }

  private static final String APPLIED = ChangeResult.APPLIED;
  private static final String LATER = "rejected/retriable";
  private static final String NEVER = "rejected/permanent";

  @Test
  void aRowWhoseDeferredParentIsMissingIsRefusedForNowAloneAndGoesInOnceTheParentDoes() throws Exception {
    open(P, C_DEFERRED);
    PushResult r = push(up("p", "p1", "name", "x"), up("c", "c1", "p", "nope"), up("c", "c2", "p", "p1"));
    assertThat(statuses(r)).containsExactly(APPLIED, LATER, APPLIED);
    assertThat(r.results().get(1).reason()).contains("FOREIGN KEY").contains("'c'");
    assertThat(rows("SELECT id, p FROM c ORDER BY id")).containsExactly(List.of("c2", "p1"));
    // Versions stay gap-free: the refused row's version was taken back.
    assertThat(r.results().stream().mapToLong(ChangeResult::version).filter(v -> v > 0).sorted().toArray())
        .containsExactly(r.results().get(0).version(), r.results().get(0).version() + 1);
    assertThat(statuses(push(up("p", "nope", "name", "late"), up("c", "c1", "p", "nope")))).containsExactly(APPLIED, APPLIED);
    assertThat(rows("SELECT id, p FROM c ORDER BY id")).containsExactly(List.of("c1", "nope"), List.of("c2", "p1"));
  }

  @Test
  void aReplayOfABatchWithARefusedDeferredRowGetsTheSameAnswerAndWritesNothing() throws Exception {
    open(P, C_DEFERRED);
    String batch = UUID.randomUUID().toString();
    Change[] changes = {up("p", "p1", "name", "x"), up("c", "c1", "p", "nope")};
    PushResult first = push(batch, changes);
    PushResult again = push(batch, changes);
    assertThat(again.replayed()).isTrue();
    assertThat(again.results()).isEqualTo(first.results());
    assertThat(rows("SELECT count(*) FROM c")).containsExactly(List.of(0));
  }

  @Test
  void aParentsReferencedUniqueColumnChangedUnderADeferredChildIsRefusedForNow() throws Exception {
    open("CREATE TABLE p (id TEXT PRIMARY KEY, code TEXT UNIQUE)",
        "CREATE TABLE c (id TEXT PRIMARY KEY, pc TEXT REFERENCES p (code) DEFERRABLE INITIALLY DEFERRED)");
    assertThat(statuses(push(up("p", "p1", "code", "a"), up("c", "c1", "pc", "a")))).containsExactly(APPLIED, APPLIED);
    PushResult r = push(up("p", "p1", "code", "b"), up("p", "p2", "code", "z"));
    assertThat(statuses(r)).containsExactly(LATER, APPLIED);
    assertThat(rows("SELECT id, code FROM p ORDER BY id")).containsExactly(List.of("p1", "a"), List.of("p2", "z"));
  }

  @Test
  void aDeleteWhoseImmediateCascadeOrphansADeferredGrandchildIsRefusedForNow() throws Exception {
    open(P, "CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p (id) ON DELETE CASCADE)",
        "CREATE TABLE g (id TEXT PRIMARY KEY, c TEXT REFERENCES c (id) DEFERRABLE INITIALLY DEFERRED)");
    assertThat(statuses(push(up("p", "p1", "name", "x"), up("c", "c1", "p", "p1"), up("g", "g1", "c", "c1")))).containsOnly(APPLIED);
    PushResult r = push(del("p", "p1"), up("p", "p2", "name", "y"));
    assertThat(statuses(r)).containsExactly(LATER, APPLIED);
    assertThat(rows("SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM c), (SELECT count(*) FROM g)")).containsExactly(List.of(2, 1, 1));
  }

  @Test
  void aDeleteWhoseSetDefaultPointsAtAMissingParentIsRefusedForNow() throws Exception {
    open(P, "CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT DEFAULT 'zzz' REFERENCES p (id) ON DELETE SET DEFAULT DEFERRABLE INITIALLY DEFERRED)");
    push(up("p", "p1", "name", "x"), up("c", "c1", "p", "p1"));
    assertThat(statuses(push(del("p", "p1")))).containsExactly(LATER);
    assertThat(statuses(push(up("p", "zzz", "name", "fallback")))).containsExactly(APPLIED);
    assertThat(statuses(push(del("p", "p1")))).containsExactly(APPLIED);
    assertThat(rows("SELECT id, p FROM c")).containsExactly(List.of("c1", "zzz"));
  }

  @Test
  void aDeleteThatWouldOrphanARowOfATableTheStoreDoesNotSyncIsRefusedForNow() throws Exception {
    // A REAL primary key: the store does not adopt the table, but SQLite still checks its key.
    open(P, "CREATE TABLE x (k REAL PRIMARY KEY, p TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)");
    push(up("p", "p1", "name", "x"));
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + dir.resolve("ds.db")); Statement s = c.createStatement()) {
      s.execute("INSERT INTO x VALUES (1.5, 'p1')");
    }
    assertThat(statuses(push(del("p", "p1"), up("p", "p2", "name", "y")))).containsExactly(LATER, APPLIED);
    assertThat(rows("SELECT id FROM p ORDER BY id")).containsExactly(List.of("p1"), List.of("p2"));
  }

  @Test
  void keysAreComparedInTheParentsCollationAndAffinityAsSqliteDoes() throws Exception {
    open("CREATE TABLE p (id TEXT COLLATE NOCASE PRIMARY KEY, n INTEGER UNIQUE)",
        "CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TABLE d (id TEXT PRIMARY KEY, pn REFERENCES p (n) DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TABLE b (id TEXT PRIMARY KEY)",
        "CREATE TABLE e (id TEXT PRIMARY KEY, b TEXT COLLATE NOCASE REFERENCES b (id) DEFERRABLE INITIALLY DEFERRED)");
    // A NOCASE parent matches a child of another case; an INTEGER parent matches the text '1'.
    assertThat(statuses(push(up("p", "p1", "n", 1L), up("c", "c1", "p", "P1"), up("d", "d1", "pn", "1")))).containsOnly(APPLIED);
    // A BINARY parent: the NOCASE child refers to 'B1' alone, so deleting 'b1' orphans nothing,
    // while deleting 'B1' would.
    assertThat(statuses(push(up("b", "b1"), up("b", "B1"), up("e", "e1", "b", "B1")))).containsOnly(APPLIED);
    assertThat(statuses(push(del("b", "b1"), del("b", "B1")))).containsExactly(APPLIED, LATER);
    assertThat(rows("SELECT id FROM b")).containsExactly(List.of("B1"));
  }

  @Test
  void aConstraintThatRollsTheTransactionBackRefusesThatChangeAloneForGood() throws Exception {
    open("CREATE TABLE t (id TEXT PRIMARY KEY, code TEXT UNIQUE ON CONFLICT ROLLBACK, note TEXT NOT NULL ON CONFLICT ROLLBACK DEFAULT '')");
    PushResult r = push(up("t", "t1", "code", "a"), up("t", "t2", "code", "a"), up("t", "t3", "code", "b"),
        up("t", "t4", "code", "c", "note", null), up("t", "t5", "code", "d"));
    assertThat(statuses(r)).containsExactly(APPLIED, NEVER, APPLIED, NEVER, APPLIED);
    assertThat(r.results().get(1).reason()).contains("UNIQUE").contains("t.code");
    assertThat(r.results().get(3).reason()).contains("NOT NULL");
    assertThat(rows("SELECT id, code FROM t ORDER BY id")).containsExactly(List.of("t1", "a"), List.of("t3", "b"), List.of("t5", "d"));
    assertThat(r.results().stream().mapToLong(ChangeResult::version).filter(v -> v > 0).sorted().toArray())
        .containsExactly(r.results().get(0).version(), r.results().get(0).version() + 1, r.results().get(0).version() + 2);
    assertThat(statuses(push(up("t", "t6", "code", "e")))).containsExactly(APPLIED);
  }

  @Test
  void aBackendTriggerThatRaisesRollbackRefusesThatChangeAloneWithItsMessage() throws Exception {
    open("CREATE TABLE t (id TEXT PRIMARY KEY, code TEXT)",
        "CREATE TRIGGER t_guard BEFORE INSERT ON t WHEN NEW.code = 'bad' BEGIN SELECT RAISE(ROLLBACK, 'bad code'); END");
    PushResult r = push(up("t", "t1", "code", "bad"), up("t", "t2", "code", "good"));
    assertThat(statuses(r)).containsExactly(NEVER, APPLIED);
    assertThat(r.results().get(0).reason()).contains("bad code");
    assertThat(rows("SELECT id FROM t")).containsExactly(List.of("t2"));
  }

  @Test
  void aBatchWithBothADeferredOrphanAndARollbackConstraintAppliesTheRest() throws Exception {
    open(P, C_DEFERRED, "CREATE TABLE t (id TEXT PRIMARY KEY, code TEXT UNIQUE ON CONFLICT ROLLBACK)");
    List<Change> changes = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      changes.add(up("p", "p" + i, "name", "n" + i));
      changes.add(up("c", "c" + i, "p", i % 13 == 5 ? "nope" + i : "p" + i));
      changes.add(up("t", "t" + i, "code", i % 17 == 3 ? "dup" : "k" + i));
    }
    PushResult r = push(changes.toArray(Change[]::new));
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      expected.addAll(Arrays.asList(APPLIED, i % 13 == 5 ? LATER : APPLIED, i % 17 == 3 && i != 3 ? NEVER : APPLIED));
    }
    assertThat(statuses(r)).containsExactlyElementsOf(expected);
    assertThat(rows("SELECT count(*) FROM c")).containsExactly(List.of(40 - 3));
    assertThat(rows("SELECT count(*) FROM t")).containsExactly(List.of(40 - 2));
    // Every version once, no gap: what was refused gave its version back.
    long[] v = r.results().stream().mapToLong(ChangeResult::version).filter(x -> x > 0).sorted().toArray();
    assertThat(v).hasSize(40 + 37 + 38);
    assertThat(v[v.length - 1] - v[0]).isEqualTo(v.length - 1);
  }

  @Test
  void aBatchOfManyDeferredOrphansFindsSomeEachPushAndTheRestGoInAsTheDeviceSendsThemAgain() throws Exception {
    open(P, C_DEFERRED);
    List<Change> parents = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      parents.add(up("p", "p" + i, "name", "n"));
    }
    push(parents.toArray(Change[]::new));
    // 400 children, one in four an orphan: far more than one push's checks can single out.
    List<Change> pending = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      pending.add(up("c", String.format("c%03d", i), "p", i % 4 == 1 ? "nope" + i : "p" + (i % 50)));
    }
    long started = System.nanoTime();
    int[] rounds = {0};
    pending = sendAgainUntilNoProgress(pending, rounds);
    assertThat(pending).extracting(c -> (String) c.cols().get("p")).allMatch(p -> p.startsWith("nope")).hasSize(100);
    assertThat(rows("SELECT count(*) FROM c")).containsExactly(List.of(300));
    assertThat(rows("PRAGMA foreign_key_check")).isEmpty();
    System.out.printf("400 children, 100 orphans: %d pushes, %d ms%n", rounds[0], (System.nanoTime() - started) / 1_000_000);
  }

  @Test
  void deletesOfParentsThatDeferredChildrenStillReferToAreFoundWithinOnePushsChecks() throws Exception {
    // A parent's delete is not told apart by the row it wrote: the checks halve the batch.
    assertThat(deleteParents(400, 4, 100)).isEqualTo(2); // all found in the first push; the second changes nothing
  }

  @Test
  void whenAPushRunsOutOfChecksTheChangesNotToldApartAreRefusedForNowAndGoInWhenSentAgain() throws Exception {
    long nanos = SqliteDatasetStore.keyChecksNanos;
    SqliteDatasetStore.keyChecksNanos = 0; // 128 checks per push, whatever the time
    try {
      assertThat(deleteParents(400, 10, 40)).isGreaterThan(2);
    } finally {
      SqliteDatasetStore.keyChecksNanos = nanos;
    }
  }

  /**
   * Pushes {@code n} parents, every {@code every}-th with a child, then deletes all the parents,
   * sending what is refused for now again (as a device does) until a push changes nothing.
   * Returns the number of delete pushes.
   */
  private int deleteParents(int n, int every, int referred) throws Exception {
    open(P, C_DEFERRED);
    List<Change> rows = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      rows.add(up("p", String.format("p%03d", i), "name", "n"));
      if (i % every == 1) {
        rows.add(up("c", "c" + i, "p", String.format("p%03d", i)));
      }
    }
    push(rows.toArray(Change[]::new));
    List<Change> pending = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      pending.add(del("p", String.format("p%03d", i)));
    }
    long started = System.nanoTime();
    int[] pushes = {0};
    pending = sendAgainUntilNoProgress(pending, pushes);
    assertThat(pending).hasSize(referred);
    assertThat(rows("SELECT count(*) FROM p")).containsExactly(List.of(referred));
    assertThat(rows("PRAGMA foreign_key_check")).isEmpty();
    System.out.printf("%d parent deletes, %d refused: %d pushes, %d ms%n", n, referred, pushes[0], (System.nanoTime() - started) / 1_000_000);
    return pushes[0];
  }

  /**
   * Pushes {@code pending}, then what was refused (for now, as every refusal here must be) again,
   * as a device does, until a push refuses as many as it was sent (at most 60 pushes, counted in
   * {@code pushes[0]}). Returns what the last push refused.
   */
  private List<Change> sendAgainUntilNoProgress(List<Change> pending, int[] pushes) {
    for (int before = Integer.MAX_VALUE; pending.size() < before && pushes[0] < 60; pushes[0]++) {
      before = pending.size();
      PushResult r = push(pending.toArray(Change[]::new));
      List<Change> next = new ArrayList<>();
      for (ChangeResult cr : r.results()) {
        if (ChangeResult.REJECTED.equals(cr.status())) {
          assertThat(cr.retriable()).as(cr.reason()).isTrue();
          next.add(pending.get(cr.index()));
        }
      }
      pending = next;
    }
    return pending;
  }

  @Test
  void aRowThatClashesOnlyWithARowRefusedForItsDeferredKeyGoesIn() throws Exception {
    // Found in review: t2 clashed with t1, applied first, and was refused for good; t1 was then
    // refused for its key, so t2 must go in, as with the key checked at once.
    open(P, "CREATE TABLE t (id TEXT PRIMARY KEY, code TEXT UNIQUE ON CONFLICT ROLLBACK, p TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)");
    push(up("p", "p1", "name", "x"));
    assertThat(statuses(push(up("t", "t1", "code", "a", "p", "nope"), up("t", "t2", "code", "a", "p", "p1")))).containsExactly(NEVER, APPLIED);
    assertThat(rows("SELECT id FROM t")).containsExactly(List.of("t2"));
  }

  @Test
  void aTriggerThatEndsTheTransactionForAClashWithARowRefusedForItsDeferredKeyLetsTheOtherIn() throws Exception {
    open(P, "CREATE TABLE t (id TEXT PRIMARY KEY, code TEXT, p TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)",
        "CREATE TRIGGER t_once BEFORE INSERT ON t WHEN EXISTS (SELECT 1 FROM t WHERE code = NEW.code) BEGIN SELECT RAISE(ROLLBACK, 'code taken'); END");
    push(up("p", "p1", "name", "x"));
    PushResult r = push(up("t", "t1", "code", "a", "p", "nope"), up("t", "t2", "code", "a", "p", "p1"));
    assertThat(statuses(r)).containsExactly(NEVER, APPLIED);
    assertThat(r.results().get(0).reason()).contains("code taken");
    assertThat(rows("SELECT id FROM t")).containsExactly(List.of("t2"));
  }

  @Test
  void manyChangesThatEndTheTransactionCostABoundedNumberOfAttemptsAndTheRestGoInWhenSentAgain() throws Exception {
    open("CREATE TABLE t (id TEXT PRIMARY KEY, code TEXT)",
        "CREATE TRIGGER t_guard BEFORE INSERT ON t WHEN NEW.code = 'bad' BEGIN SELECT RAISE(ROLLBACK, 'bad code'); END");
    List<Change> pending = new ArrayList<>();
    for (int i = 0; i < 600; i++) {
      pending.add(up("t", String.format("t%03d", i), "code", i % 10 == 3 ? "bad" : "ok"));
    }
    long started = System.nanoTime();
    PushResult first = push(pending.toArray(Change[]::new));
    long firstMillis = (System.nanoTime() - started) / 1_000_000;
    // 60 changes end the transaction: the first push refuses 17 of them for good (the 17th ends
    // the last attempt), and what came after the 17th for now.
    assertThat(first.results().stream().filter(r -> !r.retriable() && ChangeResult.REJECTED.equals(r.status())).count()).isEqualTo(17);
    List<Change> again = new ArrayList<>();
    int forGood = 0;
    for (ChangeResult r : first.results()) {
      if (ChangeResult.REJECTED.equals(r.status())) {
        if (r.retriable()) {
          again.add(pending.get(r.index()));
        } else {
          forGood++;
        }
      }
    }
    for (int pushes = 0; !again.isEmpty() && pushes < 10; pushes++) {
      PushResult r = push(again.toArray(Change[]::new));
      List<Change> next = new ArrayList<>();
      for (ChangeResult cr : r.results()) {
        if (ChangeResult.REJECTED.equals(cr.status())) {
          if (cr.retriable()) {
            next.add(again.get(cr.index()));
          } else {
            assertThat(cr.reason()).contains("bad code");
            forGood++;
          }
        }
      }
      again = next;
    }
    assertThat(again).isEmpty();
    assertThat(forGood).isEqualTo(60);
    assertThat(rows("SELECT count(*) FROM t")).containsExactly(List.of(540));
    System.out.printf("600 changes, 60 ending the transaction: first push %d ms%n", firstMillis);
  }
}
