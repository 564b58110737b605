package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.internal.Keys;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.TableSchema;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * New rows are absorbed by one statement ({@code DeviceReplica.ABSORB_NEW}) instead of entry by
 * entry. Seeded schedules of app writes (inserts, updates, deletes, re-inserts; keys that are
 * plain strings, strings JSON spells differently, integers, composite keys), absorbed and pushed
 * at random points, go to two replicas, one with the statement and one without: after every
 * absorb both hold the same metadata (version, state, pending columns, live or deleted), and they
 * push the same changes. Replay a failure with {@code -Dtidesync.seed=N}.
 */
class AbsorbNewRowsTest {
  @TempDir Path dir;

  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    DeviceReplica.absorbNewRowsInSql = true;
    for (AutoCloseable c : open) {
      c.close();
    }
  }

  private static final String[] DDL = {
      "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)",
      "CREATE TABLE nums (id INTEGER PRIMARY KEY, v TEXT)",
      "CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b))",
      "CREATE TABLE keys_only (k TEXT PRIMARY KEY)"};

  private static final String[] TEXT_KEYS = {"k1", "k2", "a-b_c.d:e", "with space", "ünï", "quote\"d", "slash/x", "k3", "K1", "9"};

  /** One replica's file, its replica and the store it pushes to. */
  private final class Side {
    final Path db;
    final DeviceReplica replica;
    final DatasetStore store;
    final boolean sql;

    Side(String name, boolean sql, List<String> setup) throws Exception {
      this.sql = sql;
      db = dir.resolve(name + ".db");
      List<String> all = new ArrayList<>(List.of(DDL));
      all.addAll(setup);
      TestDb.sql(db, all.toArray(String[]::new));
      SqliteStorage storage = SqliteStorage.open(dir.resolve(name + "-server"));
      open.add(storage);
      store = storage.openOrCreate("ds");
      replica = with(() -> DeviceReplica.open(db, DeviceReplica.Options.defaults().withDevice("dev-" + name)));
      open.add(0, replica);
    }

    <T> T with(java.util.function.Supplier<T> body) {
      DeviceReplica.absorbNewRowsInSql = sql;
      try {
        return body.get();
      } finally {
        DeviceReplica.absorbNewRowsInSql = true;
      }
    }

    void absorb() {
      with(replica::absorb);
    }

    /** Every change pushed, in order. */
    List<String> push() {
      return with(() -> {
        List<String> out = new ArrayList<>();
        replica.absorb();
        DeviceReplica.PushScan scan = new DeviceReplica.PushScan();
        do {
          PushRequest req;
          while ((req = replica.nextBatch("ds", scan, 7)) != null) {
            for (Change c : req.changes()) {
              out.add(c.table() + " " + c.pk() + (c.deleted() ? " deleted" : " " + new TreeMap<>(c.cols())) + " base " + c.base());
            }
            replica.recordPushResult(req, store.push(req));
          }
        } while (scan.resume());
        return out;
      });
    }

    /** The metadata of every row, clocks replaced by what they mean. */
    List<String> meta() throws Exception {
      List<String> out = new ArrayList<>();
      Map<String, TableSchema> tables = new TreeMap<>();
      replica.tables().forEach(t -> tables.put(t.name(), t));
      try (Connection c = TestDb.connect(db);
          PreparedStatement ps = c.prepareStatement("SELECT tbl, pk, ver, dirty, live, dead, pending, err FROM _tidesync_rows ORDER BY tbl, pk");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          TableSchema t = tables.get(rs.getString(1));
          String live = rs.getString(5);
          String dead = rs.getString(6);
          Map<String, String> pending = Keys.unpackClocks(rs.getString(7), t.nonKeyColumns(), live);
          boolean liveRow = live != null && (dead == null || live.compareTo(dead) > 0);
          out.add(rs.getString(1) + " " + rs.getString(2) + " ver " + rs.getLong(3) + " dirty " + rs.getInt(4) + (liveRow ? " live" : " deleted")
              + " pending " + new TreeMap<>(pending).keySet() + " err " + rs.getString(8)
              + (pending.values().stream().allMatch(clk -> clk.compareTo(live == null ? "" : live) <= 0) ? "" : " pending clock past live"));
        }
      }
      return out;
    }
  }

  @Test
  void newRowsAbsorbedByOneStatementGetTheMetadataThePerEntryPathGives() throws Exception {
    long seed = Long.getLong("tidesync.seed", System.nanoTime());
    int schedules = Integer.getInteger("tidesync.absorb.schedules", 12);
    for (int s = 0; s < schedules; s++) {
      long sub = seed + s;
      try {
        schedule(sub, s);
      } catch (AssertionError | Exception e) {
        throw new AssertionError("schedule with seed " + sub + " failed (replay: -Dtidesync.seed=" + sub
            + " -Dtidesync.absorb.schedules=1): " + e.getMessage(), e);
      }
    }
  }

  private void schedule(long seed, int n) throws Exception {
    SplittableRandom r = new SplittableRandom(seed);
    // Rows that exist before the replica first opens: the initial load.
    List<String> setup = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      setup.add(write(r));
    }
    Side fast = new Side("fast" + n, true, setup);
    Side slow = new Side("slow" + n, false, setup);
    try (Connection a = TestDb.connect(fast.db); Connection b = TestDb.connect(slow.db)) {
      for (int step = 0; step < 120; step++) {
        int what = r.nextInt(20);
        if (what == 0) {
          fast.absorb();
          slow.absorb();
          assertThat(fast.meta()).as("metadata after an absorb at step %d", step).isEqualTo(slow.meta());
        } else if (what == 1) {
          assertThat(fast.push()).as("changes pushed at step %d", step).isEqualTo(slow.push());
          assertThat(fast.meta()).as("metadata after a push at step %d", step).isEqualTo(slow.meta());
        } else {
          // A few writes in one transaction, as an app's batch.
          StringBuilder tx = new StringBuilder();
          int k = 1 + r.nextInt(4);
          for (int i = 0; i < k; i++) {
            tx.append(write(r)).append(";");
          }
          for (Connection c : List.of(a, b)) {
            c.setAutoCommit(false);
            for (String q : tx.toString().split(";")) {
              try (var st = c.createStatement()) {
                st.execute(q);
              }
            }
            c.commit();
            c.setAutoCommit(true);
          }
        }
      }
    }
    assertThat(fast.push()).isEqualTo(slow.push());
    assertThat(fast.meta()).isEqualTo(slow.meta());
    assertThat(fast.replica.pending().total()).isZero();
  }

  @Test
  void aNewRowsClockIsItsOwnWriteTimeInOrderWithTheWritesAroundIt() throws Exception {
    Side side = new Side("order", true, List.of("INSERT INTO items VALUES ('a', 'x', 1)", "INSERT INTO items VALUES ('b', 'y', 2)"));
    side.absorb();
    long[] at = new long[4];
    at[0] = System.currentTimeMillis();
    TestDb.sql(side.db, "UPDATE items SET qty = 10 WHERE id = 'a'");
    Thread.sleep(20);
    at[1] = System.currentTimeMillis();
    TestDb.sql(side.db, "INSERT INTO items VALUES ('c', 'new', 3)");
    Thread.sleep(20);
    at[2] = System.currentTimeMillis();
    TestDb.sql(side.db, "UPDATE items SET qty = 20 WHERE id = 'b'");
    at[3] = System.currentTimeMillis();
    side.absorb();
    Map<String, String> live = new TreeMap<>();
    TestDb.rows(side.db, "SELECT pk, live FROM _tidesync_rows WHERE tbl = 'items'").forEach(r -> live.put(r.split("\\|")[0], r.split("\\|")[1]));
    // Written a, then c (new), then b: their clocks are in that order, each within its write's time.
    assertThat(live.get("[\"a\"]")).isLessThan(live.get("[\"c\"]"));
    assertThat(live.get("[\"c\"]")).isLessThan(live.get("[\"b\"]"));
    long c = dev.tidesync.protocol.Hlc.parse(live.get("[\"c\"]")).millis();
    assertThat(c).isBetween(at[1] - 2, at[2] + 2);
    // The clock moved past every clock it gave: the next write's clock is newer still.
    TestDb.sql(side.db, "INSERT INTO items VALUES ('d', 'later', 4)");
    side.absorb();
    assertThat(TestDb.rows(side.db, "SELECT live FROM _tidesync_rows WHERE pk = '[\"d\"]'").get(0)).isGreaterThan(live.get("[\"b\"]"));
  }

  /** One app write: inserts that may find their row there (OR IGNORE), updates, deletes. */
  private static String write(SplittableRandom r) {
    String text = TEXT_KEYS[r.nextInt(TEXT_KEYS.length)].replace("'", "''");
    long num = r.nextInt(12);
    String v = "'v" + r.nextInt(1000) + "'";
    return switch (r.nextInt(10)) {
      case 0, 1, 2 -> "INSERT OR IGNORE INTO items (id, name, qty) VALUES ('" + text + "', " + v + ", " + r.nextInt(9) + ")";
      case 3 -> "UPDATE items SET qty = " + r.nextInt(9) + " WHERE id = '" + text + "'";
      case 4 -> "DELETE FROM items WHERE id = '" + text + "'";
      case 5 -> "INSERT OR IGNORE INTO nums (id, v) VALUES (" + num + ", " + v + ")";
      case 6 -> r.nextBoolean() ? "DELETE FROM nums WHERE id = " + num : "UPDATE nums SET v = " + v + " WHERE id = " + num;
      case 7 -> "INSERT OR IGNORE INTO pairs (a, b, v) VALUES ('" + text + "', " + num % 3 + ", " + v + ")";
      case 8 -> "DELETE FROM pairs WHERE a = '" + text + "'";
      default -> r.nextBoolean() ? "INSERT OR IGNORE INTO keys_only (k) VALUES ('" + text + "')" : "DELETE FROM keys_only WHERE k = '" + text + "'";
    };
  }
}
