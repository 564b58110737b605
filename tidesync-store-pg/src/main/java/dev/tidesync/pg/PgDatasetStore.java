package dev.tidesync.pg;

import static dev.tidesync.pg.internal.Pg.exec;
import static dev.tidesync.pg.internal.Pg.q;

import dev.tidesync.core.Clocks;
import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetNotFoundException;
import dev.tidesync.core.DatasetStatus;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.DeviceStatus;
import dev.tidesync.core.IncompatibleSchemaException;
import dev.tidesync.core.Merge;
import dev.tidesync.core.MergeResult;
import dev.tidesync.core.RowState;
import dev.tidesync.core.SchemaChanges;
import dev.tidesync.core.SchemaOrder;
import dev.tidesync.core.internal.Keys;
import dev.tidesync.pg.internal.Pg;
import dev.tidesync.pg.internal.PgDdl;
import dev.tidesync.pg.internal.PgRowIo;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.HlcClock;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.WallClock;
import dev.tidesync.protocol.Wire;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;

/**
 * A dataset kept in its own PostgreSQL schema: the user tables, and beside them
 * {@code _tidesync_rows} (latest state and version of every row), {@code _tidesync_log} (writes
 * captured by triggers), {@code _tidesync_batches}, {@code _tidesync_conflicts},
 * {@code _tidesync_devices} and {@code _tidesync_meta}.
 *
 * <p><b>Gap-free versions.</b> PostgreSQL transactions take numbers in one order and commit in
 * another, so "rows with version greater than the cursor" would skip a row whose transaction
 * took a lower number but committed after a reader passed it. Here versions are only ever
 * assigned by a transaction that holds the dataset's advisory lock ({@code pg_advisory_xact_lock},
 * released at commit), read from and written back to {@code _tidesync_meta} under it: version
 * assignment is serialized across all server processes, and a transaction's versions are all
 * greater than those of every transaction that committed before it took the lock. So versions
 * become visible in their order, and a snapshot that shows version v shows every version below
 * it that still exists. Writes that do not come through the protocol (a backend's SQL) never
 * take the lock: their triggers append to {@code _tidesync_log}, and the next locked transaction
 * (a push, or the absorb step before a pull) turns the entries that have committed into versioned
 * rows. An entry of a transaction still running is invisible and simply waits for a later
 * absorb; an entry of a transaction that rolls back disappears. Nothing times out, nothing is
 * skipped, and nothing waits on a slow backend transaction except a push that writes the very row
 * it holds locked.
 */
public final class PgDatasetStore implements DatasetStore {
  private static final String SERVER_NODE = "server";
  private static final int LOG_CHUNK = 5000;

  private final DataSource pool;
  private final DatasetId id;
  private final long lockId;
  private final String schemaName;
  private final PgRowIo io;
  private final HlcClock clock;
  private final String epoch;
  private volatile ParsedSchema parsed = new ParsedSchema(null, Map.of());
  private volatile boolean closed;

  private record ParsedSchema(String json, Map<String, TableSchema> tables) {}

  /** The state one locked write transaction works on: read from the database under the lock. */
  private final class Work {
    final Connection c;
    long seq;
    Map<String, TableSchema> tables;
    Set<String> cascadeParents;
    String schemaJson;
    boolean schemaChanged;

    /** Call only while holding the dataset's lock ({@link Pg#lock} or {@link Pg#tryLock}). */
    Work(Connection c) throws SQLException {
      this.c = c;
      Map<String, String> meta = meta(c);
      seq = Long.parseLong(meta.getOrDefault("seq", "0"));
      String hlc = meta.get("hlc");
      if (hlc != null) {
        // Another process may have ticked the shared clock further: never go below it.
        clock.receive(Hlc.parse(hlc));
      }
      schemaJson = meta.get("schema");
      setTables(parse(schemaJson).values());
    }

    void setTables(java.util.Collection<TableSchema> ts) {
      Map<String, TableSchema> m = new LinkedHashMap<>();
      for (TableSchema t : SchemaOrder.parentsFirst(List.copyOf(ts))) {
        m.put(t.name(), t);
      }
      Set<String> parents = new HashSet<>();
      for (TableSchema t : m.values()) {
        for (ForeignKey fk : t.foreignKeys()) {
          if (!fk.onDelete().equals("NO ACTION") && !fk.onDelete().equals("RESTRICT")) {
            parents.add(fk.refTable());
          }
        }
      }
      tables = m;
      cascadeParents = parents;
    }

    void saveMeta() throws SQLException {
      putMeta(c, "seq", Long.toString(seq));
      putMeta(c, "hlc", clock.current().toString());
      if (schemaChanged) {
        putMeta(c, "schema", new String(Wire.writeSchema(List.copyOf(tables.values())), StandardCharsets.UTF_8));
      }
    }
  }

  PgDatasetStore(DataSource pool, DatasetId id, long lockId, String schemaName, WallClock wall, long maxDriftMillis) {
    this.pool = pool;
    this.id = id;
    this.lockId = lockId;
    this.schemaName = schemaName;
    this.io = new PgRowIo(schemaName);
    String[] loaded = Pg.readTx(pool, "opening dataset " + id, c -> {
      Map<String, String> m = meta(c);
      return new String[] {m.get("epoch"), m.get("hlc")};
    });
    if (loaded[0] == null) {
      throw new DatasetNotFoundException(id.name());
    }
    this.epoch = loaded[0];
    this.clock = new HlcClock(SERVER_NODE, wall, maxDriftMillis, loaded[1] == null ? null : Hlc.parse(loaded[1]));
  }

  /** Creates the metadata tables of a new dataset schema (inside the catalog's creating transaction). */
  static void createMetaTables(Connection c, String schema, String epoch) throws SQLException {
    String s = q(schema) + ".";
    exec(c, "CREATE TABLE " + s + "_tidesync_meta (k text PRIMARY KEY, v text NOT NULL)");
    exec(c, "CREATE TABLE " + s + "_tidesync_rows (tbl text NOT NULL, pk text NOT NULL, ver bigint NOT NULL, live text, dead text, "
        + "clocks text, origin text, tomb text, PRIMARY KEY (tbl, pk))");
    exec(c, "CREATE INDEX ON " + s + "_tidesync_rows (ver)");
    exec(c, "CREATE TABLE " + s + "_tidesync_log (seq bigserial PRIMARY KEY, tbl text NOT NULL, pk text NOT NULL, op char(1) NOT NULL, "
        + "cols text[], vals text, wall bigint NOT NULL)");
    exec(c, "CREATE TABLE " + s + "_tidesync_batches (device text NOT NULL, batch text NOT NULL, result bytea NOT NULL, at bigint NOT NULL, "
        + "PRIMARY KEY (device, batch))");
    exec(c, "CREATE TABLE " + s + "_tidesync_conflicts (id bigserial PRIMARY KEY, tbl text NOT NULL, pk text NOT NULL, policy text NOT NULL, "
        + "outcome text NOT NULL, device text, at bigint NOT NULL, base bigint, stored_ver bigint, stored text, incoming text, result text)");
    exec(c, "CREATE TABLE " + s + "_tidesync_devices (device text PRIMARY KEY, last_push bigint NOT NULL DEFAULT 0, "
        + "last_pull bigint NOT NULL DEFAULT 0, pushes bigint NOT NULL DEFAULT 0, pulls bigint NOT NULL DEFAULT 0, "
        + "changes bigint NOT NULL DEFAULT 0)");
    Pg.update(c, "INSERT INTO " + s + "_tidesync_meta (k, v) VALUES ('epoch', ?), ('seq', '0')", epoch);
  }

  private String t(String metaTable) {
    return q(schemaName) + "." + metaTable;
  }

  private Map<String, String> meta(Connection c) throws SQLException {
    Map<String, String> out = new HashMap<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT k, v FROM " + t("_tidesync_meta"));
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.put(rs.getString(1), rs.getString(2));
      }
    }
    return out;
  }

  private void putMeta(Connection c, String k, String v) throws SQLException {
    Pg.update(c, "INSERT INTO " + t("_tidesync_meta") + " (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, v);
  }

  private Map<String, TableSchema> parse(String json) {
    if (json == null) {
      return Map.of();
    }
    ParsedSchema cached = parsed;
    if (json.equals(cached.json())) {
      return cached.tables();
    }
    Map<String, TableSchema> m = new LinkedHashMap<>();
    for (TableSchema ts : Wire.readSchema(json.getBytes(StandardCharsets.UTF_8))) {
      m.put(ts.name(), ts);
    }
    parsed = new ParsedSchema(json, m);
    return m;
  }

  @Override
  public String name() {
    return id.name();
  }

  public DatasetId id() {
    return id;
  }

  /** The PostgreSQL schema that holds this dataset (where a backend writes its SQL). */
  public String schemaName() {
    return schemaName;
  }

  @Override
  public List<TableSchema> schema() {
    ensureOpen();
    String json = read("schema of " + id, c -> Pg.string(c, "SELECT v FROM " + t("_tidesync_meta") + " WHERE k = 'schema'"));
    return List.copyOf(parse(json).values());
  }

  // ------------------------------------------------------------------------------------ push

  @Override
  public PushResult push(PushRequest req) {
    ensureOpen();
    return write("push to " + id, c -> {
      Pg.lock(c, lockId);
      return pushTx(new Work(c), req);
    });
  }

  private PushResult pushTx(Work w, PushRequest req) throws SQLException {
    try (PreparedStatement find = w.c.prepareStatement("SELECT result FROM " + t("_tidesync_batches") + " WHERE device = ? AND batch = ?")) {
      find.setString(1, req.device());
      find.setString(2, req.batch());
      try (ResultSet rs = find.executeQuery()) {
        if (rs.next()) {
          return Wire.readPushResult(new java.io.ByteArrayInputStream(rs.getBytes(1))).asReplay();
        }
      }
    }
    absorb(w, null, null);
    reconcile(w, req.schema(), touched(req));
    List<Change> changes = req.changes();
    List<TableSchema> tables = validate(w, changes);
    setApply(w.c, true);
    ChangeResult[] results = new ChangeResult[changes.size()];
    List<Integer> order = applyOrder(w, changes);
    // Fast path: the whole batch under one savepoint; on any failure, undo it and apply change by
    // change, each under its own savepoint, so that a failure is isolated (a failed statement
    // aborts a PostgreSQL transaction up to the innermost savepoint).
    long seqAtStart = w.seq;
    exec(w.c, "SAVEPOINT batch");
    try {
      for (int i : order) {
        results[i] = applyCore(w, i, changes.get(i), tables.get(i), req.device());
      }
      exec(w.c, "RELEASE SAVEPOINT batch");
      order = List.of();
    } catch (SQLException | ProtocolException e) {
      if (e instanceof SQLException s && !PgStoreException.isConstraintOrData(s)) {
        throw s;
      }
      exec(w.c, "ROLLBACK TO SAVEPOINT batch");
      exec(w.c, "RELEASE SAVEPOINT batch");
      w.seq = seqAtStart;
      java.util.Arrays.fill(results, null);
    }
    // Foreign keys are checked per statement: a child before its parent (or a parent deleted
    // before its children) fails, and is retried after the rest while a pass makes progress.
    for (boolean progress = true; progress && !order.isEmpty(); ) {
      progress = false;
      List<Integer> retry = new ArrayList<>();
      for (int i : order) {
        ChangeResult r = applyOne(w, i, changes.get(i), tables.get(i), req.device(), false);
        if (r == null) {
          retry.add(i);
        } else {
          results[i] = r;
          progress = true;
        }
      }
      order = retry;
    }
    for (int i : order) {
      results[i] = applyOne(w, i, changes.get(i), tables.get(i), req.device(), true);
    }
    setApply(w.c, false);
    long now = clock.wallMillis();
    PushResult result = new PushResult(req.batch(), List.of(results), cursorOf(false, w.seq), false);
    Pg.update(w.c, "INSERT INTO " + t("_tidesync_batches") + " (device, batch, result, at) VALUES (?, ?, ?, ?)",
        req.device(), req.batch(), Wire.writePushResult(result), now);
    Pg.update(w.c, "INSERT INTO " + t("_tidesync_devices") + " (device, last_push, pushes, changes) VALUES (?, ?, 1, ?) "
        + "ON CONFLICT (device) DO UPDATE SET last_push = excluded.last_push, pushes = " + t("_tidesync_devices") + ".pushes + 1, "
        + "changes = " + t("_tidesync_devices") + ".changes + excluded.changes", req.device(), now, (long) changes.size());
    w.saveMeta();
    return result;
  }

  /** Marks this transaction's own writes so that the capture triggers skip them. */
  private static void setApply(Connection c, boolean on) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT set_config('tidesync.apply', ?, true)")) {
      ps.setString(1, on ? "on" : "off");
      ps.execute();
    }
  }

  private static Set<String> touched(PushRequest req) {
    Set<String> out = new HashSet<>();
    req.changes().forEach(ch -> out.add(ch.table()));
    if (out.isEmpty()) {
      req.schema().forEach(ts -> out.add(ts.name()));
    }
    return out;
  }

  /** Creates new tables and adds new columns; an incompatible table refuses the push only when written to. */
  private void reconcile(Work w, List<TableSchema> incoming, Set<String> strict) throws SQLException {
    if (incoming.isEmpty()) {
      return;
    }
    Map<String, TableSchema> next = new LinkedHashMap<>(w.tables);
    boolean changed = false;
    for (TableSchema in : SchemaOrder.parentsFirst(incoming)) {
      TableSchema have = next.get(in.name());
      if (have == null) {
        for (ForeignKey fk : in.foreignKeys()) {
          if (!next.containsKey(fk.refTable()) && incoming.stream().noneMatch(x -> x.name().equals(fk.refTable()))) {
            throw new IncompatibleSchemaException("table '" + in.name() + "' references table '" + fk.refTable()
                + "', which is neither in the dataset nor in the push");
          }
        }
        exec(w.c, PgDdl.createTable(schemaName, in));
        for (String sql : PgDdl.captureTrigger(schemaName, in)) {
          exec(w.c, sql);
        }
        next.put(in.name(), in);
        changed = true;
      } else {
        List<ColumnSchema> add;
        try {
          add = SchemaChanges.additions(have, in);
          PgDdl.checkNames(in);
        } catch (IncompatibleSchemaException e) {
          if (strict.contains(in.name())) {
            throw e;
          }
          continue;
        }
        if (!add.isEmpty()) {
          for (ColumnSchema col : add) {
            exec(w.c, PgDdl.addColumn(schemaName, in.name(), col));
          }
          TableSchema merged = SchemaChanges.union(have, add);
          for (String sql : PgDdl.captureTrigger(schemaName, merged)) {
            exec(w.c, sql);
          }
          next.put(in.name(), merged);
          changed = true;
        }
      }
    }
    if (changed) {
      w.setTables(next.values());
      w.schemaChanged = true;
    }
  }

  private List<TableSchema> validate(Work w, List<Change> changes) {
    List<TableSchema> out = new ArrayList<>(changes.size());
    for (int i = 0; i < changes.size(); i++) {
      Change ch = changes.get(i);
      TableSchema ts = w.tables.get(ch.table());
      if (ts == null) {
        throw new ProtocolException("unknown_table", "changes[" + i + "]: unknown table '" + cut(ch.table()) + "' in dataset '" + id.name() + "'");
      }
      if (ch.pk().size() != ts.primaryKey().size()) {
        throw new ProtocolException("bad_key", "changes[" + i + "]: table '" + ts.name() + "' has a " + ts.primaryKey().size()
            + "-column primary key, the change gives " + ch.pk().size() + " value(s)");
      }
      for (Object v : ch.pk()) {
        if (v == null) {
          throw new ProtocolException("bad_key", "changes[" + i + "]: primary key values cannot be null");
        }
      }
      for (String col : ch.cols().keySet()) {
        if (ts.column(col).isEmpty()) {
          throw new ProtocolException("unknown_column", "changes[" + i + "]: table '" + ts.name() + "' has no column '" + cut(col) + "'");
        }
      }
      for (String col : ch.clocks().keySet()) {
        if (!ch.cols().containsKey(col)) {
          throw new ProtocolException("bad_change", "changes[" + i + "]: clock given for column '" + cut(col) + "' that the change does not set");
        }
      }
      for (Map.Entry<String, String> e : ch.clocks().entrySet()) {
        if (e.getValue().compareTo(ch.hlc()) > 0) {
          throw new ProtocolException("bad_change", "changes[" + i + "]: column clock newer than the change's hlc");
        }
      }
      out.add(ts);
    }
    return out;
  }

  private static String cut(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }

  private static List<Integer> applyOrder(Work w, List<Change> changes) {
    Map<String, Integer> rank = SchemaOrder.rank(List.copyOf(w.tables.values()));
    List<Integer> idx = new ArrayList<>();
    for (int i = 0; i < changes.size(); i++) {
      idx.add(i);
    }
    idx.sort(Comparator.comparingInt((Integer i) -> {
      Change ch = changes.get(i);
      int r = rank.getOrDefault(ch.table(), 0);
      return ch.deleted() ? 1_000_000 - r : r;
    }));
    return idx;
  }

  private ChangeResult applyOne(Work w, int index, Change ch, TableSchema ts, String device, boolean lastPass) throws SQLException {
    exec(w.c, "SAVEPOINT change");
    long seqBefore = w.seq;
    try {
      ChangeResult r = applyCore(w, index, ch, ts, device);
      exec(w.c, "RELEASE SAVEPOINT change");
      return r;
    } catch (SQLException e) {
      exec(w.c, "ROLLBACK TO SAVEPOINT change");
      exec(w.c, "RELEASE SAVEPOINT change");
      w.seq = seqBefore;
      if (PgStoreException.isForeignKey(e)) {
        if (!lastPass) {
          return null;
        }
        return new ChangeResult(index, ChangeResult.REJECTED, 0, "FOREIGN KEY constraint failed on table '" + ts.name() + "'", true);
      }
      if (PgStoreException.isConstraintOrData(e)) {
        return new ChangeResult(index, ChangeResult.REJECTED, 0, cut(e.getMessage()), false);
      }
      throw e;
    } catch (ProtocolException e) {
      exec(w.c, "ROLLBACK TO SAVEPOINT change");
      exec(w.c, "RELEASE SAVEPOINT change");
      w.seq = seqBefore;
      return new ChangeResult(index, ChangeResult.REJECTED, 0, e.getMessage(), false);
    }
  }

  private ChangeResult applyCore(Work w, int index, Change ch, TableSchema ts, String device) throws SQLException {
    String key = Keys.canonical(ch.pk());
    RowState stored = loadState(w, ts, key, ch.pk());
    boolean conflict = stored != null && ch.base() < stored.version();
    Change in = ch;
    boolean clamped = false;
    Hlc h = Hlc.parse(ch.hlc());
    if (!clock.withinDrift(h)) {
      // A clock further ahead than the allowed drift would win every conflict until real time
      // caught up: the change is restamped with the server's clock instead.
      in = new Change(ch.table(), ch.pk(), ch.deleted(), ch.cols(), clock.tick().toString(), null, ch.base(), 0);
      clamped = true;
    } else {
      clock.receive(h);
    }
    MergeResult m = Merge.merge(ts, stored, in);
    long version = stored == null ? 0 : stored.version();
    boolean clean = !conflict && !clamped && m.outcome() == MergeResult.Outcome.INCOMING;
    if (m.changed() || m.outcome() == MergeResult.Outcome.STORED) {
      // A row the pusher does not hold as it is now gets a new version with no origin, so the
      // pusher pulls the winning state like everyone else.
      version = ++w.seq;
      if (m.changed()) {
        writeRow(w, ts, key, ch.pk(), stored, m.state());
      }
      saveRowMeta(w, ts, key, m.state(), version, clean ? device : null);
    }
    boolean logged = conflict && m.outcome() != MergeResult.Outcome.DUPLICATE;
    if (logged) {
      logConflict(w, ts, key, device, ch, stored, m);
    }
    String status = logged ? ChangeResult.CONFLICT
        : clean || m.outcome() == MergeResult.Outcome.DUPLICATE ? ChangeResult.APPLIED : ChangeResult.MERGED;
    return new ChangeResult(index, status, version, null, false);
  }

  private RowState loadState(Work w, TableSchema ts, String key, List<Object> pk) throws SQLException {
    long ver;
    String live;
    String dead;
    String clocks;
    String tomb;
    try (PreparedStatement ps = w.c.prepareStatement("SELECT ver, live, dead, clocks, tomb FROM " + t("_tidesync_rows")
        + " WHERE tbl = ? AND pk = ?")) {
      ps.setString(1, ts.name());
      ps.setString(2, key);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        ver = rs.getLong(1);
        live = rs.getString(2);
        dead = rs.getString(3);
        clocks = rs.getString(4);
        tomb = rs.getString(5);
      }
    }
    Map<String, Object> values;
    if (Clocks.newer(live, dead)) {
      values = io.read(w.c, ts, pk, null);
      if (values == null) {
        values = Map.of();
      }
    } else {
      values = Keys.parseValues(tomb);
    }
    return new RowState(values, Keys.unpackClocks(clocks, columnNames(ts), live), live, dead, ver);
  }

  private void writeRow(Work w, TableSchema ts, String key, List<Object> pk, RowState before, RowState after) throws SQLException {
    boolean existed = before != null && !before.deleted();
    if (after.deleted()) {
      if (existed) {
        if (w.cascadeParents.contains(ts.name())) {
          // ON DELETE CASCADE / SET NULL change other rows: let the triggers capture those and
          // give them versions, so every device hears of them. Our own row is skipped.
          setApply(w.c, false);
          io.delete(w.c, ts, pk);
          setApply(w.c, true);
          absorb(w, ts.name(), key);
        } else {
          io.delete(w.c, ts, pk);
        }
      }
    } else {
      Map<String, Object> values = new LinkedHashMap<>();
      for (ColumnSchema col : ts.columns()) {
        if (after.values().containsKey(col.name())) {
          values.put(col.name(), after.values().get(col.name()));
        }
      }
      io.upsert(w.c, ts, pk, values);
    }
  }

  private void saveRowMeta(Work w, TableSchema ts, String key, RowState s, long version, String origin) throws SQLException {
    try (PreparedStatement ps = w.c.prepareStatement("INSERT INTO " + t("_tidesync_rows") + " (tbl, pk, ver, live, dead, clocks, origin, tomb) "
        + "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tbl, pk) DO UPDATE SET ver = excluded.ver, live = excluded.live, "
        + "dead = excluded.dead, clocks = excluded.clocks, origin = excluded.origin, tomb = excluded.tomb")) {
      ps.setString(1, ts.name());
      ps.setString(2, key);
      ps.setLong(3, version);
      ps.setString(4, s.live());
      ps.setString(5, s.dead());
      ps.setString(6, Keys.packClocks(s.clocks(), columnNames(ts), s.live()));
      ps.setString(7, origin);
      ps.setString(8, s.deleted() ? Keys.valuesJson(s.values()) : null);
      ps.executeUpdate();
    }
  }

  private void logConflict(Work w, TableSchema ts, String key, String device, Change in, RowState stored, MergeResult m) throws SQLException {
    Pg.update(w.c, "INSERT INTO " + t("_tidesync_conflicts") + " (tbl, pk, policy, outcome, device, at, base, stored_ver, stored, "
        + "incoming, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ts.name(), key, ts.policy().wireName(), m.outcome().name().toLowerCase(java.util.Locale.ROOT), device, clock.wallMillis(),
        in.base(), stored.version(), stored.deleted() ? null : Keys.valuesJson(stored.values()),
        in.deleted() ? null : Keys.valuesJson(new LinkedHashMap<>(in.cols())),
        m.state().deleted() ? null : Keys.valuesJson(m.state().values()));
  }

  /**
   * Turns committed entries of the capture log into versioned row states with fresh server
   * clocks. Runs in a transaction holding the dataset lock. Each statement of a READ COMMITTED
   * transaction sees what committed before it, so the entries deleted are exactly those read
   * (by their seq), never "everything up to the last one": an entry with a lower seq whose
   * transaction commits between the read and the delete must survive for the next absorb.
   */
  private void absorb(Work w, String skipTable, String skipKey) throws SQLException {
    while (absorbChunk(w, skipTable, skipKey) == LOG_CHUNK) {
      // next chunk
    }
  }

  private int absorbChunk(Work w, String skipTable, String skipKey) throws SQLException {
    record Entry(long seq, String tbl, String pk, String op, List<String> cols, String vals, long wall) {}
    List<Entry> entries = new ArrayList<>();
    try (PreparedStatement ps = w.c.prepareStatement("SELECT seq, tbl, pk, op, cols, vals, wall FROM " + t("_tidesync_log")
        + " ORDER BY seq LIMIT " + LOG_CHUNK);
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        Array a = rs.getArray(5);
        List<String> cols = a == null ? null : List.of((String[]) a.getArray());
        entries.add(new Entry(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), cols, rs.getString(6), rs.getLong(7)));
      }
    }
    if (entries.isEmpty()) {
      return 0;
    }
    for (Entry e : entries) {
      TableSchema ts = w.tables.get(e.tbl());
      if (ts == null) {
        continue;
      }
      List<String> written = new ArrayList<>();
      if (!e.op().equals("D")) {
        for (ColumnSchema col : ts.columns()) {
          if (!ts.isPrimaryKey(col.name()) && (e.cols() == null || e.cols().contains(col.name()))) {
            written.add(col.name());
          }
        }
      }
      if (e.op().equals("U") && written.isEmpty()) {
        continue; // an update that changed nothing
      }
      List<Object> pk = Keys.parseSqlite(e.pk());
      String key = Keys.canonical(pk);
      if (e.tbl().equals(skipTable) && key.equals(skipKey)) {
        continue;
      }
      String hlc = clock.tick(e.wall()).toString();
      RowState s = loadState(w, ts, key, pk);
      Map<String, String> clocks = s == null ? new HashMap<>() : new HashMap<>(s.clocks());
      String live = s == null ? null : s.live();
      String dead = s == null ? null : s.dead();
      Map<String, Object> tomb = s == null ? Map.of() : s.values();
      if (e.op().equals("D")) {
        dead = hlc;
        if (e.vals() != null) {
          tomb = PgRowIo.parseLoggedRow(ts, e.vals()); // the row is gone: its values come from the log
        }
      } else {
        live = hlc;
        for (String col : written) {
          clocks.put(col, hlc);
        }
        if (e.op().equals("I")) {
          ts.primaryKey().forEach(k -> clocks.put(k, hlc));
        }
      }
      saveRowMeta(w, ts, key, new RowState(tomb, clocks, live, dead, 0), ++w.seq, null);
    }
    long[] seqs = entries.stream().mapToLong(Entry::seq).toArray();
    try (PreparedStatement del = w.c.prepareStatement("DELETE FROM " + t("_tidesync_log") + " WHERE seq = ANY (?)")) {
      del.setArray(1, w.c.createArrayOf("bigint", java.util.Arrays.stream(seqs).boxed().toArray()));
      del.executeUpdate();
    }
    return entries.size();
  }

  /**
   * Versions what backends wrote since the last locked transaction, so that a pull sees it. Only
   * when the lock is free: a push that holds it absorbs the log itself, and whatever commits after
   * that is absorbed by the next pull or push. A reader never queues behind writers for it.
   */
  private void absorbPending() {
    boolean pending = read("checking the capture log of " + id,
        c -> Pg.number(c, "SELECT count(*) FROM (SELECT 1 FROM " + t("_tidesync_log") + " LIMIT 1) x") > 0);
    if (pending) {
      write("absorbing backend writes in " + id, c -> {
        if (!Pg.tryLock(c, lockId)) {
          return null;
        }
        Work w = new Work(c);
        if (absorbChunk(w, null, null) == LOG_CHUNK) {
          absorb(w, null, null);
        }
        w.saveMeta();
        return null;
      });
    }
  }

  // ------------------------------------------------------------------------------------ pull

  private String cursorOf(boolean bootstrap, long version) {
    return (bootstrap ? "b1." : "c1.") + epoch + "." + version;
  }

  @Override
  public PullPage pull(String cursor, int limit, String device) {
    ensureOpen();
    boolean bootstrap;
    long after;
    if (cursor == null || cursor.isEmpty()) {
      bootstrap = true;
      after = 0;
    } else {
      String[] parts = cursor.split("\\.");
      if (parts.length != 3 || !(parts[0].equals("b1") || parts[0].equals("c1")) || !parts[2].matches("[0-9]{1,18}")) {
        throw new ProtocolException("bad_cursor", "malformed cursor '" + cut(cursor) + "'");
      }
      if (!parts[1].equals(epoch)) {
        throw new ProtocolException("cursor_invalid", 409, "cursor belongs to another incarnation of dataset '" + id.name()
            + "'; bootstrap again (pull without a cursor)");
      }
      bootstrap = parts[0].equals("b1");
      after = Long.parseLong(parts[2]);
    }
    absorbPending();
    PullPage page = read("pull from " + id, c -> readPage(c, bootstrap, after, limit, device));
    if (device != null) {
      try {
        write("recording a pull of " + id, c -> Pg.update(c, "INSERT INTO " + t("_tidesync_devices") + " (device, last_pull, pulls) "
            + "VALUES (?, ?, 1) ON CONFLICT (device) DO UPDATE SET last_pull = excluded.last_pull, pulls = "
            + t("_tidesync_devices") + ".pulls + 1", device, clock.wallMillis()));
      } catch (TidesyncException e) {
        // statistics only: the page is still good
      }
    }
    return page;
  }

  private PullPage readPage(Connection c, boolean bootstrap, long after, int limit, String device) throws SQLException {
    // One REPEATABLE READ snapshot for the schema, the rows, their values and the version
    // counter: the page and its cursor describe the same moment.
    Map<String, TableSchema> tables = parse(Pg.string(c, "SELECT v FROM " + t("_tidesync_meta") + " WHERE k = 'schema'"));
    record Row(String tbl, String pk, long ver, String live, String dead) {}
    List<Row> rows = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT tbl, pk, ver, live, dead FROM " + t("_tidesync_rows")
        + " WHERE ver > ? AND (origin IS NULL OR origin <> ?) ORDER BY ver LIMIT ?")) {
      ps.setLong(1, after);
      ps.setString(2, device == null ? "" : device);
      ps.setInt(3, limit);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          rows.add(new Row(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getString(4), rs.getString(5)));
        }
      }
    }
    List<Change> changes = new ArrayList<>();
    long last = after;
    for (Row row : rows) {
      last = row.ver();
      TableSchema ts = tables.get(row.tbl());
      if (ts == null) {
        continue;
      }
      boolean deleted = !Clocks.newer(row.live(), row.dead());
      List<Object> pk = Keys.parseCanonical(row.pk());
      Map<String, Object> cols = Map.of();
      if (!deleted) {
        Map<String, Object> values = io.read(c, ts, pk, nonKeyColumns(ts));
        if (values == null) {
          continue;
        }
        cols = values;
      }
      changes.add(new Change(ts.name(), pk, deleted, cols, Clocks.max(row.live(), row.dead()), null, 0, row.ver()));
    }
    boolean hasMore = rows.size() == limit;
    if (!hasMore) {
      // Everything up to this snapshot's newest version has been seen (the rest was our own).
      last = Math.max(last, Pg.number(c, "SELECT v::bigint FROM " + t("_tidesync_meta") + " WHERE k = 'seq'"));
    }
    return new PullPage(cursorOf(bootstrap && hasMore, last), hasMore, bootstrap, List.copyOf(tables.values()), changes);
  }

  private static List<String> columnNames(TableSchema ts) {
    List<String> out = new ArrayList<>(ts.columns().size());
    for (ColumnSchema col : ts.columns()) {
      out.add(col.name());
    }
    return out;
  }

  private static List<String> nonKeyColumns(TableSchema ts) {
    List<String> out = new ArrayList<>();
    for (ColumnSchema col : ts.columns()) {
      if (!ts.isPrimaryKey(col.name())) {
        out.add(col.name());
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------ status

  @Override
  public DatasetStatus status() {
    ensureOpen();
    absorbPending();
    return read("status of " + id, c -> {
      Map<String, TableSchema> tables = parse(Pg.string(c, "SELECT v FROM " + t("_tidesync_meta") + " WHERE k = 'schema'"));
      Map<String, Long> rows = new LinkedHashMap<>();
      for (TableSchema ts : tables.values()) {
        rows.put(ts.name(), Pg.number(c, "SELECT count(*) FROM " + q(schemaName) + "." + q(ts.name())));
      }
      long conflicts = Pg.number(c, "SELECT count(*) FROM " + t("_tidesync_conflicts"));
      long version = Pg.number(c, "SELECT v::bigint FROM " + t("_tidesync_meta") + " WHERE k = 'seq'");
      List<DeviceStatus> ds = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT device, last_push, last_pull, pushes, pulls, changes FROM "
          + t("_tidesync_devices") + " ORDER BY device");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ds.add(new DeviceStatus(rs.getString(1), rs.getLong(2), rs.getLong(3), rs.getLong(4), rs.getLong(5), rs.getLong(6)));
        }
      }
      return new DatasetStatus(id.name(), version, rows, ds, conflicts);
    });
  }

  @Override
  public List<ConflictRecord> conflicts(long afterId, int limit) {
    ensureOpen();
    return read("conflicts of " + id, c -> {
      List<ConflictRecord> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT id, tbl, pk, policy, outcome, device, at, base, stored_ver, stored, "
          + "incoming, result FROM " + t("_tidesync_conflicts") + " WHERE id > ? ORDER BY id LIMIT ?")) {
        ps.setLong(1, afterId);
        ps.setInt(2, limit);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new ConflictRecord(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5),
                rs.getString(6), rs.getLong(7), rs.getLong(8), rs.getLong(9), rs.getString(10), rs.getString(11), rs.getString(12)));
          }
        }
      }
      return out;
    });
  }

  // ------------------------------------------------------------------------------------ plumbing

  private <T> T write(String what, Pg.TxBody<T> body) {
    try {
      return Pg.inTx(pool, what, body);
    } catch (PgStoreException e) {
      throw missing(e);
    }
  }

  private <T> T read(String what, Pg.TxBody<T> body) {
    try {
      return Pg.readTx(pool, what, body);
    } catch (PgStoreException e) {
      throw missing(e);
    }
  }

  /** A schema dropped by another process (or an operator) reads as a missing dataset. */
  private RuntimeException missing(PgStoreException e) {
    if (e.getCause() instanceof SQLException s && PgStoreException.isMissing(s)) {
      closed = true;
      return new DatasetNotFoundException(id.name());
    }
    return e;
  }

  private void ensureOpen() {
    if (closed) {
      throw new DatasetNotFoundException(id.name());
    }
  }

  boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    closed = true; // the pool belongs to the storage
  }
}
