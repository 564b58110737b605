package dev.tidesync.it;

import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.HttpTransport;
import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.client.Transport;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.Wire;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.sqlite.SqliteStorage;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rows too large for a batch of the usual size: a push never builds a request body over the
 * client's byte budget, a batch the server refuses as too large is split and sent again in the
 * same sync instead of holding its table back for ever, and a single row larger than the server
 * takes fails alone, named, while the rest of its table syncs.
 */
class LargeRowsTest {
  /** The server's largest request body here: a few of the test's rows, far fewer than a batch. */
  static final long SERVER_MAX = 200 * 1024;

  @TempDir Path dir;
  SqliteStorage storage;
  TidesyncServer server;

  /** Every push body's size (the uncompressed JSON the device built), and the pulls as they pass. */
  static final class Sizes implements Transport {
    final HttpTransport inner;
    final List<Integer> bodies = new CopyOnWriteArrayList<>();
    /** "table:rows" of every push with changes, in the order sent. */
    final List<String> batches = new CopyOnWriteArrayList<>();

    Sizes(String url) {
      inner = new HttpTransport(url);
    }

    @Override
    public PushResult push(String dataset, PushRequest request) {
      return push(dataset, request, Wire.writePush(request));
    }

    @Override
    public PushResult push(String dataset, PushRequest request, byte[] body) {
      bodies.add(body.length);
      if (!request.changes().isEmpty()) {
        batches.add(request.changes().get(0).table() + ":" + request.changes().size());
      }
      return inner.push(dataset, request, body);
    }

    @Override
    public PullPage pull(String dataset, String cursor, int limit, String device) {
      return inner.pull(dataset, cursor, limit, device);
    }
  }

  @BeforeEach
  void start() {
    storage = SqliteStorage.open(dir.resolve("server"));
    server = TidesyncServer.start(storage, ServerConfig.defaults().withInsecure(true).withPort(0).withMaxRequestBytes(SERVER_MAX), true);
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private static void photos(Path db, int n, int bytes, long seed) throws Exception {
    sql(db, "CREATE TABLE IF NOT EXISTS photos (id TEXT PRIMARY KEY, taken INTEGER, data BLOB)",
        "CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, body TEXT)");
    Random r = new Random(seed);
    try (Connection c = dev.tidesync.it.replica.Db.connect(db)) {
      c.setAutoCommit(false);
      insertPhotos(c, "p", 0, n, bytes, r);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO notes VALUES (?, ?)")) {
        for (int i = 0; i < 50; i++) {
          ps.setString(1, "n" + i);
          ps.setString(2, "note " + i);
          ps.executeUpdate();
        }
      }
      c.commit();
    }
  }

  private TidesyncClient client(Path db, Transport t, String device, Consumer<dev.tidesync.client.ClientConfig.Builder> more) {
    return TidesyncClient.create(c -> {
      c.database(db).transport(t).dataset("field").deviceId(device);
      more.accept(c);
    });
  }

  static final String[] PHOTOS_AND_NOTES = {"SELECT id, taken, hex(data) FROM photos ORDER BY id", "SELECT id, body FROM notes ORDER BY id"};

  /** A second device, synced from scratch, holds what each query reads on the first one (not nothing). */
  private void sameOnAnotherDevice(Path db, String... queries) throws Exception {
    Path other = dir.resolve("other.db");
    try (TidesyncClient c = client(other, new HttpTransport(server.url()), "other", b -> {})) {
      assertThat(c.flush().errors()).isEmpty();
    }
    for (String q : queries) {
      assertThat(dev.tidesync.it.replica.Db.rows(other, q)).isEqualTo(dev.tidesync.it.replica.Db.rows(db, q)).isNotEmpty();
    }
  }

  @Test
  void aBatchTheServerRefusesAsTooLargeIsSplitAndEveryRowArrivesInOneSync() throws Exception {
    Path db = dir.resolve("device.db");
    photos(db, 60, 20_000, 1); // ~27 KB of JSON each: 60 of them are about eight times what the server takes
    Sizes t = new Sizes(server.url());
    try (TidesyncClient c = client(db, t, "camera", b -> {})) {
      SyncReport r = c.flush();
      assertThat(r.errors()).isEmpty();
      assertThat(c.status().pendingTotal()).isZero();
      // Split, not given up: the table was not held back, and the second sync has nothing to do.
      assertThat(c.flush().pushed()).isZero();
    }
    sameOnAnotherDevice(db, PHOTOS_AND_NOTES);
  }

  @Test
  void aLimitLearnedFromARefusalHoldsForTenMinutesThenTheConfiguredOneIsTriedAgain() throws Exception {
    Path db = dir.resolve("device.db");
    photos(db, 30, 20_000, 5); // ~27 KB of JSON each: 30 of them are about four times what the server takes
    Sizes t = new Sizes(server.url());
    java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong(1_800_000_000_000L);
    try (TidesyncClient c = client(db, t, "camera", b -> b.clock(now::get))) {
      assertThat(c.flush().errors()).isEmpty();
      int firstSync = t.bodies.size();
      assertThat(t.bodies).as("the first batch was refused and split").anySatisfy(n -> assertThat(n).isGreaterThan((int) SERVER_MAX));

      // Nine minutes later: 30 more photos go in batches of the size learned, none refused.
      more(db, 30, 20_000);
      now.addAndGet(java.time.Duration.ofMinutes(9).toMillis());
      assertThat(c.flush().errors()).isEmpty();
      List<Integer> secondSync = t.bodies.subList(firstSync, t.bodies.size());
      assertThat(secondSync).isNotEmpty().allSatisfy(n -> assertThat(n).isLessThanOrEqualTo((int) SERVER_MAX));
      int beforeThird = t.bodies.size();

      // Ten minutes after the last refusal: the configured budget is tried again (and refused again,
      // since the server has not changed), so a client is not held to a small batch for ever.
      more(db, 30, 20_000);
      now.addAndGet(java.time.Duration.ofMinutes(2).toMillis());
      assertThat(c.flush().errors()).isEmpty();
      assertThat(t.bodies.get(beforeThird)).as("the first batch of the third sync").isGreaterThan((int) SERVER_MAX);
      assertThat(c.status().pendingTotal()).isZero();
    }
    sameOnAnotherDevice(db, PHOTOS_AND_NOTES);
  }

  /** {@code n} more photos, with keys after those already there. */
  private static void more(Path db, int n, int bytes) throws Exception {
    long have = count(db, "SELECT count(*) FROM photos");
    try (Connection c = dev.tidesync.it.replica.Db.connect(db)) {
      c.setAutoCommit(false);
      insertPhotos(c, "q", have, n, bytes, new Random(n + bytes));
      c.commit();
    }
  }

  /** Photos {@code prefix + i} for i from {@code from}, {@code n} of them, of random bytes. */
  private static void insertPhotos(Connection c, String prefix, long from, int n, int bytes, Random r) throws java.sql.SQLException {
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO photos VALUES (?, ?, ?)")) {
      for (long i = from; i < from + n; i++) {
        byte[] data = new byte[bytes];
        r.nextBytes(data);
        ps.setString(1, prefix + i);
        ps.setLong(2, i);
        ps.setBytes(3, data);
        ps.executeUpdate();
      }
    }
  }

  @Test
  void noPushBodyIsLargerThanTheClientsByteBudget() throws Exception {
    Path db = dir.resolve("device.db");
    photos(db, 60, 20_000, 2);
    Sizes t = new Sizes(server.url());
    try (TidesyncClient c = client(db, t, "camera", b -> b.batchBytes(100 * 1024))) {
      SyncReport r = c.flush();
      assertThat(r.errors()).isEmpty();
      assertThat(c.status().pendingTotal()).isZero();
    }
    assertThat(t.bodies).isNotEmpty().allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(100 * 1024));
    // The budget cuts batches by bytes, not to one row each: about three photos fit in 100 KiB.
    assertThat(t.batches.stream().mapToInt(b -> Integer.parseInt(b.substring(b.indexOf(':') + 1))).max().orElse(0)).isGreaterThan(1);
    sameOnAnotherDevice(db, PHOTOS_AND_NOTES);
  }

  @Test
  void aPerTableBatchLimitAppliesToItsTableOnly() throws Exception {
    Path db = dir.resolve("device.db");
    photos(db, 12, 1_000, 3);
    Sizes t = new Sizes(server.url());
    try (TidesyncClient c = client(db, t, "camera", b -> b.batchLimit("photos", 5).batchLimit(40))) {
      assertThat(c.flush().errors()).isEmpty();
    }
    // photos: 12 rows in batches of at most 5; notes: 50 rows in batches of at most 40. In any
    // order: two batches of one table may be on the wire at once, and reach the server either way.
    assertThat(t.batches.stream().filter(b -> b.startsWith("photos:")).toList()).containsExactlyInAnyOrder("photos:5", "photos:5", "photos:2");
    assertThat(t.batches.stream().filter(b -> b.startsWith("notes:")).toList()).containsExactlyInAnyOrder("notes:40", "notes:10");
    sameOnAnotherDevice(db, PHOTOS_AND_NOTES);
  }

  @Test
  void aTableThatRefersToItselfIsCutByBytesWithoutSendingAChildBeforeItsParent() throws Exception {
    Path db = dir.resolve("device.db");
    // Chains whose children sort before their parents, so parents-first order is not key order,
    // and rows large enough that the byte budget cuts every batch short of its row limit.
    sql(db, "CREATE TABLE folders (id TEXT PRIMARY KEY, parent TEXT REFERENCES folders (id), blob BLOB)");
    Random r = new Random(6);
    try (Connection c = dev.tidesync.it.replica.Db.connect(db)) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO folders VALUES (?, ?, ?)")) {
        for (int chain = 0; chain < 6; chain++) {
          for (int depth = 0; depth < 8; depth++) {
            byte[] data = new byte[6_000];
            r.nextBytes(data);
            ps.setString(1, "f" + chain + "-" + (char) ('z' - depth));
            ps.setString(2, depth == 0 ? null : "f" + chain + "-" + (char) ('z' - depth + 1));
            ps.setBytes(3, data);
            ps.executeUpdate();
          }
        }
      }
      c.commit();
    }
    Sizes t = new Sizes(server.url());
    try (TidesyncClient c = client(db, t, "camera", b -> b.batchBytes(64 * 1024))) {
      SyncReport rep = c.flush();
      assertThat(rep.errors()).isEmpty();
      assertThat(rep.pushed()).isEqualTo(48); // each row sent once: no refusal for a missing parent
      assertThat(c.status().pendingTotal()).isZero();
    }
    assertThat(t.bodies).allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(64 * 1024));
    assertThat(t.batches.size()).isGreaterThan(4);
    assertThat(count(db, "SELECT count(*) FROM folders")).isEqualTo(48);
    sameOnAnotherDevice(db, "SELECT id, parent, hex(blob) FROM folders ORDER BY id");
  }

  @Test
  void aRowLargerThanTheServerTakesFailsAloneAndTheRestOfItsTableSyncs() throws Exception {
    Path db = dir.resolve("device.db");
    photos(db, 20, 2_000, 4);
    byte[] huge = new byte[(int) SERVER_MAX];
    new Random(5).nextBytes(huge);
    try (Connection c = dev.tidesync.it.replica.Db.connect(db); PreparedStatement ps = c.prepareStatement("UPDATE photos SET data = ? WHERE id = 'p7'")) {
      ps.setBytes(1, huge);
      ps.executeUpdate();
    }
    Sizes t = new Sizes(server.url());
    try (TidesyncClient c = client(db, t, "camera", b -> {})) {
      SyncReport r = c.flush();
      assertThat(r.errors()).singleElement().asString().contains("photos").contains("p7").contains("larger than");
      assertThat(c.status().failed()).containsEntry("photos", 1L);
      assertThat(c.status().pendingTotal()).isZero();
      // Failed, not pending: the next sync does not send it again (it goes again when the app edits it).
      int before = t.bodies.size();
      assertThat(c.flush().errors()).isEmpty();
      assertThat(t.bodies.size()).isEqualTo(before);
      // Made small enough by the app, it syncs.
      sql(db, "UPDATE photos SET data = x'00ff' WHERE id = 'p7'");
      assertThat(c.flush().errors()).isEmpty();
      assertThat(c.status().failed()).isEmpty();
    }
    assertThat(count(db, "SELECT count(*) FROM photos")).isEqualTo(20);
    sameOnAnotherDevice(db, PHOTOS_AND_NOTES);
  }
}
