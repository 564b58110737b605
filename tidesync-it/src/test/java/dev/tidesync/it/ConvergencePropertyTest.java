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
import dev.tidesync.protocol.PushRequest;
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
 * foreign keys (a composite key, a last-write-wins table) and to a tree (a table that refers to
 * itself: inserts whose keys mostly sort before their parents', re-parents, deletes; see
 * {@link #nodeWrites}), most of them starting from rows that were in their files before Tidesync
 * first opened them (an initial load, see {@link #preexisting}), sync in random order through a
 * transport that drops and duplicates
 * requests, then sync once more without faults. Every replica and the server must then hold
 * exactly the rows a model computes from the set of writes and their clocks: per column the
 * newest value (field-merge) or the newest whole-row image (last-write-wins), and a row exists
 * when its newest upsert is newer than its newest delete. Every push must send a tree's pending
 * rows parents first across its batches, and the only refusals a sync may report are the
 * tree's retriable foreign-key refusals ({@link #flush}).
 *
 * <p>{@code -Dtidesync.schedules=N} sets how many schedules run (200 by default, more with
 * {@code -Psoak}); {@code -Dtidesync.seed=S} replays from seed S. A failure names its seed.
 * It runs once per server store of {@link ServerStores#all()}.
 */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class ConvergencePropertyTest {
  static final String[] TABLES = {"sessions", "events", "tags", "nodes"};
  static final Map<String, List<String>> KEYS = Map.of(
      "sessions", List.of("id"), "events", List.of("id"), "tags", List.of("session_id", "label"), "nodes", List.of("id"));
  static final Map<String, List<String>> COLUMNS = Map.of(
      "sessions", List.of("name", "score", "note"), "events", List.of("session_id", "kind", "value"), "tags", List.of("weight"),
      "nodes", List.of("parent_id", "label"));

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
      // A tree (ON DELETE NO ACTION): see nodeWrites for what the generator may do to it.
      s.execute("CREATE TABLE nodes (id TEXT PRIMARY KEY, parent_id TEXT REFERENCES nodes (id), label TEXT)");
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
        // Rows in the file before Tidesync first opens it (an initial load, see recordWrite), on some devices:
        // the same keys on several devices are concurrent inserts, at each one's first open.
        List<List<Object>> before = r.nextInt(3) == 0 ? preexisting(r, app) : List.of();
        FaultyTransport ft = new FaultyTransport(server, seed * 31 + k, 0.15);
        int batch = k == 0 ? 1 + r.nextInt(3) : 1 + r.nextInt(12); // one device with small batches: its trees span several
        int page = 1 + r.nextInt(20);
        String id = "d" + k;
        TidesyncClient client = TidesyncClient.create(c -> c.database(db).transport(ft).dataset(dataset).deviceId(id)
            .batchLimit(batch).pullLimit(page).policy("events", ConflictPolicy.LAST_WRITE_WINS));
        Device device = new Device(id, db, app, client, ft);
        devices.add(device);
        for (List<Object> row : before) {
          writes.add(recordWrite(device, (String) row.get(0), row.subList(1, row.size()), false));
        }
      }
      int steps = 20 + r.nextInt(40);
      for (int step = 0; step < steps; step++) {
        Device d = devices.get(r.nextInt(n));
        if (r.nextDouble() < 0.3) {
          try {
            flush(d);
          } catch (TidesyncException e) {
            assertThat(e.retriable()).as("only injected (retriable) faults may fail a sync: %s", e.getMessage()).isTrue();
          }
        } else {
          writes.addAll(write(r, d, writes));
        }
      }
      for (Device d : devices) {
        d.transport.enabled(false);
      }
      boolean quiet = false;
      for (int round = 0; round < 6 && !quiet; round++) {
        quiet = round > 0;
        for (Device d : devices) {
          SyncReport rep = flush(d);
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

  List<Write> write(Random r, Device d, List<Write> writes) throws Exception {
    Connection c = d.app;
    int op = r.nextInt(13);
    if (op >= 10) {
      return nodeWrites(r, d, writes);
    }
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
          return List.of();
        }
        exec(c, "INSERT INTO events (id, session_id, kind, value) VALUES (?, ?, ?, ?)", id, session, value(r, table, "kind", c),
            value(r, table, "value", c));
      }
    } else {
      table = "tags";
      Object session = anySession(r, c);
      if (session == null) {
        return List.of();
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
    return List.of(recordWrite(d, table, pk, delete));
  }

  /**
   * Inserts a few sessions, events and tags straight into a device's file before Tidesync opens
   * it; returns them as (table, key...). Sessions and events wait in their tables until pushed
   * (DeviceReplica.loadExisting), tags (a composite key) are loaded at the first open.
   */
  static List<List<Object>> preexisting(Random r, Connection c) throws SQLException {
    List<List<Object>> out = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      if (r.nextBoolean()) {
        String id = "s" + i;
        exec(c, "INSERT INTO sessions (id, name, score, note) VALUES (?, ?, ?, ?)", id, value(r, "sessions", "name", c),
            value(r, "sessions", "score", c), value(r, "sessions", "note", c));
        out.add(List.of("sessions", id));
        if (r.nextBoolean()) {
          String label = "l" + r.nextInt(3);
          exec(c, "INSERT INTO tags (session_id, label, weight) VALUES (?, ?, ?)", id, label, (long) r.nextInt(100));
          out.add(List.of("tags", id, label));
        }
      }
    }
    for (int i = 0; i < 8; i++) {
      Object session = anySession(r, c);
      if (session != null && r.nextInt(3) == 0) {
        String id = "e" + i;
        exec(c, "INSERT INTO events (id, session_id, kind, value) VALUES (?, ?, ?, ?)", id, session, value(r, "events", "kind", c),
            value(r, "events", "value", c));
        out.add(List.of("events", id));
      }
    }
    return out;
  }

  static String one(Connection c, String query) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(query)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }

  // ------------------------------------------------------------------ the tree (nodes)

  /** Node keys: few, so that devices write the same nodes; "n0" < "n1" < ... as text. */
  private static final int NODE_KEYS = 10;

  /**
   * One step's writes to the self-referencing table {@code nodes}: a chain of one to three new
   * nodes (each the child of the one before, its key mostly sorting before its parent's, so that
   * key order would push children first), a re-parent (never under the node itself or one of its
   * descendants as this device sees them), a relabel, or the delete of a leaf that has no
   * unpushed change here.
   *
   * <p>Other devices' concurrent writes can still leave the writes with no right answer: a leaf
   * deleted here while another device adds a child to it, or an update that brings back a deleted
   * node whose parent was deleted after it. Per-row merging then keeps a node under a parent that
   * is gone, which no store with the foreign key can hold. So a write is made only when the model
   * of all writes so far stays whole (every node's parent a node) wherever its clock falls among
   * the writes to that row this device has not seen ({@link #treeStaysWhole}). Concurrent
   * re-parents may still make a cycle: that is whole, and allowed.
   *
   * <p>Why only a clean leaf is deleted: a device pushes a deleted row as a bare delete, so its
   * column writes to the row that were not pushed before the delete never reach the server. If a
   * newer update from another device that does not write those columns brings the row back, it
   * comes back with the server's older values, where the model (per column the newest write)
   * has the lost ones; what the row holds then depends on when the device synced, which no model
   * of writes and clocks can tell. Events and tags cannot show it: a last-write-wins update
   * carries the whole row, and a tag has one column.
   */
  List<Write> nodeWrites(Random r, Device d, List<Write> writes) throws Exception {
    Connection c = d.app;
    Map<String, String> tree = localTree(c);
    List<Write> done = new ArrayList<>();
    int kind = tree.isEmpty() ? 0 : r.nextInt(10);
    if (kind < 4) {
      String parent = null;
      String below = null; // the chain's last key: the next one mostly sorts before it
      for (int i = 1 + r.nextInt(3); i > 0; i--) {
        List<String> free = new ArrayList<>();
        for (int k = 0; k < NODE_KEYS; k++) {
          if (!tree.containsKey("n" + k)) {
            free.add("n" + k);
          }
        }
        if (free.isEmpty()) {
          break;
        }
        String id = prefer(r, free, below, false);
        if (below == null) {
          parent = tree.isEmpty() || r.nextInt(5) == 0 ? null : prefer(r, new ArrayList<>(tree.keySet()), id, true);
        }
        Map<String, Object> cols = new TreeMap<>();
        cols.put("parent_id", parent);
        cols.put("label", NAMES[r.nextInt(NAMES.length)]);
        if (!treeStaysWhole(d, concat(writes, done), id, false, cols)) {
          break;
        }
        exec(c, "INSERT INTO nodes (id, parent_id, label) VALUES (?, ?, ?)", id, parent, cols.get("label"));
        done.add(recordNode(d, writes, done, id, false));
        tree.put(id, parent);
        parent = id;
        below = id;
      }
    } else if (kind < 6) {
      String id = any(r, tree.keySet());
      List<String> allowed = new ArrayList<>(tree.keySet());
      allowed.removeAll(subtree(tree, id));
      String parent = allowed.isEmpty() || r.nextInt(6) == 0 ? null : prefer(r, allowed, id, true);
      if (java.util.Objects.equals(parent, tree.get(id))) {
        return done;
      }
      Map<String, Object> cols = new TreeMap<>();
      cols.put("parent_id", parent);
      if (r.nextInt(4) == 0) {
        cols.put("label", otherLabel(r, c, id));
      }
      if (treeStaysWhole(d, writes, id, false, cols)) {
        update(c, "nodes", List.of(id), List.copyOf(cols.keySet()), new ArrayList<>(cols.values()));
        done.add(recordNode(d, writes, done, id, false));
      }
    } else if (kind < 8) {
      String id = any(r, tree.keySet());
      Map<String, Object> cols = Map.of("label", otherLabel(r, c, id));
      if (treeStaysWhole(d, writes, id, false, cols)) {
        update(c, "nodes", List.of(id), List.of("label"), List.of(cols.get("label")));
        done.add(recordNode(d, writes, done, id, false));
      }
    } else {
      List<String> leaves = new ArrayList<>(tree.keySet());
      leaves.removeAll(tree.values());
      leaves.removeIf(id -> !clean(c, id));
      if (!leaves.isEmpty()) {
        String id = any(r, leaves);
        if (treeStaysWhole(d, writes, id, true, Map.of())) {
          exec(c, "DELETE FROM nodes WHERE id = ?", id);
          done.add(recordNode(d, writes, done, id, true));
        }
      }
    }
    return done;
  }

  /** Records a node write (absorbed first) and checks that the model's tree is whole with it, as {@link #treeStaysWhole} promised. */
  Write recordNode(Device d, List<Write> writes, List<Write> done, String id, boolean delete) throws Exception {
    String floor = clockOf(d);
    d.client.replica().absorb();
    Write w = recordWrite(d, "nodes", List.of(id), delete);
    assertThat(Clocks.newer(w.hlc(), floor)).as("a write's clock %s is newer than the device's clock before it, %s", w.hlc(), floor).isTrue();
    List<Write> all = concat(concat(writes, done), List.of(w));
    assertThat(whole(model(all).get("nodes"))).as("the model's tree stays whole after %s", w).isTrue();
    return w;
  }

  /**
   * Whether a write of {@code cols} to node {@code id} (or its delete) on {@code d} keeps the
   * model's tree whole. Its clock is not known before it is made: it will be newer than the
   * device's clock now (so newer than every write the device has seen), but may fall anywhere
   * among the row's writes that are newer than that (other devices' writes not pulled here yet),
   * so every such place is tried, with a clock just above each.
   */
  static boolean treeStaysWhole(Device d, List<Write> writes, String id, boolean delete, Map<String, Object> cols) throws SQLException {
    String key = Keys.canonical(List.of(id));
    String floor = clockOf(d);
    List<Write> row = new ArrayList<>();
    List<Write> rest = new ArrayList<>();
    for (Write w : writes) {
      if (w.table().equals("nodes")) {
        (w.key().equals(key) ? row : rest).add(w);
      }
    }
    Map<String, Map<String, Object>> others = model(rest).get("nodes");
    List<String> places = new ArrayList<>();
    places.add(floor == null ? "" : floor + '\u0000'); // "\0" sorts right after the clock, before any newer one
    for (Write w : row) {
      if (Clocks.newer(w.hlc(), floor)) {
        places.add(w.hlc() + '\u0000');
      }
    }
    for (String at : places) {
      List<Write> ws = new ArrayList<>(row);
      ws.add(new Write("nodes", key, at, delete, cols, Map.of()));
      Map<String, Map<String, Object>> nodes = new HashMap<>(others);
      Map<String, Object> after = expectedRow(ws, false);
      if (after != null) {
        nodes.put(key, after);
      }
      if (!whole(nodes)) {
        return false;
      }
    }
    return true;
  }

  /** Whether the device's node {@code id} has no unpushed change (the server holds all of this device's writes to it). */
  static boolean clean(Connection c, String id) {
    try (PreparedStatement ps = c.prepareStatement("SELECT dirty FROM _tidesync_rows WHERE tbl = 'nodes' AND pk = ?")) {
      ps.setString(1, Keys.canonical(List.of(id)));
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() && rs.getInt(1) == 0;
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The device's clock as last saved (a lower bound of its next write's clock); null before its first. */
  static String clockOf(Device d) throws SQLException {
    try (Statement s = d.app.createStatement(); ResultSet rs = s.executeQuery("SELECT v FROM _tidesync_meta WHERE k = 'hlc'")) {
      return rs.next() ? rs.getString(1) : null;
    }
  }

  /** The device's nodes: id → parent id (null for a root). */
  static Map<String, String> localTree(Connection c) throws SQLException {
    Map<String, String> out = new TreeMap<>();
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT id, parent_id FROM nodes")) {
      while (rs.next()) {
        out.put(rs.getString(1), rs.getString(2));
      }
    }
    return out;
  }

  /** {@code id} and every node under it (a cycle pulled from other devices' re-parents ends the walk). */
  static java.util.Set<String> subtree(Map<String, String> tree, String id) {
    java.util.Set<String> out = new java.util.HashSet<>(List.of(id));
    for (boolean grew = true; grew; ) {
      grew = false;
      for (var e : tree.entrySet()) {
        if (e.getValue() != null && out.contains(e.getValue()) && out.add(e.getKey())) {
          grew = true;
        }
      }
    }
    return out;
  }

  /** One of {@code keys}, mostly one sorting after {@code than} ({@code after}) or before it (not), when there is one. */
  static String prefer(Random r, List<String> keys, String than, boolean after) {
    if (than != null && r.nextInt(5) != 0) {
      List<String> side = keys.stream().filter(k -> after ? k.compareTo(than) > 0 : k.compareTo(than) < 0).toList();
      if (!side.isEmpty()) {
        return any(r, side);
      }
    }
    return any(r, keys);
  }

  static String any(Random r, java.util.Collection<String> keys) {
    List<String> sorted = new ArrayList<>(new java.util.TreeSet<>(keys));
    return sorted.get(r.nextInt(sorted.size()));
  }

  static String otherLabel(Random r, Connection c, String id) throws SQLException {
    Object now = readRow(c, "nodes", List.of(id)).get("label");
    String label;
    do {
      label = NAMES[r.nextInt(NAMES.length)];
    } while (label.equals(now));
    return label;
  }

  static <T> List<T> concat(List<T> a, List<T> b) {
    List<T> out = new ArrayList<>(a);
    out.addAll(b);
    return out;
  }

  /**
   * Syncs {@code d} and checks the push's order and refusals. Every pending node goes after its
   * pending parent, across batches (parents first, whatever the key order); this is read from
   * the batches the device sent, when its outbox was empty (else earlier batches, built from
   * other values, go first). The only refusals a sync may report are foreign-key refusals in the
   * tree, which are retriable: a delete pushed (in key order) in a batch before its children's,
   * or a node whose parent's newest write is still on another device.
   */
  SyncReport flush(Device d) throws Exception {
    Map<String, String> tree = localTree(d.app);
    boolean outbox;
    try (Statement s = d.app.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM _tidesync_outbox")) {
      outbox = rs.next() && rs.getLong(1) > 0;
    }
    d.transport.pushes.clear();
    SyncReport rep;
    try {
      rep = d.client.flush();
    } finally {
      if (!outbox) {
        assertParentsFirst(d, tree);
      }
    }
    for (String e : rep.errors()) {
      assertThat(e).as("sync error of %s", d.id).startsWith("nodes ").contains("FOREIGN KEY constraint failed");
    }
    return rep;
  }

  static void assertParentsFirst(Device d, Map<String, String> tree) {
    Map<String, Integer> first = new HashMap<>();
    List<PushRequest> sent;
    synchronized (d.transport.pushes) {
      sent = List.copyOf(d.transport.pushes);
    }
    for (int i = 0; i < sent.size(); i++) {
      for (var ch : sent.get(i).changes()) {
        if (ch.table().equals("nodes") && !ch.deleted()) {
          first.putIfAbsent((String) ch.pk().get(0), i);
        }
      }
    }
    for (var e : first.entrySet()) {
      String parent = tree.get(e.getKey());
      Integer at = parent == null ? null : first.get(parent);
      assertThat(at == null || at <= e.getValue())
          .as("%s pushed node %s (request %d) before its parent %s (request %d)", d.id, e.getKey(), e.getValue(), parent, at).isTrue();
    }
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
        if (!rs.next()) {
          // A row of an initial load that still waits in its table (DeviceReplica.loadExisting),
          // not written since (or by an update that changed nothing): the whole row at the
          // load's clock.
          String load = one(d.app, "SELECT v FROM _tidesync_meta WHERE k = 'load:" + table + "'");
          assertThat(load != null && !delete).as("row metadata after a write").isTrue();
          Map<String, Object> image = readRow(d.app, table, pk);
          return new Write(table, key, load, false, new LinkedHashMap<>(image), image);
        }
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
        Map<String, Object> row = expectedRow(re.getValue(), lww);
        if (row != null) {
          out.get(te.getKey()).put(re.getKey(), row);
        }
      }
    }
    return out;
  }

  /**
   * One row's expected values from all its writes, or null when it does not exist: per column the
   * newest value (field-merge) or the newest whole-row image (last-write-wins); the row exists
   * when its newest upsert is newer than its newest delete.
   */
  static Map<String, Object> expectedRow(List<Write> ws, boolean lww) {
    String live = null;
    String dead = null;
    Write newestImage = null;
    Map<String, Object> values = new TreeMap<>();
    Map<String, String> clocks = new HashMap<>();
    for (Write w : ws) {
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
    if (!Clocks.newer(live, dead)) {
      return null;
    }
    return lww ? new TreeMap<>(newestImage.image()) : values;
  }

  /** Whether every node's parent is a node (a tree, or a forest; a cycle is whole too). */
  static boolean whole(Map<String, Map<String, Object>> nodes) {
    for (Map<String, Object> row : nodes.values()) {
      Object parent = row.get("parent_id");
      if (parent != null && !nodes.containsKey(Keys.canonical(List.of(parent)))) {
        return false;
      }
    }
    return true;
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
