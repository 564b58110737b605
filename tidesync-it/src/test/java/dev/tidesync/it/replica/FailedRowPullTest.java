package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.protocol.ConflictPolicy;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A failed row (its change refused by the server for good, so never pushed on its own) still
 * takes pulled changes: the device merges them into it by the table's policy, as the server would
 * have merged the refused change with them. Refused values with the newer clock stay, failed;
 * those a newer pulled change beats are replaced, and kept in {@code _tidesync_superseded} and
 * named in the sync report. The server's refusal is a guard a backend adds to the dataset after
 * the devices synced (a CHECK, or a trigger where SQLite cannot add one), which the devices lack.
 */
class FailedRowPullTest extends ReplicaTestSupport {
  private static final String ROWS = "SELECT id, name, qty FROM items ORDER BY id";

  private TidesyncClient ca;
  private TidesyncClient cb;

  /** A creates items i1 (apple, 1) and i2 (pear, 2) under {@code policy}; B bootstraps them. */
  private void twoSyncedDevices(ConflictPolicy policy) throws Exception {
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)", "INSERT INTO items VALUES ('i1', 'apple', 1), ('i2', 'pear', 2)");
    ca = cluster.device("a", c -> c.policy("items", policy));
    cb = cluster.device("b");
    ok(ca.flush());
    ok(cb.flush());
    assertThat(rows(b, ROWS)).containsExactly("i1|apple|1", "i2|pear|2");
  }

  /** From now on the server refuses a negative qty (the devices do not), by a guard named qty_not_negative. */
  private void serverRefusesNegativeQuantities() {
    if (store.name().equals("sqlite")) {
      // SQLite cannot add a CHECK to an existing table; a trigger refuses the same rows.
      store.backendSql(cluster.storage, Cluster.ID,
          "CREATE TRIGGER qty_ins BEFORE INSERT ON items WHEN NEW.qty < 0 BEGIN SELECT RAISE(ABORT, 'qty_not_negative'); END",
          "CREATE TRIGGER qty_upd BEFORE UPDATE ON items WHEN NEW.qty < 0 BEGIN SELECT RAISE(ABORT, 'qty_not_negative'); END");
    } else {
      store.backendSql(cluster.storage, Cluster.ID, "ALTER TABLE items ADD CONSTRAINT qty_not_negative CHECK (qty >= 0)");
    }
  }

  /** From now on the server refuses to delete items, by a guard named items_are_kept. */
  private void serverRefusesDeletes() {
    if (store.name().equals("sqlite")) {
      store.backendSql(cluster.storage, Cluster.ID, "CREATE TRIGGER keep BEFORE DELETE ON items BEGIN SELECT RAISE(ABORT, 'items_are_kept'); END");
    } else {
      store.backendSql(cluster.storage, Cluster.ID,
          "CREATE FUNCTION items_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
              + "RAISE EXCEPTION 'items_are_kept' USING ERRCODE = 'integrity_constraint_violation'; END $$",
          "CREATE TRIGGER keep BEFORE DELETE ON items FOR EACH ROW EXECUTE FUNCTION items_are_kept()");
    }
  }

  /** The next write gets a later wall-clock millisecond, so a newer HLC, than the last one. */
  private static void tick() throws InterruptedException {
    Thread.sleep(15);
  }

  private static SyncReport ok(SyncReport r) {
    assertThat(r.ok()).as(r.toString()).isTrue();
    return r;
  }

  /**
   * Two synced devices ({@link #twoSyncedDevices}) and a server guard ({@code guard}); then B
   * writes {@code olderOnB} (unless null) and does not sync; A writes {@code onA}, which the
   * server refuses for good ({@code refused} rows failed); B writes {@code newerOnB} and syncs
   * both of its writes. Each write has a newer clock than the one before. Returns A's next sync,
   * which pulls B's writes into its failed rows.
   */
  private SyncReport aRefusedWriteBetweenTwoOfB(ConflictPolicy policy, Runnable guard, String olderOnB, String onA, int refused,
      String newerOnB) throws Exception {
    twoSyncedDevices(policy);
    guard.run();
    if (olderOnB != null) {
      sql(b, olderOnB);
      tick();
    }
    sql(a, onA);
    SyncReport r = ca.flush();
    assertThat(r.rejected()).as(r.toString()).isEqualTo(refused);
    assertThat(ca.status().failed()).containsEntry("items", (long) refused);
    tick();
    sql(b, newerOnB);
    ok(cb.flush());
    return ok(ca.flush());
  }

  /** A's refused change of i1 was superseded (A's sync names it and {@code what}); i2 alone is still failed. */
  private void i1SupersededAndI2StillFailed(SyncReport pulled, String what) {
    assertThat(pulled.superseded()).singleElement().asString().contains("items", "[\"i1\"]", what);
    assertThat(ca.replica().failures()).containsOnlyKeys("items [\"i2\"]");
  }

  @Test
  void aFailedRowTakesAnotherDevicesEditOfAnotherColumnAndKeepsItsRefusedColumnFailed() throws Exception {
    SyncReport pulled = aRefusedWriteBetweenTwoOfB(ConflictPolicy.FIELD_MERGE, this::serverRefusesNegativeQuantities, null,
        "UPDATE items SET qty = -1 WHERE id = 'i1'", 1,
        "UPDATE items SET name = 'green apple' WHERE id = 'i1'");
    assertThat(pulled.pulled()).isEqualTo(1);
    assertThat(pulled.superseded()).isEmpty();
    // B's column arrived; A's refused column is still A's, still failed, with the server's reason.
    assertThat(rows(a, ROWS)).containsExactly("i1|green apple|-1", "i2|pear|2");
    assertThat(ca.status().failed()).containsOnly(Map.entry("items", 1L));
    assertThat(ca.replica().failures()).containsOnlyKeys("items [\"i1\"]");
    assertThat(ca.replica().failures().get("items [\"i1\"]")).contains("qty_not_negative");
    assertThat(cluster.serverRows(ROWS)).containsExactly("i1|green apple|1", "i2|pear|2");

    // Fixed later, the row is pushed with its unpushed column, based on the pulled version: no conflict.
    sql(a, "UPDATE items SET qty = 3 WHERE id = 'i1'");
    SyncReport fixed = ok(ca.flush());
    assertThat(fixed.applied()).isEqualTo(1);
    assertThat(fixed.conflicts()).isZero();
    assertThat(ca.status().failed()).isEmpty();
    assertThat(cluster.serverRows(ROWS)).containsExactly("i1|green apple|3", "i2|pear|2");
    ok(cb.flush());
    assertThat(rows(b, ROWS)).containsExactly("i1|green apple|3", "i2|pear|2");
  }

  @Test
  void aRefusedValueHoldsAgainstAnOlderEditOfItsColumnAndIsSupersededByANewerOne() throws Exception {
    SyncReport pulled = aRefusedWriteBetweenTwoOfB(ConflictPolicy.FIELD_MERGE, this::serverRefusesNegativeQuantities,
        "UPDATE items SET qty = 20 WHERE id = 'i2'", // older than A's edit of i2
        "UPDATE items SET qty = -1", 2,
        "UPDATE items SET qty = 10 WHERE id = 'i1'"); // newer than A's edit of i1
    // i1: B's newer value wins, the row is clean; A's refused value is reported and kept aside.
    // i2: A's refused value is the newer one: it stays, failed, as the server would have merged it.
    assertThat(rows(a, ROWS)).containsExactly("i1|apple|10", "i2|pear|-1");
    i1SupersededAndI2StillFailed(pulled, "qty");
    assertThat(ca.replica().superseded()).singleElement().satisfies(s -> {
      assertThat(s.table()).isEqualTo("items");
      assertThat(s.key()).isEqualTo("[\"i1\"]");
      assertThat(s.cols()).containsExactly(Map.entry("qty", -1L));
      assertThat(s.err()).contains("qty_not_negative");
      assertThat(s.version()).isPositive();
    });
    assertThat(cluster.serverRows(ROWS)).containsExactly("i1|apple|10", "i2|pear|20");
    // Nothing more arrives or is reported again.
    SyncReport again = ok(ca.flush());
    assertThat(again.pulled()).isZero();
    assertThat(again.superseded()).isEmpty();
    assertThat(rows(a, ROWS)).containsExactly("i1|apple|10", "i2|pear|-1");
    // Once looked at, the app clears the list.
    long last = ca.replica().superseded().get(0).id();
    assertThat(ca.replica().clearSuperseded(last)).isEqualTo(1);
    assertThat(ca.replica().superseded()).isEmpty();
  }

  @Test
  void underLastWriteWinsTheWholeNewerRowWinsAgainstAFailedRow() throws Exception {
    SyncReport pulled = aRefusedWriteBetweenTwoOfB(ConflictPolicy.LAST_WRITE_WINS, this::serverRefusesNegativeQuantities,
        "UPDATE items SET name = 'nashi' WHERE id = 'i2'", // older than A's edit of i2
        "UPDATE items SET qty = -1", 2,
        "UPDATE items SET name = 'green apple' WHERE id = 'i1'"); // newer than A's edit of i1
    // i1: B's whole newer row wins, though B wrote another column; A's refused qty is superseded.
    // i2: A's whole row is newer: it stays as it is (B's older name is not taken), failed.
    assertThat(rows(a, ROWS)).containsExactly("i1|green apple|1", "i2|pear|-1");
    assertThat(pulled.pulled()).as("i1 taken; i2's older row pulled but not taken").isEqualTo(1);
    i1SupersededAndI2StillFailed(pulled, "qty");
    assertThat(cluster.serverRows(ROWS)).containsExactly("i1|green apple|1", "i2|nashi|2");

    // Fixed later, A's whole newer row is pushed on the pulled version and wins.
    sql(a, "UPDATE items SET qty = 2 WHERE id = 'i2'");
    SyncReport fixed = ok(ca.flush());
    assertThat(fixed.conflicts()).isZero();
    assertThat(cluster.serverRows(ROWS)).containsExactly("i1|green apple|1", "i2|pear|2");
  }

  @Test
  void aPulledDeleteOfAFailedRowWinsWhenNewerAndLosesWhenOlder() throws Exception {
    SyncReport pulled = aRefusedWriteBetweenTwoOfB(ConflictPolicy.FIELD_MERGE, this::serverRefusesNegativeQuantities,
        "DELETE FROM items WHERE id = 'i2'", // older than A's edit of i2
        "UPDATE items SET qty = -1", 2,
        "DELETE FROM items WHERE id = 'i1'"); // newer than A's edit of i1
    // i1 is gone (clean); its refused value is reported. i2's refused update is newer than the delete: it stays, failed.
    assertThat(rows(a, ROWS)).containsExactly("i2|pear|-1");
    i1SupersededAndI2StillFailed(pulled, "qty");
    assertThat(ca.replica().superseded()).singleElement().satisfies(s -> assertThat(s.cols()).containsExactly(Map.entry("qty", -1L)));
    assertThat(cluster.serverRows(ROWS)).isEmpty();

    // Fixed later, the newer update brings i2 back on the server.
    sql(a, "UPDATE items SET qty = 5 WHERE id = 'i2'");
    ok(ca.flush());
    assertThat(ca.status().failed()).isEmpty();
    assertThat(cluster.serverRows(ROWS)).containsExactly("i2|pear|5");
  }

  @Test
  void aRefusedDeleteLosesToANewerPulledUpdateAndHoldsAgainstAnOlderOne() throws Exception {
    SyncReport pulled = aRefusedWriteBetweenTwoOfB(ConflictPolicy.FIELD_MERGE, this::serverRefusesDeletes,
        "UPDATE items SET name = 'nashi' WHERE id = 'i2'", // older than A's delete of i2
        "DELETE FROM items", 2,
        "UPDATE items SET name = 'green apple' WHERE id = 'i1'"); // newer than A's delete of i1
    // i1 comes back with B's newer update (clean); A's refused delete is reported. i2 stays deleted, failed.
    assertThat(rows(a, ROWS)).containsExactly("i1|green apple|1");
    i1SupersededAndI2StillFailed(pulled, "delete");
    assertThat(ca.replica().superseded()).singleElement().satisfies(s -> {
      assertThat(s.cols()).isNull();
      assertThat(s.err()).contains("items_are_kept");
    });

    // retryFailed pushes the refused delete again (on the pulled version); the server refuses it again.
    assertThat(ca.replica().retryFailed()).isEqualTo(1);
    SyncReport retried = ca.flush();
    assertThat(retried.rejected()).as(retried.toString()).isEqualTo(1);
    assertThat(retried.conflicts()).isZero();
    assertThat(ca.replica().failures()).containsOnlyKeys("items [\"i2\"]");
    assertThat(cluster.serverRows(ROWS)).containsExactly("i1|green apple|1", "i2|nashi|2");
    assertThat(rows(a, ROWS)).containsExactly("i1|green apple|1");
  }
}
