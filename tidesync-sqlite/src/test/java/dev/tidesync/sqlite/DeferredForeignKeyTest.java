package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A backend's tables in an embedded dataset whose foreign key is declared DEFERRABLE INITIALLY
 * DEFERRED: SQLite checks it only at COMMIT, so a change that breaks it used to fail the whole
 * push every time it was sent (found in review, session 10). The store checks such keys at the
 * change: the change is refused for now alone, and the rest of the batch applies.
 */
class DeferredForeignKeyTest {
  @TempDir Path dir;
  Path file;
  long millis = System.currentTimeMillis() - 60_000;

  @BeforeEach
  void tables() throws Exception {
    file = dir.resolve("ds.db");
    TestDb.sql(file, "CREATE TABLE p (id TEXT PRIMARY KEY, name TEXT)",
        "CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED, note TEXT)");
  }

  private Change up(String table, String id, Map<String, Object> cols, long base) {
    return new Change(table, List.of(id), false, cols, new Hlc(++millis, 0, "dev-a").toString(), null, base, 0);
  }

  private Change del(String table, String id, long base) {
    return new Change(table, List.of(id), true, Map.of(), new Hlc(++millis, 0, "dev-a").toString(), null, base, 0);
  }

  private static PushResult push(SqliteDatasetStore s, Change... changes) {
    return s.push(new PushRequest("ds", "dev-a", UUID.randomUUID().toString(), List.of(), List.of(changes)));
  }

  @Test
  void aChildWhoseParentIsMissingIsRefusedForNowAloneAndGoesOnceTheParentIsThere() throws Exception {
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      PushResult r = push(s, up("p", "p1", Map.of("name", "x"), 0), up("c", "c1", Map.of("p", "p2"), 0), up("c", "c2", Map.of("p", "p1"), 0));
      assertThat(r.results()).extracting(ChangeResult::status).containsExactly("applied", "rejected", "applied");
      assertThat(r.results().get(1).retriable()).isTrue();
      assertThat(r.results().get(1).reason()).contains("FOREIGN KEY");
      assertThat(TestDb.rows(file, "SELECT id FROM c ORDER BY id")).containsExactly("c2");
      // The parent and the child in one batch, child first: parents go first, and the child's
      // check sees the parent the batch wrote.
      PushResult again = push(s, up("c", "c1", Map.of("p", "p2"), 0), up("p", "p2", Map.of("name", "y"), 0));
      assertThat(again.results()).extracting(ChangeResult::status).containsOnly("applied");
      assertThat(TestDb.rows(file, "SELECT id FROM c ORDER BY id")).containsExactly("c1", "c2");
    }
  }

  @Test
  void aParentsDeleteThatAChildStillReferToIsRefusedForNowAndGoesAfterTheChilds() throws Exception {
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      PushResult made = push(s, up("p", "p1", Map.of("name", "x"), 0), up("c", "c1", Map.of("p", "p1"), 0), up("p", "p9", Map.of("name", "z"), 0));
      long vp = made.results().get(0).version();
      long vc = made.results().get(1).version();
      long v9 = made.results().get(2).version();
      PushResult r = push(s, del("p", "p1", vp), del("p", "p9", v9));
      assertThat(r.results()).extracting(ChangeResult::status).containsExactly("rejected", "applied");
      assertThat(r.results().get(0).retriable()).isTrue();
      assertThat(TestDb.rows(file, "SELECT id FROM p ORDER BY id")).containsExactly("p1");
      // Children's deletes go first in a batch: both apply.
      assertThat(push(s, del("p", "p1", vp), del("c", "c1", vc)).results()).extracting(ChangeResult::status).containsOnly("applied");
      assertThat(TestDb.rows(file, "SELECT id FROM p")).isEmpty();
    }
  }

  @Test
  void anEditOfARowWhoseParentABackendRemovedIsRefusedForNowAloneNotThePush() throws Exception {
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      PushResult made = push(s, up("p", "p1", Map.of("name", "x"), 0), up("c", "c1", Map.of("p", "p1"), 0));
      // A backend removes the parent with foreign keys off: the child is an orphan already, and
      // SQLite's commit fails any write of it.
      TestDb.sql(file, "PRAGMA foreign_keys = OFF", "DELETE FROM p WHERE id = 'p1'");
      PushResult r = push(s, up("c", "c1", Map.of("note", "edited"), made.results().get(1).version()), up("p", "p2", Map.of("name", "y"), 0));
      assertThat(r.results()).extracting(ChangeResult::status).containsExactly("rejected", "applied");
      assertThat(r.results().get(0).retriable()).isTrue();
      assertThat(TestDb.rows(file, "SELECT id FROM p")).containsExactly("p2");
    }
  }

  @Test
  void rowsThatReferToEachOtherInOneBatchGoInTogether() throws Exception {
    TestDb.sql(file, "CREATE TABLE n (id TEXT PRIMARY KEY, next TEXT REFERENCES n (id) DEFERRABLE INITIALLY DEFERRED)");
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", file, WallClock.SYSTEM, 60_000)) {
      // No row of a cycle passes a check at the change: the passes leave both, and they go in as
      // one group, checked at its end (as a key checked at once would).
      PushResult r = push(s, up("n", "a", Map.of("next", "b"), 0), up("n", "b", Map.of("next", "a"), 0));
      assertThat(r.results()).extracting(ChangeResult::status).containsOnly("applied");
      assertThat(TestDb.rows(file, "SELECT id || '>' || next FROM n ORDER BY id")).containsExactly("a>b", "b>a");
    }
  }
}
