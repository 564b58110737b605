package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PullPage;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pulled page is applied with its rows' metadata read ahead and its writes batched: a row the
 * page holds twice still ends as its last change says, and keys the read-ahead leaves out (text
 * JSON might not carry unchanged) are looked up one by one.
 */
class ApplyPageTest {
  @TempDir Path dir;

  private static Change row(String id, String name, long version, long millis) {
    Map<String, Object> cols = new LinkedHashMap<>();
    cols.put("name", name);
    return new Change("items", List.of(id), false, cols, new Hlc(millis, 0, "server").toString(), null, 0, version);
  }

  @Test
  void aRowTwiceInOnePageAndKeysOutsidePrintableAsciiEndAsTheirLastChange() throws Exception {
    Path db = dir.resolve("app.db");
    TestDb.sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)", "INSERT INTO items VALUES ('local', 'mine')");
    try (DeviceReplica r = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      r.absorb();
      long t = 1_700_000_000_000L;
      DeviceReplica.ApplyOutcome o = r.applyPage(new PullPage("c1.e.4", false, false, r.tables(), List.of(
          row("i1", "first", 1, t), row("grüße\n", "umlaut", 2, t + 1), row("i1", "second", 3, t + 2),
          row("local", "theirs", 4, t + 3))));
      assertThat(o.errors()).isEmpty();
      // "local" has an unpushed local change: the pull leaves it to the push (the server resolves it).
      assertThat(o.applied()).isEqualTo(3);
    }
    assertThat(TestDb.rows(db, "SELECT id, name FROM items ORDER BY id"))
        .containsExactly("grüße\n|umlaut", "i1|second", "local|mine");
    assertThat(TestDb.rows(db, "SELECT pk, ver, dirty FROM _tidesync_rows WHERE tbl = 'items' ORDER BY pk"))
        .containsExactly("[\"grüße\\n\"]|2|0", "[\"i1\"]|3|0", "[\"local\"]|0|1");
  }

  @Test
  void pulledRowsThatAnAppsConstraintOrTriggerRefusesByEndingTheTransactionAreSkippedAndTheRestApplies() throws Exception {
    Path db = dir.resolve("app.db");
    TestDb.sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT UNIQUE ON CONFLICT ROLLBACK)",
        "CREATE TABLE recent (k INTEGER PRIMARY KEY, id TEXT)",
        "CREATE TRIGGER items_guard BEFORE INSERT ON items WHEN NEW.name = 'forbidden' BEGIN SELECT RAISE(ROLLBACK, 'not here'); END",
        // The app's own conflict clause inside its trigger keeps working (found in review).
        "CREATE TRIGGER items_recent AFTER INSERT ON items BEGIN INSERT OR REPLACE INTO recent VALUES (1, NEW.id); END",
        "INSERT INTO items VALUES ('mine', 'taken')");
    try (DeviceReplica r = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      r.absorb();
      long t = 1_700_000_000_000L;
      DeviceReplica.ApplyOutcome o = r.applyPage(new PullPage("c1.e.9", false, false, r.tables(), List.of(
          row("i1", "one", 1, t), row("i2", "forbidden", 2, t + 1), row("i3", "taken", 3, t + 2), row("i4", "forbidden", 4, t + 3),
          row("i5", "five", 5, t + 4))));
      assertThat(o.errors()).hasSize(3).anySatisfy(e -> assertThat(e).contains("i2").contains("not here"))
          .anySatisfy(e -> assertThat(e).contains("i4").contains("not here")).anySatisfy(e -> assertThat(e).contains("i3").contains("UNIQUE"));
      assertThat(o.applied()).isEqualTo(2);
      assertThat(r.cursor()).isEqualTo("c1.e.9");
    }
    assertThat(TestDb.rows(db, "SELECT id, name FROM items ORDER BY id")).containsExactly("i1|one", "i5|five", "mine|taken");
    assertThat(TestDb.rows(db, "SELECT k, id FROM recent")).containsExactly("1|i5");
  }
}
