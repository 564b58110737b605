package dev.tidesync.sqlite;

import static dev.tidesync.sqlite.TestDb.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.PushRequest;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A push batch of large rows is cut to its byte budget while its rows are read, not after: the
 * device never holds a row limit's worth of large rows (a thousand photos) to send a few.
 */
class BatchBytesTest {
  @TempDir Path dir;

  private static long allocated() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
  }

  @Test
  void aBatchOfLargeRowsReadsAboutItsBudgetAndEveryRowGoesOnce() throws Exception {
    Path db = dir.resolve("photos.db");
    // 300 rows of 100 KB: read and encoded whole, a batch of them would allocate well over 100 MB.
    sql(db, "CREATE TABLE photos (id TEXT PRIMARY KEY, data BLOB)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
            + "INSERT INTO photos SELECT printf('p%03d', i), randomblob(100000) FROM n");
    long budget = 256 * 1024;
    try (DeviceReplica r = DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-a"))) {
      DeviceReplica.PushScan scan = new DeviceReplica.PushScan();
      long before = allocated();
      PushRequest first = r.nextBatch("ds", scan, t -> 1000, budget);
      long used = allocated() - before;
      assertThat(first.changes()).hasSizeBetween(1, 3);
      assertThat(used).as("bytes allocated to build the first batch").isLessThan(16L * 1024 * 1024);
      Set<Object> sent = new HashSet<>();
      PushRequest req = first;
      do {
        while (req != null) {
          assertThat((long) r.encodedBatch(req.batch()).length).isLessThanOrEqualTo(budget);
          for (Change c : req.changes()) {
            assertThat(sent.add(c.pk().get(0))).as("sent once: " + c.pk()).isTrue();
          }
          req = r.nextBatch("ds", scan, t -> 1000, budget);
        }
      } while (scan.resume() && (req = r.nextBatch("ds", scan, t -> 1000, budget)) != null);
      assertThat(sent).hasSize(300);
    }
  }
}
