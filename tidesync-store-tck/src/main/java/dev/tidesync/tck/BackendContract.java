package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.PushResult;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A backend service writes plain SQL into a dataset's tables: the store captures every insert,
 * update and delete (with no help from Tidesync's code on that connection) and devices pull them
 * like any other change. A row deleted that way keeps its values in the tombstone.
 */
public abstract class BackendContract extends ContractSupport {
  private Pulled seed() {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "apple", "qty", 3L, "price", 0.1)),
        upsert("dev-a", "items", "i2", 0, cols("name", "pear", "qty", 1L)));
    return pullAll(null, "dev-b");
  }

  @Test
  void backendInsertsUpdatesAndDeletesArePulledByEveryDevice() {
    String cursorB = seed().cursor();
    String cursorA = pullAll(null, "dev-a").cursor();
    backendSql(ID, "INSERT INTO items (id, name, qty) VALUES ('i3', 'plum', 9223372036854775807)",
        "UPDATE items SET qty = 7 WHERE id = 'i2'",
        "DELETE FROM items WHERE id = 'i1'");
    for (String[] device : new String[][] {{"dev-b", cursorB}, {"dev-a", cursorA}}) {
      Pulled delta = pullAll(device[1], device[0]);
      assertThat(delta.changes()).as("delta of %s", device[0]).hasSize(3);
      assertThat(delta.row("items", "i3").cols()).containsEntry("name", "plum").containsEntry("qty", Long.MAX_VALUE);
      assertThat(delta.row("items", "i2").cols()).containsEntry("name", "pear").containsEntry("qty", 7L);
      assertThat(delta.row("items", "i1").deleted()).isTrue();
      assertThat(delta.changes()).allSatisfy(c -> assertThat(c.hlc()).isNotBlank());
    }
    assertThat(store().status().rows()).containsEntry("items", 2L);
  }

  @Test
  void backendWritesGetVersionsAfterEverythingPulledBefore() {
    Pulled before = seed();
    long last = before.changes().stream().mapToLong(Change::version).max().orElseThrow();
    backendSql(ID, "UPDATE items SET name = 'green apple' WHERE id = 'i1'");
    Change c = pullAll(before.cursor(), "dev-b").row("items", "i1");
    assertThat(c.version()).isGreaterThan(last);
    assertThat(c.cols()).containsEntry("name", "green apple").containsEntry("qty", 3L);
  }

  @Test
  void aBackendDeleteKeepsTheRowsValuesSoANewerConcurrentUpdateBringsItBackWhole() throws Exception {
    Pulled before = seed();
    long base = before.row("items", "i1").version();
    backendSql(ID, "DELETE FROM items WHERE id = 'i1'");
    Thread.sleep(5);
    // A device that had not heard of the delete edits one column, later in time.
    PushResult r = push("dev-b", upsert("dev-b", "items", "i1", base, cols("name", "green apple")));
    assertThat(r.results().get(0).status()).isEqualTo(ChangeResult.CONFLICT);
    Change back = pullAll(null, "dev-c").row("items", "i1");
    assertThat(back.deleted()).isFalse();
    assertThat(back.cols()).containsEntry("name", "green apple").containsEntry("qty", 3L).containsEntry("price", 0.1);
    assertThat(backendQuery(ID, "SELECT name, qty, price FROM items WHERE id = 'i1'")).containsExactly(List.of("green apple", 3L, 0.1));
  }

  @Test
  void aBackendTransactionThatRollsBackLeavesNothingToPull() throws SQLException {
    String cursor = seed().cursor();
    try (Connection c = factory().backend(storage, ID)) {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.execute("INSERT INTO items (id, name) VALUES ('ghost', 'boo')");
        s.execute("UPDATE items SET qty = 99 WHERE id = 'i1'");
      }
      c.rollback();
    }
    assertThat(pullAll(cursor, "dev-b").changes()).isEmpty();
    push("dev-a", upsert("dev-a", "items", "i9", 0, cols("qty", 1L)));
    assertThat(pullAll(cursor, "dev-b").changes()).extracting(ch -> ch.pk().get(0)).containsExactly("i9");
  }

  @Test
  void aBackendUpdateThatChangesNoValueIsNoChange() {
    String cursor = seed().cursor();
    backendSql(ID, "UPDATE items SET qty = qty WHERE id = 'i1'");
    assertThat(pullAll(cursor, "dev-b").changes()).isEmpty();
  }

  @Test
  void aBackendWriteAndAPushInterleaveWithoutLosingEither() {
    Pulled before = seed();
    backendSql(ID, "UPDATE items SET qty = 30 WHERE id = 'i1'");
    // The device's base is stale now (the backend wrote after it): its edit of another column merges.
    push("dev-a", upsert("dev-a", "items", "i1", before.row("items", "i1").version(), cols("name", "red apple")));
    backendSql(ID, "INSERT INTO items (id, name) VALUES ('i4', 'fig')");
    Pulled all = pullAll(before.cursor(), "dev-b");
    assertThat(all.row("items", "i1").cols()).containsEntry("name", "red apple").containsEntry("qty", 30L);
    assertThat(all.row("items", "i4").cols()).containsEntry("name", "fig");
  }
}
