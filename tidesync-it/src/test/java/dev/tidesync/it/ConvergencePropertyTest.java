package dev.tidesync.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.client.Transport;
import dev.tidesync.core.Clocks;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.Values;
import dev.tidesync.core.internal.Keys;
import dev.tidesync.tck.StorageFactory;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Convergence under generated schedules: 3–4 devices write offline to three tables linked by
 * foreign keys (a composite key, a last-write-wins table), sync in random order through a
 * transport that drops and duplicates requests, then sync once more without faults. Every
 * replica and the server must then hold exactly the rows a model computes from the set of
 * writes and their clocks: per column the newest value (field-merge) or the newest whole-row
 * image (last-write-wins), and a row exists when its newest upsert is newer than its newest
 * delete.
 *
 * <p>{@code -Dtidesync.schedules=N} sets how many schedules run (200 by default, more with
 * {@code -Psoak}); {@code -Dtidesync.seed=S} replays from seed S. A failure names its seed.
 * It runs once per server store of {@link ServerStores#all()}.
 */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class ConvergencePropertyTest {
  static final String[] TABLES = {"sessions", "events", "tags"};
  static final Map<String, List<String>> KEYS = Map.of(
      "sessions", List.of("id"), "events", List.of("id"), "tags", List.of("session_id", "label"));
  static final Map<String, List<String>> COLUMNS = Map.of(
      "sessions", List.of("name", "score", "note"), "events", List.of("session_id", "kind", "value"), "tags", List.of("weight"));

  @Parameter StorageFactory store;
  @TempDir Path dir;
  Storage storage;
  Transport server;

  @BeforeEach
  void startServer() {
    storage = store.open(dir.resolve("server"));
    server = Servers.transport(storage);
  }

  @AfterEach
  void stopServer() {
    Servers.stop();
    storage.close();
  }

  record Write(String table, String key, String hlc, boolean delete, Map<String, Object> cols, Map<String, Object> image) {}

  @Test
  void replicasConvergeToTheModel() throws Exception {
    String seedProp = System.getProperty("tidesync.seed", "");
    String countProp = System.getProperty("tidesync.schedules", "");
    long base = seedProp.isBlank() ? new Random().nextLong() : Long.parseLong(seedProp.trim());
    int count = countProp.isBlank() ? 200 : Integer.parseInt(countProp.trim());
    System.out.println("convergence: " + count + " schedules from seed " + base);
    for (int i = 0; i < count; i++) {
      long seed = base + i;
      try {
        runSchedule(seed, "p" + Long.toHexString(seed).replace('-', 'm'));
      } catch (Throwable t) {
        throw new AssertionError("schedule with seed " + seed + " failed; replay with -Dtidesync.seed=" + seed
            + " -Dtidesync.schedules=1: " + t.getMessage(), t);
      }
    }
  }

  static final class Device {
    final String id;
    final Path db;
    final Connection app;
    final TidesyncClient client;
    final FaultyTransport transport;

    Device(String id, Path db, Connection app, TidesyncClient client, FaultyTransport transport) {
      this.id = id;
      this.db = db;
      this.app = app;
      this.client = client;
      this.transport = transport;
    }
  }

  static void createSchema(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, name TEXT, score INTEGER, note TEXT)");
      s.execute("CREATE TABLE events (id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions (id), kind TEXT, value REAL)");
      s.execute("CREATE TABLE tags (session_id TEXT NOT NULL REFERENCES sessions (id), label TEXT NOT NULL, weight INTEGER, "
          + "PRIMARY KEY (session_id, label))");
    }
  }

  void runSchedule(long seed, String dataset) throws Exception {
    Random r = new Random(seed);
    int n = 3 + r.nextInt(2);
    List<Device> devices = new ArrayList<>();
    List<Write> writes = new ArrayList<>();
    Path home = dir.resolve(dataset);
    java.nio.file.Files.createDirectories(home);
    try {
      for (int k = 0; k < n; k++) {
        Path db = home.resolve("d" + k + ".db");
        Connection app = DriverManager.getConnection("jdbc:sqlite:" + db);
        try (Statement s = app.createStatement()) {
          s.execute("PRAGMA busy_timeout = 10000");
        }
        createSchema(app);
        FaultyTransport ft = new FaultyTransport(server, seed * 31 + k, 0.15);
        int batch = 1 + r.nextInt(12);
        int page = 1 + r.nextInt(20);
        String id = "d" + k;
        TidesyncClient client = TidesyncClient.create(c -> c.database(db).transport(ft).dataset(dataset).deviceId(id)
            .batchLimit(batch).pullLimit(page).policy("events", ConflictPolicy.LAST_WRITE_WINS));
        devices.add(new Device(id, db, app, client, ft));
      }
      int steps = 20 + r.nextInt(40);
      for (int step = 0; step < steps; step++) {
        Device d = devices.get(r.nextInt(n));
        if (r.nextDouble() < 0.3) {
          try {
            d.client.flush();
          } catch (TidesyncException e) {
            assertThat(e.retriable()).as("only injected (retriable) faults may fail a sync: %s", e.getMessage()).isTrue();
          }
        } else {
          Write w = write(r, d);
          if (w != null) {
            writes.add(w);
          }
        }
      }
      for (Device d : devices) {
        d.transport.enabled(false);
      }
      boolean quiet = false;
      for (int round = 0; round < 6 && !quiet; round++) {
        quiet = round > 0;
        for (Device d : devices) {
          SyncReport rep = d.client.flush();
          assertThat(rep.errors()).as("sync errors of %s", d.id).isEmpty();
          assertThat(rep.rejected()).isZero();
          if (rep.pushed() > 0 || rep.pulled() > 0) {
            quiet = false;
          }
        }
      }
      assertThat(quiet).as("replicas went quiet after the final syncs").isTrue();
      Map<String, Map<String, Map<String, Object>>> expected = model(writes);
      DatasetId serverId = DatasetId.of(dataset);
      if (storage.find(serverId).isPresent()) {
        try (Connection sc = store.backend(storage, serverId)) {
          assertSame("server", expected, snapshot(sc), sc, writes);
        }
      } else {
        // Nothing was ever pushed, so the dataset was never created.
        assertThat(expected.values()).allMatch(Map::isEmpty);
      }
      for (Device d : devices) {
        if (!render(expected).equals(render(snapshot(d.app))) && storage.find(serverId).isPresent()) {
          try (Connection sc = store.backend(storage, serverId)) {
            dump("server", sc);
          }
        }
        assertSame(d.id, expected, snapshot(d.app), d.app, writes);
        assertThat(d.client.status().pendingTotal()).as("pending on %s", d.id).isZero();
      }
    } finally {
      for (Device d : devices) {
        d.client.close();
        d.app.close();
      }
    }
  }

  // ------------------------------------------------------------------ writes

  private static final String[] NAMES = {"alpha", "beta", "gamma", "δέλτα", "🌊 tide", "مرحبا"};

  Write write(Random r, Device d) throws Exception {
    Connection c = d.app;
    int op = r.nextInt(10);
    String table;
    List<Object> pk;
    boolean delete = false;
    if (op < 3) {
      table = "sessions";
      String id = "s" + r.nextInt(4);
      pk = List.of(id);
      if (exists(c, table, pk)) {
        List<String> cols = subset(r, COLUMNS.get(table));
        update(c, table, pk, cols, cols.stream().map(col -> value(r, table, col, c)).toList());
      } else {
        exec(c, "INSERT INTO sessions (id, name, score, note) VALUES (?, ?, ?, ?)", id, value(r, table, "name", c),
            value(r, table, "score", c), r.nextBoolean() ? null : value(r, table, "note", c));
      }
    } else if (op < 7) {
      table = "events";
      String id = "e" + r.nextInt(8);
      pk = List.of(id);
      if (exists(c, table, pk)) {
        if (r.nextInt(3) == 0) {
          exec(c, "DELETE FROM events WHERE id = ?", id);
          delete = true;
        } else {
          List<String> cols = subset(r, List.of("kind", "value"));
          update(c, table, pk, cols, cols.stream().map(col -> value(r, table, col, c)).toList());
        }
      } else {
        Object session = anySession(r, c);
        if (session == null) {
          return null;
        }
        exec(c, "INSERT INTO events (id, session_id, kind, value) VALUES (?, ?, ?, ?)", id, session, value(r, table, "kind", c),
            value(r, table, "value", c));
      }
    } else {
      table = "tags";
      Object session = anySession(r, c);
      if (session == null) {
        return null;
      }
      String label = "l" + r.nextInt(3);
      pk = List.of(session, label);
      if (exists(c, table, pk)) {
        if (r.nextBoolean()) {
          exec(c, "DELETE FROM tags WHERE session_id = ? AND label = ?", session, label);
          delete = true;
        } else {
          exec(c, "UPDATE tags SET weight = ? WHERE session_id = ? AND label = ?", (long) r.nextInt(100), session, label);
        }
      } else {
        exec(c, "INSERT INTO tags (session_id, label, weight) VALUES (?, ?, ?)", session, label, (long) r.nextInt(100));
      }
    }
    d.client.replica().absorb();
    return recordWrite(d, table, pk, delete);
  }

  /** Reads back the clock the engine gave the write and which columns it counts as written. */
  Write recordWrite(Device d, String table, List<Object> pk, boolean delete) throws Exception {
    String key = Keys.canonical(pk);
    String live;
    String dead;
    Map<String, String> pending;
    try (PreparedStatement ps = d.app.prepareStatement("SELECT live, dead, pending FROM _tidesync_rows WHERE tbl = ? AND pk = ?")) {
      ps.setString(1, table);
      ps.setString(2, key);
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).as("row metadata after a write").isTrue();
        live = rs.getString(1);
        dead = rs.getString(2);
        pending = Keys.unpackClocks(rs.getString(3), COLUMNS.get(table), live);
      }
    }
    if (delete) {
      return new Write(table, key, dead, true, Map.of(), Map.of());
    }
    Map<String, Object> image = readRow(d.app, table, pk);
    Map<String, Object> cols = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : pending.entrySet()) {
      if (e.getValue().equals(live)) {
        cols.put(e.getKey(), image.get(e.getKey()));
      }
    }
    return new Write(table, key, live, false, cols, image);
  }

  static List<String> subset(Random r, List<String> cols) {
    List<String> out = new ArrayList<>();
    for (String c : cols) {
      if (r.nextBoolean()) {
        out.add(c);
      }
    }
    if (out.isEmpty()) {
      out.add(cols.get(r.nextInt(cols.size())));
    }
    return out;
  }

  static Object value(Random r, String table, String col, Connection c) {
    return switch (col) {
      case "name", "kind" -> NAMES[r.nextInt(NAMES.length)];
      case "score" -> r.nextInt(5) == 0 ? Long.MIN_VALUE + r.nextInt(3) : (long) r.nextInt(1000);
      case "note" -> r.nextInt(4) == 0 ? null : "note " + r.nextInt(100) + " \u05e9\u05dc\u05d5\u05dd";
      case "value" -> r.nextInt(6) == 0 ? -0.0 : Double.longBitsToDouble(r.nextLong() & 0x7fefffffffffffffL | (r.nextBoolean() ? 0x8000000000000000L : 0));
      default -> throw new IllegalArgumentException(col);
    };
  }

  static Object anySession(Random r, Connection c) throws SQLException {
    List<Object> ids = new ArrayList<>();
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT id FROM sessions ORDER BY id")) {
      while (rs.next()) {
        ids.add(rs.getString(1));
      }
    }
    return ids.isEmpty() ? null : ids.get(r.nextInt(ids.size()));
  }

  static boolean exists(Connection c, String table, List<Object> pk) throws SQLException {
    return readRow(c, table, pk) != null;
  }

  static void update(Connection c, String table, List<Object> pk, List<String> cols, List<Object> values) throws SQLException {
    StringBuilder sql = new StringBuilder("UPDATE " + table + " SET ");
    for (int i = 0; i < cols.size(); i++) {
      sql.append(i > 0 ? ", " : "").append(cols.get(i)).append(" = ?");
    }
    sql.append(" WHERE ").append(String.join(" AND ", KEYS.get(table).stream().map(k -> k + " = ?").toList()));
    List<Object> args = new ArrayList<>(values);
    args.addAll(pk);
    exec(c, sql.toString(), args.toArray());
  }

  static void exec(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        Object v = args[i];
        if (v instanceof Bytes b) {
          ps.setBytes(i + 1, b.toArray());
        } else {
          ps.setObject(i + 1, v);
        }
      }
      ps.executeUpdate();
    }
  }

  static Map<String, Object> readRow(Connection c, String table, List<Object> pk) throws SQLException {
    List<String> keys = KEYS.get(table);
    try (PreparedStatement ps = c.prepareStatement("SELECT * FROM " + table + " WHERE "
        + String.join(" AND ", keys.stream().map(k -> k + " = ?").toList()))) {
      for (int i = 0; i < pk.size(); i++) {
        ps.setObject(i + 1, pk.get(i));
      }
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        Map<String, Object> out = new TreeMap<>();
        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
          String col = rs.getMetaData().getColumnName(i);
          if (!keys.contains(col)) {
            out.put(col, Values.normalize(rs.getObject(i)));
          }
        }
        return out;
      }
    }
  }

  // ------------------------------------------------------------------ model and comparison

  /** Expected rows: table → key → column values, computed only from the writes and their clocks. */
  static Map<String, Map<String, Map<String, Object>>> model(List<Write> writes) {
    Map<String, Map<String, List<Write>>> byRow = new TreeMap<>();
    for (Write w : writes) {
      byRow.computeIfAbsent(w.table(), t -> new TreeMap<>()).computeIfAbsent(w.key(), k -> new ArrayList<>()).add(w);
    }
    Map<String, Map<String, Map<String, Object>>> out = new TreeMap<>();
    for (String t : TABLES) {
      out.put(t, new TreeMap<>());
    }
    for (var te : byRow.entrySet()) {
      boolean lww = te.getKey().equals("events");
      for (var re : te.getValue().entrySet()) {
        String live = null;
        String dead = null;
        Write newestImage = null;
        Map<String, Object> values = new TreeMap<>();
        Map<String, String> clocks = new HashMap<>();
        for (Write w : re.getValue()) {
          if (w.delete()) {
            dead = Clocks.max(dead, w.hlc());
            continue;
          }
          live = Clocks.max(live, w.hlc());
          if (newestImage == null || Clocks.newer(w.hlc(), newestImage.hlc())) {
            newestImage = w;
          }
          for (var c : w.cols().entrySet()) {
            if (Clocks.newer(w.hlc(), clocks.get(c.getKey()))) {
              clocks.put(c.getKey(), w.hlc());
              values.put(c.getKey(), c.getValue());
            }
          }
        }
        if (Clocks.newer(live, dead)) {
          out.get(te.getKey()).put(re.getKey(), lww ? new TreeMap<>(newestImage.image()) : values);
        }
      }
    }
    return out;
  }

  static Map<String, Map<String, Map<String, Object>>> snapshot(Connection c) throws SQLException {
    Map<String, Map<String, Map<String, Object>>> out = new TreeMap<>();
    for (String t : TABLES) {
      Map<String, Map<String, Object>> rows = new TreeMap<>();
      List<String> keys = KEYS.get(t);
      try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT * FROM " + t)) {
        while (rs.next()) {
          List<Object> pk = new ArrayList<>();
          for (String k : keys) {
            pk.add(Values.normalize(rs.getObject(k)));
          }
          Map<String, Object> vals = new TreeMap<>();
          for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
            String col = rs.getMetaData().getColumnName(i);
            if (!keys.contains(col)) {
              vals.put(col, Values.normalize(rs.getObject(i)));
            }
          }
          rows.put(Keys.canonical(pk), vals);
        }
      }
      out.put(t, rows);
    }
    return out;
  }

  static void assertSame(String who, Map<String, Map<String, Map<String, Object>>> expected,
      Map<String, Map<String, Map<String, Object>>> actual, Connection c, List<Write> writes) throws SQLException {
    String want = render(expected);
    String got = render(actual);
    if (!want.equals(got)) {
      dump(who, c);
      StringBuilder why = new StringBuilder();
      why.append("writes:\n");
      for (Write w : writes) {
        why.append("  ").append(w).append('\n');
      }
      System.out.println(why);
    }
    assertThat(got).as("rows of %s", who).isEqualTo(want);
  }

  static void dump(String who, Connection c) {
    StringBuilder why = new StringBuilder("metadata of " + who + ":\n");
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT tbl, pk, ver, live, dead, dirty, pending, origin, err FROM _tidesync_rows ORDER BY tbl, pk")) {
      while (rs.next()) {
        why.append("  ");
        for (int i = 1; i <= 9; i++) {
          why.append(rs.getString(i)).append(i < 9 ? " | " : "\n");
        }
      }
    } catch (SQLException e) {
      why.append("  (not readable: ").append(e.getMessage()).append(")\n"); // another store's metadata
    }
    System.out.println(why);
  }

  static String render(Map<String, Map<String, Map<String, Object>>> db) {
    StringBuilder sb = new StringBuilder();
    for (var t : db.entrySet()) {
      for (var row : t.getValue().entrySet()) {
        sb.append(t.getKey()).append(' ').append(row.getKey());
        for (var c : row.getValue().entrySet()) {
          Object v = c.getValue();
          String s = v == null ? "NULL" : v instanceof Double dd ? "R" + Long.toHexString(Double.doubleToRawLongBits(dd))
              : v instanceof Long l ? "I" + l : v instanceof Bytes b ? "B" + b : "T" + v;
          sb.append(' ').append(c.getKey()).append('=').append(s);
        }
        sb.append('\n');
      }
    }
    return sb.toString();
  }
}
