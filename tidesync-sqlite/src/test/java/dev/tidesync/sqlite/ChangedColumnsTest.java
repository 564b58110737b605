package dev.tidesync.sqlite;

import static dev.tidesync.sqlite.TestDb.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetStore;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.PushRequest;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Under field-merge, an update pushes only the columns it changed, not the whole row. */
class ChangedColumnsTest {
  @TempDir Path dir;

  private SqliteStorage storage;
  private DatasetStore store;
  private Path db;
  private DeviceReplica replica;

  @BeforeEach
  void setUp() throws Exception {
    storage = SqliteStorage.open(dir.resolve("server"));
    store = storage.openOrCreate("ds");
    db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER, note TEXT)",
        "INSERT INTO items VALUES ('i1', 'apple', 1, 'fresh')");
    replica = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"));
    pushAll();
    assertThat(replica.pending().total()).isZero();
  }

  @AfterEach
  void tearDown() {
    replica.close();
    storage.close();
  }

  /** Pushes every pending change to the in-process store, like flush() does. */
  private void pushAll() {
    replica.absorb();
    Scans.eachBatch(replica, 100, req -> replica.recordPushResult(req, store.push(req)));
  }

  private List<Change> nextBatchChanges() {
    replica.absorb();
    DeviceReplica.PushScan scan = new DeviceReplica.PushScan();
    PushRequest req;
    do {
      req = replica.nextBatch("ds", scan, 100);
    } while (req == null && scan.resume());
    return req == null ? List.of() : req.changes();
  }

  @Test
  void anUpdateOfOneColumnPushesOnlyThatColumn() throws Exception {
    sql(db, "UPDATE items SET qty = 2 WHERE id = 'i1'");

    List<Change> changes = nextBatchChanges();
    assertThat(changes).hasSize(1);
    Change c = changes.get(0);
    assertThat(c.table()).isEqualTo("items");
    assertThat(c.pk()).containsExactly("i1");
    assertThat(c.deleted()).isFalse();
    assertThat(c.cols()).containsOnlyKeys("qty").containsEntry("qty", 2L);
    assertThat(c.base()).as("base is the version the first push got").isPositive();
  }

  @Test
  void anUpdateThatRewritesUnchangedValuesPushesOnlyTheColumnsThatDiffer() throws Exception {
    // What an ORM does: write every column of the record, most of them with their old values.
    sql(db, "UPDATE items SET name = 'apple', qty = 7, note = 'fresh' WHERE id = 'i1'");

    List<Change> changes = nextBatchChanges();
    assertThat(changes).hasSize(1);
    assertThat(changes.get(0).cols()).containsOnlyKeys("qty").containsEntry("qty", 7L);
  }

  @Test
  void successiveUpdatesOfDifferentColumnsPushBothWithTheirOwnClocks() throws Exception {
    sql(db, "UPDATE items SET qty = 3 WHERE id = 'i1'");
    sql(db, "UPDATE items SET note = 'ripe' WHERE id = 'i1'");

    List<Change> changes = nextBatchChanges();
    assertThat(changes).hasSize(1);
    Change c = changes.get(0);
    assertThat(c.cols()).containsOnlyKeys("qty", "note").containsEntry("qty", 3L).containsEntry("note", "ripe");
    // the earlier edit keeps its own (older) clock; the later one carries the change's hlc
    assertThat(c.clockOf("qty")).isLessThan(c.clockOf("note"));
    assertThat(c.clockOf("note")).isEqualTo(c.hlc());
  }

  @Test
  void anUpdateThatChangesNoValuePushesNoColumn() throws Exception {
    sql(db, "UPDATE items SET qty = qty WHERE id = 'i1'");

    List<Change> changes = nextBatchChanges();
    // Nothing changed, so nothing may claim a newer clock for any column: with field-merge that
    // would overwrite a concurrent edit made on another device.
    assertThat(changes).allSatisfy(c -> assertThat(c.cols()).isEmpty());
  }

  @Test
  void aRowWithANullKeyDoesNotStopThePushOfTheOthers() throws Exception {
    // SQLite allows NULL in a non-integer key; such a row has no identity to sync by.
    sql(db, "INSERT INTO items VALUES (NULL, 'nameless', 0, NULL)", "INSERT INTO items VALUES ('i2', 'pear', 2, NULL)");
    assertThat(nextBatchChanges()).extracting(c -> c.pk().get(0)).containsExactly("i2");
    // Not pending for ever: failed, with a reason that says what to do.
    assertThat(replica.pending().failed()).containsEntry("items", 1L);
    assertThat(replica.failures().values()).singleElement().asString().contains("NULL primary key");
  }
}
