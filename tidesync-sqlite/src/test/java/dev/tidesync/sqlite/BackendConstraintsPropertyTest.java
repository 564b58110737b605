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
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded: a key a backend declared {@code DEFERRABLE INITIALLY DEFERRED}, a constraint {@code ON
 * CONFLICT ROLLBACK} (on a table with such a key too) and a trigger's {@code RAISE(ROLLBACK, ...)}
 * give every change the outcome the same key checked at once, the same constraint with the
 * default {@code ABORT} and {@code RAISE(ABORT, ...)} give it. Two files with those two schemas take the
 * same random batches (each row at most once per batch, so that the order in which the passes
 * meet a batch's rows cannot matter); every change must get the same status in both, the files
 * must hold the same rows, and neither may fail a key. Replay with {@code -Dtidesync.seed=N}.
 */
class BackendConstraintsPropertyTest {
  @TempDir Path dir;

  private static List<String> ddl(boolean deferredAndRollback) {
    String deferred = deferredAndRollback ? " DEFERRABLE INITIALLY DEFERRED" : "";
    String rollback = deferredAndRollback ? " ON CONFLICT ROLLBACK" : "";
    return List.of("CREATE TABLE p (id TEXT PRIMARY KEY, name TEXT)",
        "CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p (id)" + deferred + ", n INTEGER, tag TEXT UNIQUE" + rollback + ")",
        "CREATE TABLE g (id TEXT PRIMARY KEY, c TEXT REFERENCES c (id) ON DELETE CASCADE" + deferred + ")",
        "CREATE TABLE t (id TEXT PRIMARY KEY, code TEXT UNIQUE" + rollback + ")",
        // A backend's rule: ends the transaction in one file, the statement in the other.
        "CREATE TRIGGER g_rule BEFORE INSERT ON g WHEN NEW.c = 'c5' AND EXISTS (SELECT 1 FROM g WHERE c = 'c5') "
            + "BEGIN SELECT RAISE(" + (deferredAndRollback ? "ROLLBACK" : "ABORT") + ", 'one g under c5'); END");
  }

  private SqliteDatasetStore open(String file, boolean deferredAndRollback) throws SQLException {
    Path path = dir.resolve(file);
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + path); Statement s = c.createStatement()) {
      for (String q : ddl(deferredAndRollback)) {
        s.execute(q);
      }
    }
    return SqliteDatasetStore.open("ds", path, WallClock.SYSTEM, 600_000);
  }

  @Test
  void deferredKeysAndRollbackConstraintsRefuseExactlyWhatImmediateKeysAndAbortRefuse() throws Exception {
    String seedProp = System.getProperty("tidesync.seed", "");
    long seed = seedProp.isBlank() ? new Random().nextLong() : Long.parseLong(seedProp.trim());
    Map<String, Integer> seen = new java.util.TreeMap<>();
    for (int schedule = 0; schedule < 12; schedule++) {
      Random r = new Random(seed + schedule);
      String label = "seed " + seed + " (schedule " + schedule + ")";
      try (SqliteDatasetStore a = open("a" + schedule + ".db", true); SqliteDatasetStore b = open("b" + schedule + ".db", false)) {
        long millis = System.currentTimeMillis() - 300_000;
        for (int round = 0; round < 8; round++) {
          List<Change> batch = new ArrayList<>();
          Set<String> rows = new HashSet<>();
          int n = 1 + r.nextInt(30);
          for (int k = 0; k < n; k++) {
            Change ch = change(r, ++millis);
            if (rows.add(ch.table() + "/" + ch.pk().get(0))) {
              batch.add(ch);
            }
          }
          PushResult ra = a.push(new PushRequest("ds", "dev-a", UUID.randomUUID().toString(), List.of(), batch));
          PushResult rb = b.push(new PushRequest("ds", "dev-a", UUID.randomUUID().toString(), List.of(), batch));
          assertThat(outcomes(ra)).as("%s, round %d, batch %s", label, round, batch).isEqualTo(outcomes(rb));
          outcomes(ra).forEach(o -> seen.merge(o, 1, Integer::sum));
          for (String table : List.of("p", "c", "g", "t")) {
            assertThat(rows(a, table)).as("%s, round %d, table %s", label, round, table).isEqualTo(rows(b, table));
          }
          assertThat(rows(a, null)).as("%s: rows failing their keys", label).isEmpty();
        }
      }
    }
    // Not vacuous: the schedules refused changes both ways (for a key, for the unique code).
    assertThat(seen).as("seed %d: outcomes %s", seed, seen).containsKeys(ChangeResult.REJECTED + " for now", ChangeResult.REJECTED + " for good");
    System.out.println("BackendConstraintsPropertyTest seed " + seed + ": " + seen);
  }

  /** A random write: rows p0..p5 (parents c refers to up to p7, some never there), c0..c7, g0..g5, t0..t5. */
  private static Change change(Random r, long millis) {
    String hlc = new Hlc(millis, 0, "dev-a").toString();
    boolean delete = r.nextInt(4) == 0;
    return switch (r.nextInt(4)) {
      case 0 -> new Change("p", List.of("p" + r.nextInt(6)), delete, delete ? Map.of() : Map.of("name", "n" + r.nextInt(9)), hlc, null, 0, 0);
      case 1 -> new Change("c", List.of("c" + r.nextInt(8)), delete, delete ? Map.of()
          : Map.of("p", "p" + r.nextInt(8), "n", (long) r.nextInt(5), "tag", "x" + r.nextInt(12)), hlc, null, 0, 0);
      case 2 -> new Change("g", List.of("g" + r.nextInt(6)), delete, delete ? Map.of() : Map.of("c", "c" + r.nextInt(10)), hlc, null, 0, 0);
      default -> new Change("t", List.of("t" + r.nextInt(6)), delete, delete ? Map.of() : Map.of("code", "k" + r.nextInt(5)), hlc, null, 0, 0);
    };
  }

  private static List<String> outcomes(PushResult r) {
    List<String> out = new ArrayList<>();
    for (ChangeResult cr : r.results()) {
      out.add(cr.status() + (ChangeResult.REJECTED.equals(cr.status()) ? (cr.retriable() ? " for now" : " for good") : ""));
    }
    return out;
  }

  /** A table's rows in key order; {@code table} null: the rows failing a foreign key. */
  private static List<List<Object>> rows(SqliteDatasetStore s, String table) throws SQLException {
    return BackendConstraintsTest.rows(s.file(), table == null ? "PRAGMA foreign_key_check" : "SELECT * FROM " + table + " ORDER BY id");
  }
}
