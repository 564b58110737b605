package dev.tidesync.it;

import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.one;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.core.CrashPoints;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.Values;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.tck.StorageFactory;
import java.nio.file.Path;
import java.util.List;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Crash points on both sides of a push and inside a pull, over real HTTP with the server
 * restarted from its storage (SQLite files, or PostgreSQL), on every store: no accepted change is lost, none is applied twice, and a pulled page
 * commits together with its cursor or not at all.
 */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class CrashRecoveryTest {
  @Parameter StorageFactory store;
  @TempDir Path dir;

  /** A number the server's store holds, read as a backend would, with the server stopped or running. */
  private long serverCount(Path data, String query) throws Exception {
    try (Storage s = store.open(data)) {
      return ((Number) Values.normalize(ServerStores.rowsOf(store, s, DatasetId.of("field"), query))).longValue();
    }
  }

  /** Thrown at a crash point: the process "dies" there. An Error, so no sync code handles it. */
  static final class Crash extends Error {
    Crash(String where) {
      super("simulated crash at " + where);
    }
  }

  @AfterEach
  void removeHook() {
    CrashPoints.install(null);
  }

  private void seed(Path db, int rows) throws Exception {
    sql(db, "CREATE TABLE readings (id TEXT PRIMARY KEY, v INTEGER)");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db); Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      for (int i = 0; i < rows; i++) {
        s.execute("INSERT INTO readings VALUES ('r" + i + "', " + i + ")");
      }
      c.commit();
    }
  }

  private TidesyncClient client(Path db, String url) {
    return TidesyncClient.create(c -> c.database(db).server(url).dataset("field").deviceId("dev").batchLimit(10));
  }

  @Test
  void serverDiesAfterCommittingAPushAndBeforeAnswering() throws Exception {
    Path data = dir.resolve("server");
    Path db = dir.resolve("device.db");
    seed(db, 25);
    AtomicBoolean armed = new AtomicBoolean(true);
    CrashPoints.install(p -> {
      if (p.equals(CrashPoints.SERVER_PUSH_COMMITTED) && armed.getAndSet(false)) {
        throw new Crash(p);
      }
    });
    Storage storage = store.open(data);
    TidesyncServer server = TidesyncServer.start(storage, ServerConfig.defaults().withInsecure(true).withPort(0), true);
    try (TidesyncClient client = client(db, server.url())) {
      assertThatThrownBy(client::flush).isInstanceOf(TidesyncException.class)
          .satisfies(e -> assertThat(((TidesyncException) e).retriable()).isTrue());
      server.close(); // the server process is gone; its data stays
      // The second batch was on the wire beside the first (see TidesyncClient.push), and a failing
      // push waits for what it has on the wire. Whichever of the two committed first is the one
      // whose answer was lost: the first (then the second committed too, the third was never
      // sent), or the second (then the first was answered and recorded, and the third, sent
      // meanwhile, committed as well).
      long committed = serverCount(data, "SELECT count(*) FROM readings");
      long pending = client.status().pendingTotal();
      assertThat(List.of(committed, pending)).as("rows committed, rows still pending").isIn(List.of(20L, 25L), List.of(25L, 15L));
      server = TidesyncServer.start(store.open(data), ServerConfig.defaults().withInsecure(true).withPort(server.port()), true);
      SyncReport r = client.flush();
      assertThat(r.ok()).isTrue();
      assertThat(r.pushed()).as("the batches whose answers were not recorded, plus the rest").isEqualTo(pending);
      server.close();
      assertThat(serverCount(data, "SELECT count(*) FROM readings")).isEqualTo(25);
      assertThat(serverCount(data, "SELECT count(*) FROM _tidesync_rows")).isEqualTo(25);
      assertThat(serverCount(data, "SELECT CAST(v AS INTEGER) FROM _tidesync_meta WHERE k = 'seq'")).as("each row versioned once").isEqualTo(25);
      assertThat(serverCount(data, "SELECT count(*) FROM _tidesync_conflicts")).isZero();
      assertThat(client.status().pendingTotal()).isZero();
    } finally {
      server.close();
    }
  }

  @Test
  void deviceDiesAfterTheAnswerAndBeforeRecordingIt() throws Exception {
    Path data = dir.resolve("server");
    Path db = dir.resolve("device.db");
    seed(db, 25);
    try (TidesyncServer server = TidesyncServer.start(store.open(data), ServerConfig.defaults().withInsecure(true).withPort(0), true)) {
      AtomicBoolean armed = new AtomicBoolean(true);
      CrashPoints.install(p -> {
        if (p.equals(CrashPoints.DEVICE_PUSH_ANSWERED) && armed.getAndSet(false)) {
          throw new Crash(p);
        }
      });
      TidesyncClient dying = client(db, server.url());
      assertThatThrownBy(dying::flush).isInstanceOf(Crash.class);
      dying.close(); // the app process dies; its database file stays
      // Two batches of one table are on the wire at once and the next is built meanwhile (see
      // TidesyncClient.push); a failing push waits for what it has on the wire. So the server has
      // applied the answered batch and the second, and all three wait in the outbox unrecorded.
      assertThat(serverCount(data, "SELECT count(*) FROM readings")).isEqualTo(20);
      assertThat(count(db, "SELECT count(*) FROM _tidesync_outbox")).as("two answered, unrecorded batches and the next").isEqualTo(3);
      try (TidesyncClient restarted = client(db, server.url())) {
        SyncReport r = restarted.flush();
        assertThat(r.ok()).isTrue();
        assertThat(r.conflicts()).as("a resent batch is answered from the server's record, not re-applied").isZero();
        assertThat(serverCount(data, "SELECT count(*) FROM readings")).isEqualTo(25);
        assertThat(serverCount(data, "SELECT CAST(v AS INTEGER) FROM _tidesync_meta WHERE k = 'seq'")).isEqualTo(25);
        assertThat(serverCount(data, "SELECT count(*) FROM _tidesync_conflicts")).isZero();
        assertThat(count(db, "SELECT count(*) FROM _tidesync_outbox")).isZero();
        assertThat(restarted.status().pendingTotal()).isZero();
      }
    }
  }

  @Test
  void aPulledPageAndItsCursorCommitTogether() throws Exception {
    Path data = dir.resolve("server");
    Path a = dir.resolve("a.db");
    Path b = dir.resolve("b.db");
    seed(a, 30);
    try (TidesyncServer server = TidesyncServer.start(store.open(data), ServerConfig.defaults().withInsecure(true).withPort(0), true);
        TidesyncClient ca = client(a, server.url())) {
      ca.flush();
      int[] applied = {0};
      CrashPoints.install(p -> {
        if (p.equals(CrashPoints.DEVICE_PULL_APPLYING) && ++applied[0] == 5) {
          throw new Crash(p);
        }
      });
      TidesyncClient dying = TidesyncClient.create(c -> c.database(b).server(server.url()).dataset("field").deviceId("b").pullLimit(10));
      assertThatThrownBy(dying::flush).isInstanceOf(Crash.class);
      dying.close();
      CrashPoints.install(null);
      // The page's table creation, rows and row metadata all rolled back with it.
      assertThat(count(b, "SELECT count(*) FROM sqlite_master WHERE name = 'readings'")).as("nothing of the interrupted page").isZero();
      assertThat(count(b, "SELECT count(*) FROM _tidesync_rows")).isZero();
      assertThat(one(b, "SELECT v FROM _tidesync_meta WHERE k = 'cursor'")).as("cursor did not move").isNull();
      try (TidesyncClient restarted = TidesyncClient.create(c -> c.database(b).server(server.url()).dataset("field").deviceId("b").pullLimit(10))) {
        SyncReport r = restarted.flush();
        assertThat(r.pulled()).isEqualTo(30);
        assertThat(count(b, "SELECT count(*) FROM readings")).isEqualTo(30);
        assertThat(count(b, "SELECT sum(v) FROM readings")).isEqualTo(435);
      }
    }
  }
}
