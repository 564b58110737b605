package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.one;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The device's HLC is persisted in _tidesync_meta and never goes backwards, whatever the wall clock says. */
class ClockPersistenceTest extends ReplicaTestSupport {
  private static Hlc hlcMeta(Path db) throws Exception {
    String v = one(db, "SELECT v FROM _tidesync_meta WHERE k = 'hlc'");
    assertThat(v).as("_tidesync_meta hlc").isNotNull();
    return Hlc.parse(v);
  }

  /** The clock of the last write of a row, as the server recorded it. */
  private Hlc serverClock(String id) throws Exception {
    return Hlc.parse(cluster.serverValue("SELECT live FROM _tidesync_rows WHERE tbl = 'items' AND pk = '[\"" + id + "\"]'"));
  }

  @Test
  void theClockNeverGoesBackwardsAcrossCloseAndReopenWithTheWallClockSetBack() throws Exception {
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT)", "INSERT INTO items VALUES ('a0', 'first')");
    TidesyncClient ca = cluster.device("a");
    assertThat(ca.flush().pushed()).isEqualTo(1);

    // Another device whose clock runs two minutes fast (within the allowed drift) writes a row.
    DatasetStore store = cluster.dataset();
    Hlc fast = new Hlc(System.currentTimeMillis() + 120_000, 3, "fast");
    PushResult pr = store.push(new PushRequest(Cluster.DATASET, "fast", UUID.randomUUID().toString(), store.schema(),
        List.of(new Change("items", List.of("f1"), false, Map.of("v", "fast"), fast.toString(), null, 0, 0))));
    assertThat(pr.results()).singleElement().satisfies(r -> assertThat(r.rejected()).isFalse());

    // A pulls it: its clock moves ahead of its own wall clock; a new local write is stamped after it.
    assertThat(ca.flush().pulled()).isEqualTo(1);
    sql(a, "INSERT INTO items VALUES ('a1', 'before close')");
    assertThat(ca.flush().pushed()).isEqualTo(1);
    Hlc a1 = serverClock("a1");
    assertThat(a1).isGreaterThan(fast);
    Hlc beforeClose = hlcMeta(a);
    assertThat(beforeClose).isGreaterThanOrEqualTo(a1);
    ca.close();
    assertThat(hlcMeta(a)).isEqualTo(beforeClose);

    // Reopen with the wall clock set back an hour.
    WallClock hourBehind = () -> System.currentTimeMillis() - 3_600_000L;
    TidesyncClient reopened = cluster.device("a", c -> c.clock(hourBehind));
    assertThat(hlcMeta(a)).isEqualTo(beforeClose);
    SyncReport r = reopened.flush();
    assertThat(r.ok()).as(r.toString()).isTrue();
    assertThat(hlcMeta(a)).isGreaterThanOrEqualTo(beforeClose);

    sql(a, "INSERT INTO items VALUES ('a2', 'after reopen')", "UPDATE items SET v = 'edited after reopen' WHERE id = 'a0'");
    assertThat(reopened.flush().pushed()).isEqualTo(2);
    Hlc a2 = serverClock("a2");
    Hlc a0 = serverClock("a0");
    assertThat(a2).as("clock of a new change after reopen").isGreaterThan(beforeClose).isGreaterThan(a1);
    assertThat(a0).as("clock of an update after reopen").isGreaterThan(beforeClose);
    assertThat(hlcMeta(a)).isGreaterThan(beforeClose).isGreaterThanOrEqualTo(a2).isGreaterThanOrEqualTo(a0);

    // and a write from the device that made it (newer by HLC) still wins over the fast device's row
    sql(a, "UPDATE items SET v = 'a wins' WHERE id = 'f1'");
    reopened.flush();
    assertThat(cluster.serverValue("SELECT v FROM items WHERE id = 'f1'")).isEqualTo("a wins");
  }
}
