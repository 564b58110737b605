package dev.tidesync.sqlite;

import static dev.tidesync.sqlite.TestDb.one;
import static dev.tidesync.sqlite.TestDb.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The device's hybrid logical clock is persisted and never runs backwards. */
class HlcPersistenceTest {
  @TempDir Path dir;

  private static DeviceReplica.Options options(WallClock wall) {
    return new DeviceReplica.Options("dev-a", null, Map.<String, ConflictPolicy>of(), SqliteStorage.DEFAULT_MAX_DRIFT_MILLIS, wall);
  }

  private static String hlcMeta(Path db) throws Exception {
    return one(db, "SELECT v FROM _tidesync_meta WHERE k = 'hlc'");
  }

  private static String liveClock(Path db, String id) throws Exception {
    return one(db, "SELECT live FROM _tidesync_rows WHERE tbl = 'items' AND pk = '[\"" + id + "\"]'");
  }

  @Test
  void theClockNeverGoesBackwardsAcrossReopenEvenWhenTheWallClockIsSetBack() throws Exception {
    Path db = dir.resolve("app.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT)");
    long now = System.currentTimeMillis();
    Hlc ahead = new Hlc(now + 120_000, 7, "fast-device"); // within the 5-minute drift bound

    String before;
    try (DeviceReplica replica = DeviceReplica.open(db, options(WallClock.SYSTEM))) {
      // A change from a device whose clock runs two minutes fast pulls our clock ahead of our wall.
      replica.applyPage(new PullPage("c1.test.1", false, false, replica.tables(),
          List.of(new Change("items", List.of("remote"), false, Map.of("v", "r"), ahead.toString(), null, 0, 1))));
      sql(db, "INSERT INTO items VALUES ('local1', 'x')");
      replica.absorb();
      String first = liveClock(db, "local1");
      assertThat(Hlc.parse(first)).isGreaterThan(ahead);
      before = hlcMeta(db);
      assertThat(before).isNotNull();
      assertThat(Hlc.parse(before)).isGreaterThanOrEqualTo(Hlc.parse(first));
    }

    // Reopen with the wall clock set back by an hour.
    WallClock hourBehind = () -> System.currentTimeMillis() - 3_600_000L;
    try (DeviceReplica replica = DeviceReplica.open(db, options(hourBehind))) {
      assertThat(hlcMeta(db)).isEqualTo(before);
      sql(db, "INSERT INTO items VALUES ('local2', 'y')");
      replica.absorb();
      String next = liveClock(db, "local2");
      assertThat(Hlc.parse(next)).as("clock of a change made after reopening").isGreaterThan(Hlc.parse(before));
      String after = hlcMeta(db);
      assertThat(Hlc.parse(after)).isGreaterThan(Hlc.parse(before)).isGreaterThanOrEqualTo(Hlc.parse(next));
    }

    // And once more: the persisted clock is monotonic over several sessions.
    try (DeviceReplica replica = DeviceReplica.open(db, options(hourBehind))) {
      String last = hlcMeta(db);
      sql(db, "UPDATE items SET v = 'z' WHERE id = 'local1'");
      replica.absorb();
      assertThat(Hlc.parse(liveClock(db, "local1"))).isGreaterThan(Hlc.parse(last));
    }
  }
}
