package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.TableSchema;
import dev.tidesync.sqlite.internal.Capture;
import dev.tidesync.sqlite.internal.Sql;
import java.sql.Connection;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A server's capture triggers skip the server's own writes with a WHEN guard on
 * {@code _tidesync_quiet} (a push writes each row once, and that is the server's hot path) and
 * still capture every other writer's. The guard's row must never outlive the server's
 * transaction, and files whose triggers an earlier build made get the guarded ones on open.
 */
class ServerTriggersTest extends SqliteStoreSupport {
  private long logged() throws Exception {
    return Long.parseLong(TestDb.rows(file(), "SELECT count(*) FROM _tidesync_changes").get(0));
  }

  @Test
  void aPushLogsNothingAndLeavesNoGuardRowWhileABackendWriteAfterItIsCaptured() throws Exception {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "one", "qty", 1L)),
        upsert("dev-a", "items", "i2", 0, cols("name", "two", "qty", 2L)));
    assertThat(logged()).as("the push's own writes are not in the log").isZero();
    assertThat(TestDb.rows(file(), "SELECT count(*) FROM _tidesync_quiet")).containsExactly("0");
    TestDb.sql(file(), "UPDATE items SET qty = 20 WHERE id = 'i2'", "INSERT INTO items (id, name, qty) VALUES ('b1', 'backend', 7)",
        "DELETE FROM items WHERE id = 'i1'");
    assertThat(logged()).as("insert, update and delete by a backend are captured").isEqualTo(3);
    Pulled p = pullAll(null, "dev-b");
    assertThat(p.row("items", "i2").cols()).containsEntry("qty", 20L);
    assertThat(p.row("items", "b1").cols()).containsEntry("name", "backend");
    assertThat(p.row("items", "i1").deleted()).isTrue();
  }

  @Test
  void aGuardRowLeftInTheFileIsClearedWhenTheDatasetOpens() throws Exception {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "one", "qty", 1L)));
    storage.close();
    TestDb.sql(file(), "INSERT INTO _tidesync_quiet VALUES (1)");
    storage = factory().open(dir.resolve("storage"));
    store(); // opens the dataset
    TestDb.sql(file(), "INSERT INTO items (id, name, qty) VALUES ('b1', 'backend', 7)");
    assertThat(pullAll(null, "dev-b").row("items", "b1").cols()).containsEntry("qty", 7L);
  }

  @Test
  void triggersAnEarlierBuildMadeWithoutTheGuardAreReplacedOnOpen() throws Exception {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "one", "qty", 1L)));
    storage.close();
    // The device's triggers have no guard, as the server's had before it got one.
    try (Connection c = Sql.open(file(), false, true)) {
      Capture.installTriggers(c, ITEMS);
      assertThat(Capture.hasServerTriggers(c, "items")).isFalse();
    }
    reopen();
    push("dev-a", upsert("dev-a", "items", "i2", 0, cols("name", "two", "qty", 2L)));
    try (Connection c = Sql.open(file(), false, true)) {
      assertThat(Capture.hasServerTriggers(c, "items")).isTrue();
    }
    assertThat(logged()).as("the push after the reopen is not logged").isZero();
    TestDb.sql(file(), "UPDATE items SET qty = 5 WHERE id = 'i1'");
    assertThat(pullAll(null, "dev-b").row("items", "i1").cols()).containsEntry("qty", 5L);
  }

  @Test
  void theCascadeOfAPushedDeleteIsCapturedAndReachesOtherDevices() throws Exception {
    List<TableSchema> schema = List.of(table("folders", List.of("id"), col("id", "TEXT"), col("name", "TEXT")),
        child("docs", "folder", "folders", "CASCADE", col("id", "TEXT"), col("folder", "TEXT"), col("title", "TEXT")));
    push(store(), "dev-a", schema, upsert("dev-a", "folders", "f1", 0, cols("name", "one")),
        upsert("dev-a", "docs", "d1", 0, cols("folder", "f1", "title", "x")));
    long base = pullAll(null, "dev-b").row("folders", "f1").version();
    push(store(), "dev-a", schema, delete("dev-a", "folders", "f1", base));
    assertThat(TestDb.rows(file(), "SELECT count(*) FROM _tidesync_quiet")).containsExactly("0");
    assertThat(TestDb.rows(file(), "SELECT count(*) FROM docs")).containsExactly("0");
    // The server's own delete of f1 was not logged as a backend write; the cascade to d1 was,
    // and it reaches a device that holds d1.
    Pulled p = pullAll(null, "dev-b");
    assertThat(p.row("folders", "f1").deleted()).isTrue();
    assertThat(p.row("docs", "d1").deleted()).as("the cascaded delete").isTrue();
    TestDb.sql(file(), "INSERT INTO folders (id, name) VALUES ('f2', 'backend')");
    assertThat(pullAll(null, "dev-b").row("folders", "f2").cols()).containsEntry("name", "backend");
  }
}
