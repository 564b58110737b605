package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.core.DatasetStatus;
import dev.tidesync.core.DeviceStatus;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A batch one change of which fails is tried whole in one transaction, which is rolled back, and
 * then applied change by change in a new one (SqliteDatasetStore.push): nothing of the first
 * attempt may show, and nothing of it may be done twice (schema changes, statistics, the conflict
 * log, a replay, a cascade, backend writes waiting to be versioned, an Error in the second
 * attempt, pulls running meanwhile). Written as probes in review of the change.
 */
class WholeBatchRetryTest {
  static final TableSchema ITEMS = new TableSchema("items", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("name", "TEXT", false, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
  static final TableSchema ITEMS2 = new TableSchema("items", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("name", "TEXT", false, null), new ColumnSchema("extra", "TEXT", false, null)), List.of("id"), List.of(),
      ConflictPolicy.FIELD_MERGE);
  static final TableSchema NOTES = new TableSchema("notes", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("body", "TEXT", true, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
  static final TableSchema PARENTS = new TableSchema("parents", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("name", "TEXT", false, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
  static final TableSchema KIDS = new TableSchema("kids", List.of(new ColumnSchema("id", "TEXT", false, null),
      new ColumnSchema("parent", "TEXT", false, null)), List.of("id"),
      List.of(new ForeignKey(List.of("parent"), "parents", List.of("id"), "CASCADE")), ConflictPolicy.FIELD_MERGE);

  @TempDir Path dir;
  long millis = System.currentTimeMillis() - 60_000;

  private Change up(String table, String id, Map<String, Object> cols) {
    return new Change(table, List.of(id), false, cols, new Hlc(++millis, 0, "dev-a").toString(), null, 0, 0);
  }

  private Change up(String table, String id, String col, Object v) {
    Map<String, Object> m = new HashMap<>();
    m.put(col, v);
    return up(table, id, m);
  }

  private Change del(String table, String id, long base) {
    return new Change(table, List.of(id), true, Map.of(), new Hlc(++millis, 0, "dev-a").toString(), null, base, 0);
  }

  private static PushResult push(SqliteDatasetStore s, List<TableSchema> schema, Change... changes) {
    return s.push(new PushRequest(s.name(), "dev-a", UUID.randomUUID().toString(), schema, List.of(changes)));
  }

  private static List<Change> pullAll(SqliteDatasetStore s, String cursor, String device, AtomicReference<String> end) {
    List<Change> out = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      PullPage p = s.pull(cursor, 1000, device);
      out.addAll(p.changes());
      cursor = p.cursor();
      if (!p.hasMore()) {
        break;
      }
    }
    if (end != null) {
      end.set(cursor);
    }
    return out;
  }

  /** DDL (new table, new column) done by the rolled-back attempt is done again by the one that commits, triggers and all. */
  @Test
  void schemaChangesOfTheRolledBackAttemptAreRedone() throws Exception {
    Path file = dir.resolve("ds.db");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      push(s, List.of(ITEMS), up("items", "i0", "name", "zero"));
      PushResult r = push(s, List.of(ITEMS2, NOTES), up("items", "i1", Map.of("name", "one", "extra", "x")),
          up("notes", "n1", "body", null), // NOT NULL: fails the whole batch
          up("notes", "n2", "body", "two"));
      assertThat(r.results()).extracting(ChangeResult::status).containsExactly("applied", "rejected", "applied");
      assertThat(s.schema()).extracting(TableSchema::name).containsExactlyInAnyOrder("items", "notes");
      assertThat(s.schema().stream().filter(t -> t.name().equals("items")).findFirst().orElseThrow().columnNames())
          .containsExactly("id", "name", "extra");
      // Triggers of the new table and the new column: backend writes are captured.
      TestDb.sql(file, "INSERT INTO notes (id, body) VALUES ('nb', 'backend')", "UPDATE items SET extra = 'y' WHERE id = 'i0'");
      List<Change> all = pullAll(s, null, "dev-b", null);
      assertThat(all).extracting(c -> c.table() + ":" + c.pk().get(0) + "@" + c.version())
          .containsExactlyInAnyOrder("items:i1@2", "notes:n2@3", "notes:nb@4", "items:i0@5");
      assertThat(all.stream().filter(c -> c.pk().get(0).equals("i0")).findFirst().orElseThrow().cols()).containsEntry("extra", "y");
      assertThat(TestDb.count(file, "SELECT count(*) FROM _tidesync_capture WHERE tbl = 'notes'")).isEqualTo(1);
      // And the next push writes both tables.
      assertThat(push(s, List.of(ITEMS2, NOTES), up("items", "i3", Map.of("name", "three", "extra", "z")), up("notes", "n3", "body", "3"))
          .results()).extracting(ChangeResult::version).containsExactly(6L, 7L);
    }
    // Reopened: the schema stored is the one that committed.
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      assertThat(s.schema()).extracting(TableSchema::name).containsExactlyInAnyOrder("items", "notes");
    }
  }

  /** Pulls noted before a failing push are written once; the push is counted once; one conflict is logged. */
  @Test
  void statisticsAndConflictLogAreWrittenOnce() throws Exception {
    Path file = dir.resolve("ds.db");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      push(s, List.of(NOTES), up("notes", "n0", "body", "zero"));
      for (int i = 0; i < 3; i++) {
        s.pull(null, 100, "dev-b");
      }
      // n0 with base 0 while stored at version 1: a conflict; then a failing change.
      PushResult r = push(s, List.of(NOTES), up("notes", "n0", "body", "again"), up("notes", "bad", "body", null),
          up("notes", "n1", "body", "one"));
      assertThat(r.results()).extracting(ChangeResult::status).containsExactly(ChangeResult.CONFLICT, "rejected", "applied");
      DatasetStatus st = s.status();
      Map<String, DeviceStatus> byDevice = new HashMap<>();
      st.devices().forEach(d -> byDevice.put(d.device(), d));
      assertThat(byDevice.get("dev-b").pulls()).isEqualTo(3);
      assertThat(byDevice.get("dev-a").pushes()).isEqualTo(2);
      assertThat(byDevice.get("dev-a").changes()).isEqualTo(4);
      assertThat(st.conflicts()).isEqualTo(1);
      assertThat(s.conflicts(0, 100)).hasSize(1);
      assertThat(st.version()).isEqualTo(3);
    }
  }

  /** A replay of a batch that failed whole gets the recorded answer and writes nothing. */
  @Test
  void aReplayOfABatchThatFailedWholeIsAnswered() throws Exception {
    Path file = dir.resolve("ds.db");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      PushRequest req = new PushRequest(s.name(), "dev-a", "b1", List.of(NOTES),
          List.of(up("notes", "n1", "body", "one"), up("notes", "bad", "body", null)));
      PushResult first = s.push(req);
      PushResult again = s.push(req);
      assertThat(again.replayed()).isTrue();
      assertThat(again.results()).isEqualTo(first.results());
      assertThat(TestDb.count(file, "SELECT count(*) FROM _tidesync_batches")).isEqualTo(1);
      assertThat(TestDb.one(file, "SELECT pushes FROM _tidesync_devices WHERE device = 'dev-a'")).isEqualTo("1");
    }
  }

  /** A cascade absorbed in the rolled-back attempt is absorbed once, by the attempt that commits. */
  @Test
  void aCascadeInAFailingBatchIsVersionedOnce() throws Exception {
    Path file = dir.resolve("ds.db");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      push(s, List.of(PARENTS, KIDS, NOTES), up("parents", "p1", "name", "p"), up("kids", "k1", "parent", "p1"),
          up("kids", "k2", "parent", "p1"));
      AtomicReference<String> cur = new AtomicReference<>();
      pullAll(s, null, "dev-b", cur);
      TestDb.sql(file, "INSERT INTO notes (id, body) VALUES ('nb', 'backend')"); // waiting in the capture log
      PushResult r = push(s, List.of(PARENTS, KIDS, NOTES), del("parents", "p1", 1), up("notes", "bad", "body", null),
          up("notes", "n1", "body", "one"));
      assertThat(r.results()).extracting(ChangeResult::status).containsExactly("applied", "rejected", "applied");
      List<Change> delta = pullAll(s, cur.get(), "dev-b", null);
      assertThat(delta).extracting(c -> c.table() + ":" + c.pk().get(0) + (c.deleted() ? "-" : "+"))
          .containsExactlyInAnyOrder("parents:p1-", "kids:k1-", "kids:k2-", "notes:nb+", "notes:n1+");
      assertThat(delta).extracting(Change::version).doesNotHaveDuplicates();
      long head = TestDb.count(file, "SELECT v FROM _tidesync_meta WHERE k = 'seq'");
      // gap-free: 3 first writes, backend insert (4), p1 delete, k1, k2, n1
      assertThat(head).isEqualTo(8);
      assertThat(TestDb.count(file, "SELECT count(*) FROM _tidesync_changes")).isZero();
      assertThat(TestDb.count(file, "SELECT count(*) FROM kids")).isZero();
    }
  }

  /** An Error in the change-by-change attempt (after the whole one rolled back) leaves nothing, and the store keeps working. */
  @Test
  void anErrorInTheSecondAttemptLeavesNothing() throws Exception {
    AtomicInteger failAt = new AtomicInteger(-1);
    AtomicInteger checks = new AtomicInteger();
    WallClock wall = () -> {
      boolean inDriftCheck = StackWalker.getInstance().walk(f -> f.anyMatch(x -> x.getMethodName().equals("withinDrift")));
      if (inDriftCheck) {
        checks.incrementAndGet();
      }
      if (inDriftCheck && failAt.get() > 0 && failAt.decrementAndGet() == 0) {
        throw new OutOfMemoryError("injected");
      }
      return System.currentTimeMillis();
    };
    Path file = dir.resolve("ds.db");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, wall, 60_000)) {
      push(s, List.of(NOTES), up("notes", "n0", "body", "zero"));
      int c0 = checks.get();
      SqliteDatasetStore probe = SqliteDatasetStore.open("p", dir.resolve("p.db"), wall, 60_000);
      push(probe, List.of(NOTES), up("notes", "x1", "body", "one"), up("notes", "bad", "body", null), up("notes", "x2", "body", "two"));
      probe.close();
      assertThat(checks.get() - c0).as("drift checks: 3 whole + 3 change by change").isEqualTo(6);
      s.pull(null, 100, "dev-b");
      TestDb.sql(file, "INSERT INTO notes (id, body) VALUES ('z', 'backend')");
      // whole attempt: 3 drift checks; the 5th is the second change of the change-by-change attempt
      failAt.set(5);
      assertThatThrownBy(() -> push(s, List.of(NOTES, ITEMS), up("notes", "n1", "body", "one"), up("notes", "bad", "body", null),
          up("notes", "n2", "body", "two"))).isInstanceOf(OutOfMemoryError.class);
      assertThat(TestDb.rows(file, "SELECT id FROM notes ORDER BY id")).containsExactly("n0", "z");
      assertThat(s.schema()).extracting(TableSchema::name).containsExactly("notes");
      PushResult r = push(s, List.of(NOTES), up("notes", "n3", "body", "three"));
      assertThat(r.results().get(0).version()).isEqualTo(3); // z is 2
      List<Change> all = pullAll(s, null, "dev-c", null);
      assertThat(all).extracting(c -> c.pk().get(0) + "@" + c.version()).containsExactly("n0@1", "z@2", "n3@3");
      assertThat(s.status().devices().stream().filter(d -> d.device().equals("dev-b")).findFirst().orElseThrow().pulls()).isEqualTo(1);
    }
  }

  /** Pulls running while batches fail whole never see the rolled-back attempt nor skip a version. */
  @Test
  void concurrentPullsSeeEveryVersionOnce() throws Exception {
    Path file = dir.resolve("ds.db");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      push(s, List.of(NOTES), up("notes", "n0", "body", "zero"));
      AtomicBoolean stop = new AtomicBoolean();
      Map<Long, String> seen = new java.util.concurrent.ConcurrentHashMap<>();
      List<String> dupes = java.util.Collections.synchronizedList(new ArrayList<>());
      AtomicReference<Throwable> failed = new AtomicReference<>();
      Thread puller = new Thread(() -> {
        String cursor = null;
        try {
          while (!stop.get()) {
            PullPage p = s.pull(cursor, 50, "dev-b");
            for (Change c : p.changes()) {
              String prev = seen.put(c.version(), c.pk().get(0).toString());
              if (prev != null) {
                dupes.add(c.version() + ":" + prev + "/" + c.pk().get(0));
              }
            }
            cursor = p.cursor();
          }
          PullPage p;
          do {
            p = s.pull(cursor, 1000, "dev-b");
            for (Change c : p.changes()) {
              seen.put(c.version(), c.pk().get(0).toString());
            }
            cursor = p.cursor();
          } while (p.hasMore());
        } catch (Throwable t) {
          failed.set(t);
        }
      });
      puller.start();
      int expected = 1;
      for (int i = 0; i < 60; i++) {
        List<Change> cs = new ArrayList<>();
        for (int j = 0; j < 20; j++) {
          cs.add(up("notes", "r" + i + "-" + j, "body", j == 10 && i % 2 == 0 ? null : "v"));
        }
        if (i % 5 == 0) {
          TestDb.sql(file, "INSERT INTO notes (id, body) VALUES ('b" + i + "', 'backend')");
          expected++;
        }
        PushResult r = push(s, List.of(NOTES), cs.toArray(new Change[0]));
        expected += (int) r.results().stream().filter(x -> x.status().equals("applied")).count();
      }
      stop.set(true);
      puller.join(60_000);
      assertThat(failed.get()).isNull();
      assertThat(dupes).isEmpty();
      assertThat(seen).hasSize(expected);
      long max = expected;
      assertThat(seen.keySet()).allSatisfy(v -> assertThat(v).isBetween(1L, max));
    }
  }
}
