package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Query plans the device's hot statements depend on: a plan that scans would make large pushes quadratic. */
class DeviceReplicaPlanTest {
  @TempDir Path dir;

  @Test
  void settlingAPushedBatchLooksEachRowUpByItsKey() throws Exception {
    Path db = dir.resolve("app.db");
    TestDb.sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)");
    try (DeviceReplica replica = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      assertThat(replica.tables()).hasSize(1);
    }
    List<String> plan = plan(db, DeviceReplica.SETTLE, "[\"i1\"]", "h", "1", "items");
    assertThat(plan).anySatisfy(step -> assertThat(step).contains("SEARCH r USING PRIMARY KEY (tbl=? AND pk=?)"))
        .noneSatisfy(step -> assertThat(step).matches("SEARCH r USING PRIMARY KEY \\(tbl=\\?\\)|SCAN r.*"));
  }

  @Test
  void collectingATreesRowsByKeyLooksEachUpByItsKey() throws Exception {
    Path db = dir.resolve("tree.db");
    TestDb.sql(db, "CREATE TABLE nodes (id TEXT PRIMARY KEY, parent TEXT REFERENCES nodes (id), v INTEGER)");
    dev.tidesync.protocol.TableSchema nodes;
    try (DeviceReplica replica = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      nodes = replica.tables().get(0);
    }
    List<String> plan = plan(db, DeviceReplica.collectKeysSql(nodes), "[\"[\\\"n1\\\"]\"]", "nodes");
    assertThat(plan).anySatisfy(step -> assertThat(step).contains("SEARCH r USING PRIMARY KEY (tbl=? AND pk=?)"))
        .noneSatisfy(step -> assertThat(step).matches("SEARCH r USING PRIMARY KEY \\(tbl=\\?\\)|SCAN r.*|SCAN u.*"));
  }

  @Test
  void readingAWaitingInitialLoadWalksTheTablesKeyAndLooksEachRowsMetadataUpByItsKey() throws Exception {
    // The rows of an initial load that have no metadata yet (DeviceReplica.loadExisting): read in
    // key order from the table's own key (no sort of the whole table per batch), each checked
    // against the metadata by its key; settled by the key too.
    Path db = dir.resolve("load.db");
    TestDb.sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT)", "INSERT INTO items VALUES ('i1', 'one')",
        "CREATE TABLE nums (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO nums VALUES (1, 'one')");
    List<dev.tidesync.protocol.TableSchema> tables;
    try (DeviceReplica replica = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      tables = replica.tables();
    }
    for (dev.tidesync.protocol.TableSchema t : tables) {
      List<String> plan = plan(db, dev.tidesync.sqlite.internal.Unloaded.next(t, true), t.name(), "i0", "1000");
      assertThat(plan).as("%s: %s", t.name(), plan)
          .anySatisfy(step -> assertThat(step).matches("SEARCH u USING (INTEGER PRIMARY KEY \\(rowid>\\?\\)|INDEX sqlite_autoindex_items_1 \\(id>\\?\\))"))
          .anySatisfy(step -> assertThat(step).contains("SEARCH r USING PRIMARY KEY (tbl=? AND pk=?)"))
          .noneSatisfy(step -> assertThat(step).matches("SCAN .*|.*TEMP B-TREE.*"));
    }
    assertThat(plan(db, DeviceReplica.SETTLE_UNLOADED, "[\"i1\"]", "h", "1", "items"))
        .noneSatisfy(step -> assertThat(step).matches("SCAN .*|SEARCH r USING PRIMARY KEY \\(tbl=\\?\\)"));
  }

  /** The steps of SQLite's plan for {@code sql} with these (text) parameters. */
  private static List<String> plan(Path db, String sql, String... params) throws Exception {
    List<String> plan = new ArrayList<>();
    try (Connection c = TestDb.connect(db); PreparedStatement ps = c.prepareStatement("EXPLAIN QUERY PLAN " + sql)) {
      for (int i = 0; i < params.length; i++) {
        ps.setString(i + 1, params[i]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          plan.add(rs.getString(4));
        }
      }
    }
    return plan;
  }
}
