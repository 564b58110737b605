package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

/** A device's own changes are not pulled back to it, and pulled changes are not pushed back. */
class NoEchoTest extends ReplicaTestSupport {
  private static final String ITEMS = "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)";

  @Test
  void aDevicesNextPullDoesNotReturnItsOwnPushedChanges() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('i0', 'zero', 0)");
    TidesyncClient ca = cluster.device("a");
    ca.flush();

    sql(a, "INSERT INTO items VALUES ('i1', 'one', 1), ('i2', 'two', 2), ('i3', 'three', 3)",
        "UPDATE items SET qty = 10 WHERE id = 'i0'", "DELETE FROM items WHERE id = 'i2'");
    SyncReport r = ca.flush();
    assertThat(r.pushed()).as("i0, i1, i2 (inserted then deleted: one delete), i3").isEqualTo(4);
    assertThat(r.conflicts()).isZero();
    assertThat(r.pulled()).as("A's own changes are not pulled back").isZero();

    SyncReport again = ca.flush();
    assertThat(again.pushed()).isZero();
    assertThat(again.pulled()).isZero();
    assertThat(rows(a, "SELECT id, qty FROM items ORDER BY id")).containsExactly("i0|10", "i1|1", "i3|3");
  }

  @Test
  void theFirstSyncOfADeviceDoesNotPullItsOwnRowsBack() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('i1', 'one', 1), ('i2', 'two', 2), ('i3', 'three', 3)");
    TidesyncClient ca = cluster.device("a");
    SyncReport r = ca.flush();
    assertThat(r.pushed()).isEqualTo(3);
    assertThat(r.pulled()).as("A's own rows are not pulled back by its first (bootstrap) pull").isZero();
  }

  @Test
  void pulledChangesAreNotPushedBack() throws Exception {
    sql(a, ITEMS, "INSERT INTO items VALUES ('i1', 'one', 1), ('i2', 'two', 2)");
    TidesyncClient ca = cluster.device("a");
    TidesyncClient cb = cluster.device("b");
    ca.flush();

    SyncReport first = cb.flush();
    assertThat(first.pulled()).isEqualTo(2);
    assertThat(count(b, "SELECT count(*) FROM _tidesync_changes")).as("applying a pull is not captured").isZero();
    assertThat(cb.status().pendingTotal()).isZero();
    assertThat(cb.flush().pushed()).isZero();

    sql(a, "UPDATE items SET name = 'uno' WHERE id = 'i1'", "DELETE FROM items WHERE id = 'i2'", "INSERT INTO items VALUES ('i3', 'three', 3)");
    ca.flush();
    SyncReport pulled = cb.flush();
    assertThat(pulled.pulled()).isEqualTo(3);
    assertThat(rows(b, "SELECT id, name FROM items ORDER BY id")).containsExactly("i1|uno", "i3|three");
    assertThat(count(b, "SELECT count(*) FROM _tidesync_changes")).isZero();
    SyncReport next = cb.flush();
    assertThat(next.pushed()).as("B pushes nothing it only received").isZero();
    assertThat(next.pulled()).isZero();

    // the server never received a change from B
    assertThat(cluster.dataset().status().devices())
        .filteredOn(d -> d.device().equals("b")).allSatisfy(d -> assertThat(d.changes()).isZero());
    // and A, in turn, does not receive its own changes back through B
    assertThat(ca.flush().pulled()).isZero();
  }
}
