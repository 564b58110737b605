package dev.tidesync.it;

import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.client.Transport;
import dev.tidesync.core.DatasetId;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.sqlite.SqliteStorage;
import dev.tidesync.sqlite.SqliteStorageFactory;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client builds the next batch while the previous ones are on the wire, and puts two batches
 * of one table on the wire at once. These tests hold it to what that must not change: never more
 * than two requests, never two of different tables or of a table that refers to itself, parents
 * before children, and after a failure mid-way every change arrives and is applied exactly once.
 */
class PushPipelineTest {
  @TempDir Path dir;

  /** Records every push: which batch, which table, and how many pushes were in flight at once. */
  static final class Recording implements Transport {
    final Transport inner;
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final List<String> tables = new CopyOnWriteArrayList<>();
    final List<String> batches = new CopyOnWriteArrayList<>();
    /** The first key of the batch whose push fails once (null: none). */
    volatile Object failFirstKey;
    /** The first key of the batch whose push is held 300 ms before it is forwarded, once (null: none). */
    volatile Object delayFirstKey;
    /** Tables of the pushes on the wire; a push that starts beside one of another table is noted in mixed. */
    final List<String> onWire = new CopyOnWriteArrayList<>();
    final List<String> mixed = new CopyOnWriteArrayList<>();
    /** Runs before a push is forwarded, with the number of pushes forwarded so far. */
    volatile java.util.function.IntConsumer beforePush = i -> {};
    /** The first key value of every change forwarded, in order. */
    final List<Object> sentKeys = new CopyOnWriteArrayList<>();

    Recording(Transport inner) {
      this.inner = inner;
    }

    @Override
    public PushResult push(String dataset, PushRequest request) {
      String table = request.changes().isEmpty() ? "-" : request.changes().get(0).table();
      int now = inFlight.incrementAndGet();
      maxInFlight.accumulateAndGet(now, Math::max);
      for (String other : onWire) {
        if (!other.equals(table)) {
          mixed.add(other + " beside " + table);
        }
      }
      onWire.add(table);
      try {
        // Long enough for the device to build the next batch meanwhile, had it no reason to wait
        // (and for a second batch of the same table to join this one on the wire), even on a
        // loaded machine.
        Thread.sleep(15);
        if (!request.changes().isEmpty() && request.changes().get(0).pk().get(0).equals(delayFirstKey)) {
          delayFirstKey = null;
          Thread.sleep(300);
        }
        if (!request.changes().isEmpty() && request.changes().get(0).pk().get(0).equals(failFirstKey)) {
          failFirstKey = null;
          throw new TidesyncException("connection reset (injected)", true);
        }
        beforePush.accept(batches.size());
        request.changes().forEach(c -> sentKeys.add(c.pk().get(0)));
        batches.add(request.batch());
        tables.add(table);
        return inner.push(dataset, request);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new TidesyncException("interrupted", true, e);
      } finally {
        onWire.remove(table);
        inFlight.decrementAndGet();
      }
    }

    @Override
    public PullPage pull(String dataset, String cursor, int limit, String device) {
      return inner.pull(dataset, cursor, limit, device);
    }
  }

  /** Waits (up to 5 s) until the device's outbox holds {@code n} batches; whether it did. */
  private static boolean outboxReaches(Path db, int n) {
    long until = System.nanoTime() + 5_000_000_000L;
    try {
      while (System.nanoTime() < until) {
        if (count(db, "SELECT count(*) FROM _tidesync_outbox") >= n) {
          return true;
        }
        Thread.sleep(5);
      }
      return false;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void aRowDeletedWhileItsInsertIsOnTheWireIsNoConflict() throws Exception {
    Path db = dir.resolve("device.db");
    sql(db, "CREATE TABLE items (id TEXT PRIMARY KEY, v INTEGER)");
    try (Connection c = dev.tidesync.it.replica.Db.connect(db)) {
      c.setAutoCommit(false);
      try (PreparedStatement s = c.prepareStatement("INSERT INTO items VALUES (?, ?)")) {
        for (int i = 100; i < 250; i++) {
          s.setString(1, "k" + i);
          s.setInt(2, i);
          s.executeUpdate();
        }
      }
      c.commit();
    }
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"))) {
      Recording t = new Recording(new LocalTransport(storage));
      // While the first batch (k100..k199) is on the wire and the second (k200..k249) has been
      // built, the app deletes k220: the delete is absorbed when the first answer is recorded,
      // before the second answer is. Its batch must carry the base the insert gets.
      t.beforePush = i -> {
        if (i == 0) {
          assertThat(outboxReaches(db, 2)).isTrue();
          try {
            sql(db, "DELETE FROM items WHERE id = 'k220'");
          } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
          }
        }
      };
      try (TidesyncClient client = client(db, t)) {
        SyncReport r = client.flush();
        assertThat(r.ok()).as(r.toString()).isTrue();
        assertThat(r.conflicts()).as("the device's own insert then delete is no conflict").isZero();
        assertThat(client.flush().pulled()).isZero();
      }
      assertThat(server(storage, "SELECT count(*) FROM _tidesync_conflicts")).isZero();
      assertThat(server(storage, "SELECT count(*) FROM items")).isEqualTo(149);
      assertThat(count(db, "SELECT count(*) FROM items")).isEqualTo(149);
    }
  }

  private static TidesyncClient client(Path db, Transport t) {
    return TidesyncClient.create(c -> c.database(db).transport(t).dataset("field").deviceId("dev").batchLimit(100));
  }

  private static long server(SqliteStorage storage, String query) throws Exception {
    return ((Number) ServerStores.rowsOf(new SqliteStorageFactory(), storage, DatasetId.of("field"), query)).longValue();
  }

  private void seed(Path db, int parents, int children) throws Exception {
    sql(db, "CREATE TABLE sites (id TEXT PRIMARY KEY, name TEXT)",
        "CREATE TABLE samples (id TEXT PRIMARY KEY, site TEXT REFERENCES sites (id), v INTEGER)");
    try (Connection c = dev.tidesync.it.replica.Db.connect(db)) {
      c.setAutoCommit(false);
      try (PreparedStatement s = c.prepareStatement("INSERT INTO sites VALUES (?, ?)");
          PreparedStatement x = c.prepareStatement("INSERT INTO samples VALUES (?, ?, ?)")) {
        for (int i = 0; i < parents; i++) {
          s.setString(1, "s" + i);
          s.setString(2, "site " + i);
          s.executeUpdate();
        }
        // Child keys sort before parent keys: a batch order that followed keys, not tables, would break.
        for (int i = 0; i < children; i++) {
          x.setString(1, "a" + i);
          x.setString(2, "s" + (i % parents));
          x.setInt(3, i);
          x.executeUpdate();
        }
      }
      c.commit();
    }
  }

  @Test
  void twoBatchesOfOneTableAreOnTheWireAtOnceNeverOfTwoTablesAndParentsGoFirst() throws Exception {
    Path db = dir.resolve("device.db");
    seed(db, 250, 1000);
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"))) {
      Recording t = new Recording(new LocalTransport(storage));
      java.util.concurrent.atomic.AtomicBoolean builtAhead = new java.util.concurrent.atomic.AtomicBoolean();
      t.beforePush = i -> {
        if (i == 0) {
          builtAhead.set(outboxReaches(db, 2));
        }
      };
      try (TidesyncClient client = client(db, t)) {
        SyncReport r = client.flush();
        assertThat(r.ok()).as(r.toString()).isTrue();
        assertThat(r.pushed()).isEqualTo(1250);
        assertThat(r.applied()).isEqualTo(1250);
      }
      assertThat(t.maxInFlight.get()).as("push requests in flight at once").isEqualTo(2);
      assertThat(t.mixed).as("a batch on the wire beside one of another table").isEmpty();
      assertThat(builtAhead.get()).as("the next batch was built while the first was on the wire").isTrue();
      assertThat(t.tables).hasSize(13);
      assertThat(t.tables.subList(0, 3)).containsOnly("sites");
      assertThat(t.tables.subList(3, 13)).containsOnly("samples");
      assertThat(server(storage, "SELECT count(*) FROM samples")).isEqualTo(1000);
    }
  }

  @Test
  void aTableThatRefersToItselfGoesParentsFirstOneBatchAtATime() throws Exception {
    Path db = dir.resolve("device.db");
    // A chain whose parents sort after their children (n0551's parent is n0552, ..., the root is
    // n1000): in key order every batch but the last would refer to rows of a later one.
    sql(db, "CREATE TABLE nodes (id TEXT PRIMARY KEY, parent TEXT REFERENCES nodes (id), v INTEGER)",
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 449) INSERT INTO nodes "
            + "SELECT printf('n%04d', 1000 - i), CASE WHEN i = 0 THEN NULL ELSE printf('n%04d', 1001 - i) END, i FROM n");
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"))) {
      Recording t = new Recording(new LocalTransport(storage));
      try (TidesyncClient client = client(db, t)) {
        SyncReport r = client.flush();
        assertThat(r.ok()).as(r.toString()).isTrue();
        assertThat(r.pushed()).isEqualTo(450);
        assertThat(r.applied()).isEqualTo(450);
        // A later edit of a child and its parent goes the same way.
        sql(db, "UPDATE nodes SET v = -1 WHERE id IN ('n0551', 'n0999')", "INSERT INTO nodes VALUES ('a-new-leaf', 'n0551', 0)");
        SyncReport again = client.flush();
        assertThat(again.ok()).as(again.toString()).isTrue();
        assertThat(again.applied()).isEqualTo(3);
      }
      assertThat(t.maxInFlight.get()).as("push requests in flight at once").isEqualTo(1);
      assertThat(server(storage, "SELECT count(*) FROM nodes")).isEqualTo(451);
    }
  }

  @Test
  void aRefusalThatOnlyTheOrderOfTwoBatchesOnTheWireCausedIsRetriedAndGoesThrough() throws Exception {
    Path db = dir.resolve("device.db");
    sql(db, "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, n INTEGER)",
        "WITH RECURSIVE u(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM u WHERE i < 199) INSERT INTO users "
            + "SELECT printf('k%03d', i), printf('u%03d@example.org', i), 0 FROM u");
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"))) {
      Recording t = new Recording(new LocalTransport(storage));
      try (TidesyncClient client = client(db, t)) {
        assertThat(client.flush().ok()).isTrue();
        // A backend puts a unique index on the server's table (the device's has none).
        new SqliteStorageFactory().backendSql(storage, DatasetId.of("field"), "CREATE UNIQUE INDEX users_email ON users (email)");
        // k050 (first batch) gives up its address, k150 (second batch) takes it: applied second
        // batch first, k150 would collide with k050's old address.
        sql(db, "UPDATE users SET n = 1", "UPDATE users SET email = 'moved@example.org' WHERE id = 'k050'",
            "UPDATE users SET email = 'u050@example.org' WHERE id = 'k150'");
        int before = t.batches.size();
        // The first batch is late: the second, on the wire beside it, is applied first.
        t.delayFirstKey = "k000";
        SyncReport r = client.flush();
        assertThat(r.ok()).as(r.toString()).isTrue();
        assertThat(r.rejected()).isZero();
        assertThat(t.batches.size() - before).as("two batches, then k150 again alone").isEqualTo(3);
        assertThat(client.status().failed()).isEmpty();
        assertThat(client.status().pendingTotal()).isZero();
      }
      assertThat(server(storage, "SELECT count(*) FROM users WHERE id = 'k150' AND email = 'u050@example.org'")).isEqualTo(1);
      assertThat(server(storage, "SELECT count(*) FROM users WHERE n = 1")).isEqualTo(200);
    }
  }

  @Test
  void aFailureMidwayLosesNothingAndAppliesNothingTwice() throws Exception {
    Path db = dir.resolve("device.db");
    seed(db, 100, 900);
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"))) {
      Recording t = new Recording(new LocalTransport(storage));
      // Batches: sites, then samples in key order, 100 each. The fifth (samples 300..399 in key
      // order) fails; by then the sixth is on the wire beside it and the seventh is built.
      t.failFirstKey = java.util.stream.IntStream.range(0, 900).mapToObj(i -> "a" + i).sorted().toList().get(300);
      try (TidesyncClient client = client(db, t)) {
        assertThatThrownBy(client::flush).isInstanceOf(TidesyncException.class).hasMessageContaining("injected");
        assertThat(count(db, "SELECT count(*) FROM _tidesync_outbox")).as("the failed batch, the one beside it, the one built ahead")
            .isEqualTo(3);
        assertThat(server(storage, "SELECT count(*) FROM samples")).as("three batches before the failed one, and the one beside it")
            .isEqualTo(400);
        List<String> sentBefore = List.copyOf(t.batches);

        SyncReport r = client.flush();
        assertThat(r.ok()).as(r.toString()).isTrue();
        assertThat(r.pushed()).as("the three outbox batches, then the rest").isEqualTo(600);
        assertThat(count(db, "SELECT count(*) FROM _tidesync_outbox")).isZero();
        assertThat(client.status().pendingTotal()).isZero();
        // Sent twice: only the batch that was on the wire beside the failed one (its answer was
        // not recorded); the server answered it from its record.
        assertThat(t.batches).startsWith(sentBefore.toArray(String[]::new));
        assertThat(t.batches.size() - new java.util.HashSet<>(t.batches).size()).isEqualTo(1);
      }
      assertThat(server(storage, "SELECT count(*) FROM samples")).isEqualTo(900);
      assertThat(server(storage, "SELECT CAST(v AS INTEGER) FROM _tidesync_meta WHERE k = 'seq'")).as("each row versioned once")
          .isEqualTo(1000);
    }
  }

  @Test
  void aRowRefusedForNowThatNoRoundSettlesIsReportedOnceAndTheRoundsStop() throws Exception {
    Path db = dir.resolve("device.db");
    seed(db, 10, 250);
    // A sample whose site exists nowhere: the server refuses it for now (a foreign key) every time.
    sql(db, "INSERT INTO samples VALUES ('a-orphan', 'ghost', 0)");
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"))) {
      Recording t = new Recording(new LocalTransport(storage));
      try (TidesyncClient client = client(db, t)) {
        SyncReport r = client.flush();
        assertThat(r.applied()).isEqualTo(260);
        assertThat(r.rejected()).isEqualTo(1);
        assertThat(r.errors()).singleElement().asString().contains("a-orphan").contains("FOREIGN KEY");
        // sites (1 batch), samples (3 batches of 100, 100, 51), then one more round with the orphan
        // alone, which settles nothing: no third round.
        assertThat(t.batches).hasSize(5);
        assertThat(client.status().pendingTotal()).isEqualTo(1);
      }
      assertThat(server(storage, "SELECT count(*) FROM samples")).isEqualTo(250);
    }
  }

  @Test
  void rowsRefusedForNowThatCannotBeACycleAreNotSentTogetherOnceMore() throws Exception {
    Path db = dir.resolve("device.db");
    seed(db, 10, 250);
    sql(db, "INSERT INTO samples VALUES ('a-orphan', 'ghost', 0)", "INSERT INTO samples VALUES ('b-orphan', 'ghost', 0)");
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"))) {
      Recording t = new Recording(new LocalTransport(storage));
      try (TidesyncClient client = client(db, t)) {
        SyncReport r = client.flush();
        assertThat(r.rejected()).isEqualTo(2);
        // sites, samples (100, 100, 52), one round with the two orphans; they refer to no row
        // of each other, so no last batch sends them together (see DeviceReplica.batchOfRows).
        assertThat(t.batches).hasSize(5);
        assertThat(client.status().pendingTotal()).isEqualTo(2);
      }
    }
  }

  @Test
  void rowsTheAppWritesDuringAPushDoNotKeepAStuckRowGoingRoundAndRound() throws Exception {
    Path db = dir.resolve("device.db");
    seed(db, 10, 250);
    sql(db, "INSERT INTO samples VALUES ('a-orphan', 'ghost', 0)");
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"))) {
      Recording t = new Recording(new LocalTransport(storage));
      // The app writes a new site before every request: each round settles rows, none of them
      // the orphan's missing parent. That is no reason for another round.
      AtomicInteger appRows = new AtomicInteger();
      t.beforePush = i -> {
        try {
          sql(db, "INSERT INTO sites VALUES ('app" + appRows.incrementAndGet() + "', 'new')");
        } catch (java.sql.SQLException e) {
          throw new IllegalStateException(e);
        }
      };
      try (TidesyncClient client = client(db, t)) {
        SyncReport r = client.flush();
        assertThat(r.rejected()).isEqualTo(1);
        assertThat(r.errors()).singleElement().asString().contains("a-orphan");
        assertThat(t.sentKeys.stream().filter("a-orphan"::equals).count()).as("the scan, then one round").isEqualTo(2);
      }
    }
  }
}
