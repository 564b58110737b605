package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clocks given when the log is absorbed: each write gets a clock of its own write time (the
 * trigger's julianday(), not the time of the absorb), in the order the writes were made, however
 * many writes to other rows are absorbed with it. An older write never gets the newer clock: a
 * merge with another device's write in between would then go the wrong way.
 */
class AbsorbClocksTest {
  @TempDir Path dir;

  @Test
  void eachWriteGetsAClockOfItsOwnWriteTimeInTheOrderTheWritesWereMade() throws Exception {
    Path db = dir.resolve("order.db");
    TestDb.sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)", "INSERT INTO items VALUES ('a', 'x', 1)",
        "INSERT INTO items VALUES ('b', 'y', 2)");
    try (DeviceReplica replica = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      replica.absorb();
      writeThreeRowsAndAbsorbThemTogether(db, replica);
    }
  }

  private static void writeThreeRowsAndAbsorbThemTogether(Path db, DeviceReplica replica) throws Exception {
    long[] at = new long[4];
    at[0] = System.currentTimeMillis();
    TestDb.sql(db, "UPDATE items SET qty = 10 WHERE id = 'a'");
    Thread.sleep(20);
    at[1] = System.currentTimeMillis();
    TestDb.sql(db, "INSERT INTO items VALUES ('c', 'new', 3)");
    Thread.sleep(20);
    at[2] = System.currentTimeMillis();
    TestDb.sql(db, "UPDATE items SET qty = 20 WHERE id = 'b'");
    at[3] = System.currentTimeMillis();
    replica.absorb();
    Map<String, String> live = new TreeMap<>();
    TestDb.rows(db, "SELECT pk, live FROM _tidesync_rows WHERE tbl = 'items'").forEach(r -> live.put(r.split("\\|")[0], r.split("\\|")[1]));
    // Written a, then c (new), then b: their clocks are in that order, each within its write's time.
    assertThat(live.get("[\"a\"]")).isLessThan(live.get("[\"c\"]"));
    assertThat(live.get("[\"c\"]")).isLessThan(live.get("[\"b\"]"));
    long c = dev.tidesync.protocol.Hlc.parse(live.get("[\"c\"]")).millis();
    assertThat(c).isBetween(at[1] - 2, at[2] + 2);
    // The clock moved past every clock it gave: the next write's clock is newer still.
    TestDb.sql(db, "INSERT INTO items VALUES ('d', 'later', 4)");
    replica.absorb();
    assertThat(TestDb.rows(db, "SELECT live FROM _tidesync_rows WHERE pk = '[\"d\"]'").get(0)).isGreaterThan(live.get("[\"b\"]"));
  }
}
