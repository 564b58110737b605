package dev.tidesync.sqlite;

import static dev.tidesync.sqlite.internal.Sql.exec;

import dev.tidesync.core.Clocks;
import dev.tidesync.core.CrashPoints;
import dev.tidesync.core.Merge;
import dev.tidesync.core.RowState;
import dev.tidesync.core.SchemaOrder;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.HlcClock;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.Values;
import dev.tidesync.protocol.WallClock;
import dev.tidesync.protocol.Wire;
import dev.tidesync.sqlite.internal.Capture;
import dev.tidesync.sqlite.internal.Ddl;
import dev.tidesync.sqlite.internal.Introspect;
import dev.tidesync.core.internal.ForeignKeyGroups;
import dev.tidesync.core.internal.Keys;
import dev.tidesync.core.internal.Sizes;
import dev.tidesync.sqlite.internal.RowIo;
import dev.tidesync.sqlite.internal.Unloaded;
import dev.tidesync.sqlite.internal.Sql;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;

/**
 * The device side of a SQLite replica: an app's own database file, captured by triggers.
 *
 * <p>Local writes flow log → {@link #absorb} (clocks assigned in log order, rows marked dirty with
 * the clock of each pending column) → {@link #nextBatch} (current values of the pending columns,
 * recorded in an outbox before sending) → {@link #recordPushResult} (rows become clean unless a
 * newer local write arrived meanwhile). Remote changes arrive by {@link #applyPage}, which skips
 * rows with unpushed local changes: the push that follows carries the old base version, and the
 * server detects, resolves and logs the conflict, then sends the winner back. A failed row (the
 * server refused its change for good) is never pushed on its own, so a pulled change is merged
 * into it here, by the table's policy and the same {@link Merge} the server runs: refused values
 * with the newer clock stay (and stay failed), the others take the pulled values, and a refused
 * value that loses is kept in {@code _tidesync_superseded} (see {@link #superseded}).
 *
 * <p>All methods run under the instance lock on one connection; each is one transaction.
 */
public final class DeviceReplica implements AutoCloseable {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(DeviceReplica.class);

  /**
   * How a device replica is opened. {@code tables} narrows the synced tables (null: all);
   * {@code policies} sets conflict policies per table (default field-merge).
   */
  public record Options(String deviceId, Set<String> tables, Map<String, ConflictPolicy> policies, long maxDriftMillis, WallClock wall) {
    public static Options defaults() {
      return new Options(null, null, Map.of(), SqliteStorage.DEFAULT_MAX_DRIFT_MILLIS, WallClock.SYSTEM);
    }

    public Options withDevice(String id) {
      return new Options(id, tables, policies, maxDriftMillis, wall);
    }

    public Options withTables(Set<String> t) {
      return new Options(deviceId, t, policies, maxDriftMillis, wall);
    }

    public Options withPolicies(Map<String, ConflictPolicy> p) {
      return new Options(deviceId, tables, p, maxDriftMillis, wall);
    }
  }

  /** Counts of pending (unpushed) and failed rows per table. */
  public record Pending(Map<String, Long> pending, Map<String, Long> failed) {
    public long total() {
      return pending.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  /**
   * A refused local change that a newer pulled change replaced: the row ({@code table},
   * canonical {@code key}), the refused values ({@code cols}; null for a refused delete), the
   * server's reason for refusing them ({@code err}), and the pulled version and clock that won.
   */
  public record Superseded(long id, String table, String key, Map<String, Object> cols, String err, long version, String hlc, long at) {
    /** One line for reports: table, key, what was superseded, by which version, and why it had been refused. */
    public String describe() {
      return table + " " + key + ": refused local " + (cols == null ? "delete" : "value(s) of " + String.join(", ", cols.keySet()))
          + " superseded by a newer pulled change (version " + version + "); refused because: " + err;
    }
  }

  /**
   * Which table and kind of change a push scan is at; one per flush. The scan stops twice at a
   * barrier ({@link #nextBatch} returns null, {@link #resume} says whether it goes on): before the
   * first delete batch and before deciding on a schema-only batch. A client that overlaps sending
   * with building (see TidesyncClient) records every answer at a barrier, so that a delete is
   * built on the base its row's insert or update just got (else the server would see the
   * device's own delete as a conflict), and the schema decision sees what the server took.
   */
  public static final class PushScan {
    private int phase;
    private String lastKey = "";
    /** For the upserts of a table that refers to itself: its pending keys, parents first, and how far the scan is. */
    private List<String> parentsFirst;
    private int parentsFirstAt;
    private int barriersPassed;
    private boolean atBarrier;
    /** Upserts: whether the table's pending rows in the metadata are all read (its unloaded rows come next), and the last unloaded key read. */
    private boolean pendingDone;
    private Object unloadedAfter;

    private void nextPhase() {
      phase++;
      lastKey = "";
      parentsFirst = null;
      pendingDone = false;
      unloadedAfter = null;
    }

    /** After {@link #nextBatch} returned null: true (and the scan goes on) if it stopped at a barrier. */
    public boolean resume() {
      boolean was = atBarrier;
      atBarrier = false;
      return was;
    }

    /** True (once per barrier) when the scan reaches barrier {@code index} (0: deletes, 1: schema). */
    private boolean stopAt(int index) {
      if (barriersPassed > index) {
        return false;
      }
      barriersPassed = index + 1;
      atBarrier = true;
      return true;
    }
  }

  private final Path file;
  private final Options options;
  private final Connection conn;
  private final RowIo io;
  private final String deviceId;
  private final HlcClock clock;
  private Map<String, TableSchema> tables = new LinkedHashMap<>();
  private Map<String, String> skipped = new TreeMap<>();
  private String cursor;
  private long schemaVersion = -1;
  /** Encoded bodies of unsettled outbox batches, by batch id (at most a few at a time). */
  private final Map<String, byte[]> encoded = new HashMap<>();
  /**
   * Unsettled batches that hold waiting rows of an initial load (see {@link #loadExisting}): batch
   * id to table; {@link #ANY_TABLE} for the batches found in the outbox at open, whose tables are
   * not known. A table's load is over only when none of its waiting rows is in such a batch.
   */
  private final Map<String, String> unloadedBatches = new HashMap<>();
  private static final String ANY_TABLE = "\u0000any";

  private DeviceReplica(Path file, Options options, Connection conn) {
    this.file = file;
    this.options = options;
    this.conn = conn;
    this.io = new RowIo(conn);
    String[] state = Sql.inTx(conn, "opening replica " + file, () -> {
      Capture.createMetaTables(conn);
      // Partial index of pending rows: the push scan's "dirty = 1" must match its WHERE term
      // exactly, or SQLite cannot prove the index applies and scans every row of the replica.
      exec(conn, "CREATE INDEX IF NOT EXISTS _tidesync_rows_pending ON _tidesync_rows (tbl, pk) WHERE dirty = 1");
      exec(conn, "CREATE TABLE IF NOT EXISTS _tidesync_outbox (batch TEXT PRIMARY KEY, dataset TEXT NOT NULL, body BLOB NOT NULL, at INTEGER NOT NULL)");
      // Refused local values that a newer pulled change replaced (see superseded()): cols is a
      // JSON object of the values in protocol encoding, NULL for a refused delete.
      exec(conn, "CREATE TABLE IF NOT EXISTS _tidesync_superseded (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, "
          + "cols TEXT, err TEXT, ver INTEGER NOT NULL, hlc TEXT NOT NULL, at INTEGER NOT NULL)");
      String dev = meta("device");
      if (options.deviceId() != null) {
        dev = options.deviceId();
        setMeta("device", dev);
      } else if (dev == null) {
        dev = "dev-" + UUID.randomUUID().toString().substring(0, 8);
        setMeta("device", dev);
      }
      return new String[] {dev, meta("hlc"), meta("cursor")};
    });
    this.deviceId = state[0];
    this.clock = new HlcClock(deviceId, options.wall(), options.maxDriftMillis(), state[1] == null ? null : Hlc.parse(state[1]));
    this.cursor = state[2];
    for (PushRequest req : outbox()) {
      unloadedBatches.put(req.batch(), ANY_TABLE);
    }
    refreshSchema();
  }

  public static DeviceReplica open(Path file, Options options) {
    // Foreign keys stay off on this connection: pulled pages arrive in version order, not
    // parent-first, and the server has already enforced the constraints.
    Connection conn = Sql.open(file, false, false);
    try {
      return new DeviceReplica(file, options, conn);
    } catch (RuntimeException | Error e) {
      Sql.closeQuietly(conn);
      throw e;
    }
  }

  public Path file() {
    return file;
  }

  public String deviceId() {
    return deviceId;
  }

  public synchronized List<TableSchema> tables() {
    return List.copyOf(tables.values());
  }

  /** Tables that exist but are not synced, with the reason (no primary key, excluded, ...). */
  public synchronized Map<String, String> skipped() {
    return Map.copyOf(skipped);
  }

  public synchronized String cursor() {
    return cursor;
  }

  private String meta(String k) throws SQLException {
    return Sql.string(conn, "SELECT v FROM _tidesync_meta WHERE k = ?", k);
  }

  private void setMeta(String k, Object v) throws SQLException {
    Sql.update(conn, "INSERT INTO _tidesync_meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", k, v);
  }

  /**
   * Discovers user tables and (re)installs capture: a new table gets triggers and its existing
   * rows become pending inserts (the initial load, see {@link #loadExisting}); a table whose
   * columns changed gets new triggers.
   */
  public synchronized void refreshSchema() {
    // SQLite bumps schema_version on every DDL statement from any connection: when it has not
    // moved since the last discovery, nothing can have changed.
    long version;
    try {
      version = Sql.number(conn, "PRAGMA schema_version");
    } catch (SQLException e) {
      throw new StoreException("reading schema_version of " + file, e);
    }
    if (version == schemaVersion) {
      return;
    }
    Sql.inTx(conn, "discovering tables of " + file, () -> {
      // An earlier build's triggers, replaced here: they captured everything, nothing was lost.
      boolean migrated = Capture.migrateLegacyLog(conn);
      Capture.dropStrayTriggers(conn);
      Map<String, TableSchema> known = new LinkedHashMap<>();
      String stored = meta("schema");
      if (stored != null) {
        for (TableSchema t : Wire.readSchema(stored.getBytes(StandardCharsets.UTF_8))) {
          known.put(t.name(), t);
        }
      }
      Introspect.Result found = Introspect.tables(conn, n -> known.containsKey(n) ? known.get(n).policy()
          : options.policies().getOrDefault(n, ConflictPolicy.FIELD_MERGE));
      Map<String, TableSchema> next = new LinkedHashMap<>();
      Map<String, String> skip = new TreeMap<>(found.skipped());
      List<TableSchema> lostTriggers = new ArrayList<>();
      List<TableSchema> fresh = new ArrayList<>();
      for (TableSchema t : found.tables()) {
        if (options.tables() != null && !options.tables().contains(t.name())) {
          skip.put(t.name(), "not in the configured table list");
          Capture.dropTriggers(conn, t.name());
          continue;
        }
        TableSchema before = known.get(t.name());
        if (before == null) {
          Capture.installTriggers(conn, t);
          fresh.add(t);
        } else if (!Capture.hasTriggers(conn, t.name())) {
          // Rebuilt (new table, copy, drop, rename) or its triggers dropped: writes since then
          // were not captured. Inserts and deletes among them are found below.
          Capture.installTriggers(conn, t);
          if (!migrated && t.primaryKey().size() == 1 && sameKey(before, t)) {
            lostTriggers.add(t);
          } else if (!migrated) {
            // A composite key's logged form rounds REAL parts (json_array), so its metadata keys
            // cannot be matched exactly with the rows' (a row would be taken for deleted); a key
            // that changed would make every row look deleted and inserted again.
            log.warn("{}: table {} had no capture triggers (rebuilt?); inserts and deletes made meanwhile are not recovered "
                + "for a {} key: sync them by writing the rows again", file, t.name(), t.primaryKey().size() == 1 ? "changed" : "composite");
          }
        } else if (!before.columns().equals(t.columns())) {
          Capture.installTriggers(conn, t);
        }
        next.put(t.name(), t);
      }
      for (String name : found.skipped().keySet()) {
        Capture.dropTriggers(conn, name);
      }
      setTables(next);
      skipped = skip;
      if (!fresh.isEmpty() || !lostTriggers.isEmpty()) {
        // The log first, under the new schema as any absorb after a refresh: then every write the
        // old triggers logged is in the metadata, so that a new table's initial load merges with
        // what its logged writes made (a table captured before, left out of the table list, and
        // back: its logged delete must not come after a row that exists now), and the comparison
        // below finds only uncaptured writes.
        absorbTx();
      }
      for (TableSchema t : fresh) {
        loadExisting(t);
      }
      // A rebuilt table's waiting rows go into the metadata first, at their load's clock (what
      // loading them before the rebuild would have written), so the comparison below does not
      // take them for inserts made without triggers, with fresh clocks that would let stale rows
      // win. A row inserted during the rebuild cannot be told from them and takes the load's
      // clock too (README, known limits).
      finishLoads(loads(), lostTriggers.stream().map(TableSchema::name).toList());
      for (TableSchema t : lostTriggers) {
        int n = Capture.logUncaptured(conn, t);
        if (n > 0) {
          log.warn("{}: table {} had no capture triggers (rebuilt?); logged {} uncaptured insert(s)/delete(s); "
              + "updates made meanwhile were not captured", file, t.name(), n);
        }
      }
      // Read inside the write transaction: no other connection can change the schema between
      // our discovery and this reading, so no DDL can slip past unnoticed.
      schemaVersion = Sql.number(conn, "PRAGMA schema_version");
      return null;
    });
  }

  /**
   * The initial load of a table Tidesync starts capturing: every row it holds becomes a pending
   * insert of all its columns. A table that already has metadata (synced before, then left out
   * of the table list) goes through the log, where absorbing merges each row with what the device
   * knew of it. Call after {@link #setTables}, in the transaction that installed the table's
   * triggers (so no write slips between the two).
   *
   * <p>A table whose key is one column and that does not refer to itself is loaded lazily: its
   * rows get no metadata now. The table is marked ({@code load:<table>} in {@code _tidesync_meta},
   * with one clock ticked now for all its rows), and a row of it without metadata is taken to be
   * what the metadata would have said: a pending insert of the whole row at that clock. The push
   * reads such rows straight from the table in key order ({@link #collectUnloaded}) and settling
   * them writes their metadata once, clean; absorbing a logged write of one starts from what it
   * stands for ({@link #pendingInsert}); every other path that reads the metadata for a row first
   * writes the table's unloaded rows into it ({@link #finishLoad}), so it sees exactly what
   * loading them now would have written. Writing every row's metadata up front and rewriting it
   * when the row is settled cost about a raw insert of the rows (BENCHMARKS.md, session 9). Rows
   * whose key SQLite cannot spell as our canonical text (see {@link Unloaded}) are loaded now.
   * Other tables are loaded now, each row with a clock of its own, in key order (random keys land
   * all over the metadata's B-trees; in key order they append).
   */
  private int loadExisting(TableSchema t) throws SQLException {
    if (Sql.number(conn, "SELECT count(*) FROM (SELECT 1 FROM _tidesync_rows WHERE tbl = ? LIMIT 1)", t.name()) > 0) {
      return Capture.logExistingRows(conn, t);
    }
    boolean lazy = lazilyLoaded(t);
    String loadClock = lazy ? clock.tick().toString() : null;
    int n = 0;
    io.startBatching();
    try (PreparedStatement ps = conn.prepareStatement(lazy ? Unloaded.notPlainKeys(t) : Capture.existingKeysSql(t));
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        saveMeta(t.name(), Capture.canonicalKey(t, Sql.read(rs, 1)), pendingInsert(t, lazy ? loadClock : clock.tick().toString()));
        if (++n % Capture.LOG_CHUNK == 0) {
          io.flush(); // bounded memory, however many rows the table holds
        }
      }
      io.stopBatching();
    } finally {
      io.discard(); // a no-op once stopBatching sent the queue; drops it on a failure
    }
    if (lazy && Sql.number(conn, "SELECT EXISTS (SELECT 1 FROM " + Sql.q(t.name()) + " u WHERE " + Unloaded.canonical(t, "u")
        + " IS NOT NULL)") > 0) {
      // (An empty table, the common case of a new app, is not marked: nothing waits, and the
      // push would look for waiting rows in vain, every row its app writes.)
      setMeta(LOAD + t.name(), loadClock);
    }
    setMeta("hlc", clock.current().toString());
    return n;
  }

  /**
   * Whether an unsettled batch may hold waiting rows of {@code table}: their metadata is written
   * when the batch is settled, and were the batch discarded they would be waiting again. Entries
   * whose batch left the outbox by another way (a transaction that failed after building it) go.
   */
  private boolean holdsUnloaded(String table) throws SQLException {
    if (unloadedBatches.isEmpty()) {
      return false;
    }
    java.util.Set<String> inOutbox = new java.util.HashSet<>();
    try (PreparedStatement ps = conn.prepareStatement("SELECT batch FROM _tidesync_outbox"); ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        inOutbox.add(rs.getString(1));
      }
    }
    unloadedBatches.keySet().retainAll(inOutbox);
    return unloadedBatches.containsValue(table) || unloadedBatches.containsValue(ANY_TABLE);
  }

  /** {@code _tidesync_meta} key prefix of a table whose initial load is not all in the metadata: its value is the load's clock. */
  private static final String LOAD = "load:";

  /**
   * Whether a table's initial load can wait (see {@link #loadExisting}): a one-column key, no
   * foreign key to itself, and no COLLATE anywhere in its definition. Under a collation other
   * than BINARY, a change of a key's case is no change to the triggers (the row would look
   * unloaded under its new key and go again as a second row), and the scan in key order could
   * not use the key's index (found by review).
   */
  private boolean lazilyLoaded(TableSchema t) throws SQLException {
    if (t.primaryKey().size() != 1 || t.foreignKeys().stream().anyMatch(fk -> fk.refTable().equals(t.name()))) {
      return false;
    }
    String sql = Sql.string(conn, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", t.name());
    return sql != null && !sql.toUpperCase(java.util.Locale.ROOT).contains("COLLATE");
  }

  /** Tables whose initial load is not all in the metadata, with their load clocks. */
  private Map<String, String> loads() throws SQLException {
    Map<String, String> out = new TreeMap<>();
    try (PreparedStatement ps = conn.prepareStatement("SELECT k, v FROM _tidesync_meta WHERE k >= 'load:' AND k < 'load;'");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.put(rs.getString(1).substring(LOAD.length()), rs.getString(2));
      }
    }
    return out;
  }

  /**
   * The metadata of a pending insert of a whole row of {@code t} at {@code hlc}: what a row of an
   * initial load is, whether written now or waiting in its table (see {@link #loadExisting}).
   */
  private static RowMeta pendingInsert(TableSchema t, String hlc) {
    Map<String, String> pending = new HashMap<>();
    for (String col : t.nonKeyColumns()) {
      pending.put(col, hlc);
    }
    return new RowMeta(0, 1, hlc, null, pending, null);
  }

  /** The pending column of a whole-row insert of {@code t} at its row's clock: every column ("*N"), or none. */
  private static String allPending(TableSchema t) {
    return t.nonKeyColumns().isEmpty() ? null : "*" + t.nonKeyColumns().size();
  }

  /**
   * Writes the rows of {@code table}'s initial load that have no metadata yet into it, as the
   * pending inserts at {@code loadClock} that they are, and ends the lazy load. Before a path
   * that reads the metadata of rows that may be unloaded and does not stand in for them itself
   * (absorbing does, see {@link #pendingInsert}): a pulled change of one (which must meet it as a
   * pending local insert), the comparison of a rebuilt table's rows with the metadata, a table
   * that can no longer be loaded lazily.
   */
  private void finishLoad(String table, String loadClock) throws SQLException {
    io.flush();
    TableSchema t = tables.get(table);
    if (t != null && lazilyLoaded(t)) {
      try (PreparedStatement ps = conn.prepareStatement(Unloaded.load(t))) {
        ps.setString(1, table);
        ps.setString(2, loadClock);
        ps.setString(3, allPending(t));
        ps.setString(4, table);
        ps.executeUpdate();
      }
    } else if (t != null) {
      // Its key or its references changed since: every row without metadata, whatever its key,
      // keyed from Java as the triggers would log it.
      try (PreparedStatement keys = conn.prepareStatement(Capture.existingKeysSql(t));
          PreparedStatement add = conn.prepareStatement("INSERT INTO _tidesync_rows (tbl, pk, ver, dirty, live, pending) "
              + "VALUES (?, ?, 0, 1, ?, ?) ON CONFLICT (tbl, pk) DO NOTHING");
          ResultSet rs = keys.executeQuery()) {
        int n = 0;
        while (rs.next()) {
          add.setString(1, table);
          add.setString(2, Capture.canonicalKey(t, Sql.read(rs, 1)));
          add.setString(3, loadClock);
          add.setString(4, allPending(t));
          add.addBatch();
          if (++n % 1000 == 0) {
            add.executeBatch();
          }
        }
        add.executeBatch();
      }
    }
    // A table no longer synced keeps no mark: if it comes back, it is loaded again (through the
    // log, where it has metadata).
    Sql.update(conn, "DELETE FROM _tidesync_meta WHERE k = ?", LOAD + table);
  }

  /** Writes every table's initial load into the metadata now, as opening the file did before loads could wait (tests). */
  synchronized void loadAll() {
    Sql.inTx(conn, "loading every table", () -> {
      Map<String, String> loads = loads();
      finishLoads(loads, loads.keySet());
      return null;
    });
  }

  /** {@link #finishLoad} for those of {@code names} whose load ({@code loads}, as {@link #loads} read it) is not finished. */
  private void finishLoads(Map<String, String> loads, java.util.Collection<String> names) throws SQLException {
    for (String name : names) {
      String c = loads.get(name);
      if (c != null) {
        finishLoad(name, c);
      }
    }
  }

  /**
   * The next rows of {@code t}'s lazy initial load (see {@link #loadExisting}) after key
   * {@code after} (null: from the first), in key order: whole-row inserts at the load's clock.
   */
  private List<Change> collectUnloaded(TableSchema t, String loadClock, Object after, int limit, long maxBytes) throws SQLException {
    PreparedStatement ps = io.statement(Unloaded.next(t, after != null));
    int i = 1;
    ps.setString(i++, t.name());
    if (after != null) {
      Sql.bind(ps, i++, after);
    }
    ps.setInt(i, limit);
    List<String> cols = t.nonKeyColumns();
    List<Change> out = new ArrayList<>();
    long read = 0;
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        Map<String, Object> values = new dev.tidesync.protocol.internal.OwnedMap<>(cols.size()); // kept by the Change, not copied
        for (int c = 0; c < cols.size(); c++) {
          values.put(cols.get(c), Sql.read(rs, 2 + c));
        }
        List<Object> key = new dev.tidesync.protocol.internal.OwnedList<>(1);
        key.add(Sql.read(rs, 1));
        out.add(new Change(t.name(), key, false, values, loadClock, Map.of(), 0, 0));
        read += 64 + Sizes.approx(values);
        if (read >= maxBytes) {
          break;
        }
      }
    }
    return out;
  }

  /** Whether two versions of a table have the same key: the same columns, declared with the same types. */
  private static boolean sameKey(TableSchema a, TableSchema b) {
    if (!a.primaryKey().equals(b.primaryKey())) {
      return false;
    }
    for (String k : a.primaryKey()) {
      if (!a.column(k).map(ColumnSchema::type).orElse("").equalsIgnoreCase(b.column(k).map(ColumnSchema::type).orElse(""))) {
        return false;
      }
    }
    return true;
  }

  private void setTables(Map<String, TableSchema> next) throws SQLException {
    Map<String, TableSchema> ordered = new LinkedHashMap<>();
    for (TableSchema t : SchemaOrder.parentsFirst(List.copyOf(next.values()))) {
      ordered.put(t.name(), t);
    }
    boolean same = ordered.equals(tables);
    tables = ordered;
    if (!same) {
      io.reset();
      setMeta("schema", new String(Wire.writeSchema(List.copyOf(ordered.values())), StandardCharsets.UTF_8));
      for (Map.Entry<String, String> load : loads().entrySet()) {
        TableSchema t = ordered.get(load.getKey());
        if (t == null || !lazilyLoaded(t)) {
          // No longer synced (its mark goes: if it comes back it is loaded again), or its key or
          // references changed so that its rows can no longer wait: loaded now.
          finishLoad(load.getKey(), load.getValue());
        }
      }
    }
  }

  // ---------------------------------------------------------------------------- local changes

  /** Turns captured writes into pending row changes with clocks. Returns how many were absorbed. */
  public synchronized int absorb() {
    return Sql.inTx(conn, "absorbing local changes", this::absorbTx);
  }

  private record RowMeta(long ver, int dirty, String live, String dead, Map<String, String> pending, String err) {}

  private RowMeta loadMeta(String table, String key) throws SQLException {
    io.flush(); // a queued write of this row must be seen (RowIo.startBatching)
    PreparedStatement ps = io.statement("SELECT ver, dirty, live, dead, pending, err FROM _tidesync_rows WHERE tbl = ? AND pk = ?");
    ps.setString(1, table);
    ps.setString(2, key);
    try (ResultSet rs = ps.executeQuery()) {
      if (!rs.next()) {
        return null;
      }
      TableSchema t = tables.get(table);
      Map<String, String> pending = t == null ? Keys.parseClocks(rs.getString(5)) : Keys.unpackClocks(rs.getString(5), t.nonKeyColumns(), rs.getString(3));
      return new RowMeta(rs.getLong(1), rs.getInt(2), rs.getString(3), rs.getString(4), pending, rs.getString(6));
    }
  }

  private static final String SAVE_META = "INSERT INTO _tidesync_rows (tbl, pk, ver, dirty, live, dead, pending, err) "
      + "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tbl, pk) DO UPDATE SET ver = excluded.ver, dirty = excluded.dirty, "
      + "live = excluded.live, dead = excluded.dead, pending = excluded.pending, err = excluded.err";

  private void saveMeta(String table, String key, RowMeta m) throws SQLException {
    TableSchema t = tables.get(table);
    String pending = m.pending() == null || m.pending().isEmpty() ? null
        : t == null ? Keys.clocksJson(m.pending()) : Keys.packClocks(m.pending(), t.nonKeyColumns(), m.live());
    io.write(SAVE_META, table, key, m.ver(), (long) m.dirty(), m.live(), m.dead(), pending, m.err());
  }

  private int absorbTx() throws SQLException {
    int total = 0;
    int n;
    do {
      n = absorbChunk();
      total += n;
    } while (n == Capture.LOG_CHUNK);
    return total;
  }

  private int absorbChunk() throws SQLException {
    // The oldest chunk of the log in commit order, each entry with the metadata of its row read
    // in the same query. The join matches only when the log's key text is already canonical
    // (one plain string or integer: the common case); other entries look their row up below.
    PreparedStatement read = io.statement("SELECT " + Capture.ENTRY_COLUMNS + ", " + Capture.JOIN_KEY + ", "
        + "r.pk IS NOT NULL, r.ver, r.dirty, r.live, r.dead, r.pending, r.err "
        + "FROM (SELECT seq, cap, pk, op, mask, wall, vals FROM _tidesync_changes ORDER BY seq LIMIT " + Capture.LOG_CHUNK + ") l "
        + "JOIN _tidesync_capture g ON g.id = l.cap "
        + "LEFT JOIN _tidesync_rows r ON r.tbl = g.tbl AND r.pk = " + Capture.JOIN_KEY + " ORDER BY l.seq");
    record Entry(Capture.LogEntry log, boolean joined, RowMeta meta) {}
    List<Entry> entries = new ArrayList<>();
    try (ResultSet rs = read.executeQuery()) {
      while (rs.next()) {
        Capture.LogEntry e = Capture.entry(rs, 1);
        RowMeta m = null;
        TableSchema t = tables.get(e.table());
        // After the entry's columns (Capture.ENTRY_COLUMNS, 10 of them): the join key, then the metadata.
        if (rs.getBoolean(12) && t != null) {
          String live = rs.getString(15);
          m = new RowMeta(rs.getLong(13), rs.getInt(14), live, rs.getString(16), Keys.unpackClocks(rs.getString(17), t.nonKeyColumns(), live),
              rs.getString(18));
        }
        entries.add(new Entry(e, e.key().equals(rs.getString(11)), m));
      }
    }
    if (entries.isEmpty()) {
      return 0;
    }
    // Coalesce per row in memory, in log order: clocks are ticked in the order the writes
    // committed, so a later local write always carries a newer clock than an earlier one.
    Map<String, RowMeta> rows = new LinkedHashMap<>();
    Map<String, String> loads = loads();
    for (Entry en : entries) {
      Capture.LogEntry e = en.log();
      TableSchema t = tables.get(e.table());
      if (t == null) {
        continue;
      }
      List<String> written = e.written(t);
      if (e.op().equals("U") && written.isEmpty()) {
        continue; // an UPDATE that changed no value is not a change
      }
      String key = e.key();
      String rowKey = e.table() + '\u0000' + key;
      RowMeta m;
      if (rows.containsKey(rowKey)) {
        m = rows.get(rowKey);
      } else if (en.joined()) {
        m = en.meta(); // the join looked up the canonical key: its answer (even "no metadata") holds
      } else {
        m = loadMeta(e.table(), key);
      }
      if (m == null && loads.containsKey(e.table())) {
        // A row of an initial load not written into the metadata yet (see loadExisting): a
        // pending insert of the whole row at the load's clock, which this write adds to. (For a
        // row inserted since, the insert's own entry writes every column anyway: the same.)
        m = pendingInsert(t, loads.get(e.table()));
      }
      String hlc = clock.tick(e.wall()).toString();
      long ver = m == null ? 0 : m.ver();
      // A failed row keeps its unpushed columns: a later edit adds to them, it does not replace them.
      Map<String, String> pending = m == null || m.dirty() == 0 ? new HashMap<>() : new HashMap<>(m.pending());
      String live = m == null ? null : m.live();
      String dead = m == null ? null : m.dead();
      if (e.op().equals("D")) {
        dead = hlc;
        pending.clear();
      } else {
        live = hlc;
        for (String col : written) {
          pending.put(col, hlc);
        }
      }
      rows.put(rowKey, new RowMeta(ver, 1, live, dead, pending, null));
    }
    // One JDBC batch for the chunk's rows (about half the cost of one execution per row), in
    // key order: the app's rows come in any order (random keys such as UUIDs), and written as
    // they came each would land on another page of the metadata's B-trees; sorted, neighbours
    // share pages (absorbing 100k captured inserts: 2.6-2.8 s in log order, 1.7 s sorted; the
    // clocks were ticked above, in log order). A failure drops the queue and fails absorb's
    // transaction, which rolls back.
    List<Map.Entry<String, RowMeta>> sorted = new ArrayList<>(rows.entrySet());
    sorted.sort(Map.Entry.comparingByKey());
    io.startBatching();
    try {
      for (Map.Entry<String, RowMeta> r : sorted) {
        int cut = r.getKey().indexOf('\u0000');
        saveMeta(r.getKey().substring(0, cut), r.getKey().substring(cut + 1), r.getValue());
      }
      io.stopBatching();
    } finally {
      io.discard(); // a no-op once stopBatching sent the queue
    }
    Capture.trimLog(io, entries.get(entries.size() - 1).log().seq());
    setMeta("hlc", clock.current().toString());
    return entries.size();
  }

  // ---------------------------------------------------------------------------- push

  /**
   * The stored encoding of a batch this replica built (or read from its outbox), so that it is
   * sent byte for byte as recorded and not encoded twice; null once the batch is settled.
   */
  public synchronized byte[] encodedBatch(String batch) {
    return encoded.get(batch);
  }

  /** Batches recorded but not yet acknowledged (the process stopped mid-push): resend these first. */
  public synchronized List<PushRequest> outbox() {
    return Sql.inTx(conn, "reading the outbox", () -> {
      List<PushRequest> out = new ArrayList<>();
      try (PreparedStatement ps = conn.prepareStatement("SELECT body FROM _tidesync_outbox ORDER BY rowid");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          byte[] body = rs.getBytes(1);
          PushRequest req = Wire.readPush(new java.io.ByteArrayInputStream(body), Integer.MAX_VALUE);
          encoded.put(req.batch(), body);
          out.add(req);
        }
      }
      return out;
    });
  }

  /**
   * The next batch of at most {@code limit} changes of one table, or null when the scan is done
   * or at one of its barriers: call again while {@link PushScan#resume} is true, after recording
   * every answer. Upserts go table by table parents first, then deletes children first. The batch
   * is recorded in the outbox in the same transaction, so a crash after sending it resends the
   * same batch id.
   */
  public synchronized PushRequest nextBatch(String dataset, PushScan scan, int limit) {
    return nextBatch(dataset, scan, table -> limit, Long.MAX_VALUE);
  }

  /**
   * As {@link #nextBatch(String, PushScan, int)}, with a limit of changes per table and a limit on
   * the batch's encoded size: a batch whose body would be larger than {@code maxBytes} holds
   * fewer rows (at least one), and the scan goes on after the last row it holds.
   */
  public synchronized PushRequest nextBatch(String dataset, PushScan scan, java.util.function.ToIntFunction<String> limitOf, long maxBytes) {
    return Sql.inTx(conn, "preparing a push batch", () -> {
      if (!loads().isEmpty()) {
        // While a load waits, a row the app inserted since the last absorb has no metadata
        // either: absorbed first (in this transaction, so no write slips between), it is not
        // taken for a waiting row and sent at the load's clock, then again at its own.
        absorbTx();
      }
      List<TableSchema> order = new ArrayList<>(tables.values());
      int n = order.size();
      while (scan.phase < 2 * n) {
        boolean deletes = scan.phase >= n;
        if (deletes && scan.stopAt(0)) {
          return null;
        }
        TableSchema t = deletes ? order.get(2 * n - 1 - scan.phase) : order.get(scan.phase);
        int limit = Math.max(1, limitOf.applyAsInt(t.name()));
        List<Change> changes;
        List<String> keys = null; // parents first: the keys asked for, from index `from` of the order
        int from = 0;
        String loadClock = null;
        if (scan.pendingDone) {
          // A table whose initial load is not all in the metadata: its unloaded rows, after its
          // pending rows (so that a row refused in this scan, which is then in the metadata, is
          // not sent again in the same scan).
          loadClock = meta(LOAD + t.name());
          changes = loadClock == null ? List.of() : collectUnloaded(t, loadClock, scan.unloadedAfter, limit, maxBytes);
          if (changes.isEmpty()) {
            // None left from the first key on, and none in a batch not yet settled (whose rows
            // have no metadata yet, and would be unloaded again were it discarded): every row of
            // the load has its metadata now.
            if (loadClock != null && scan.unloadedAfter == null && !holdsUnloaded(t.name())) {
              Sql.update(conn, "DELETE FROM _tidesync_meta WHERE k = ?", LOAD + t.name());
            }
            scan.nextPhase();
            continue;
          }
        } else {
          List<String> selfRefs = deletes ? List.of() : selfReferences(t);
          if (!selfRefs.isEmpty() && scan.parentsFirst == null) {
            // Rows of a table that refers to itself go parents first, not in key order: a child
            // in an earlier batch than its parent would fail its foreign key on the server.
            // (Within a batch the server orders them itself.) The order is taken once per scan
            // of the table.
            scan.parentsFirst = pendingParentsFirst(t, selfRefs);
            scan.parentsFirstAt = 0;
          }
          if (!selfRefs.isEmpty() && scan.parentsFirst != KEY_ORDER) {
            changes = List.of();
            while (changes.isEmpty() && scan.parentsFirstAt < scan.parentsFirst.size()) {
              from = scan.parentsFirstAt;
              keys = scan.parentsFirst.subList(from, Math.min(scan.parentsFirst.size(), from + limit));
              scan.parentsFirstAt += keys.size();
              changes = collectKeys(t, keys, maxBytes);
            }
          } else {
            changes = collect(t, deletes, scan.lastKey, limit, maxBytes);
          }
          if (changes.isEmpty()) {
            if (deletes) {
              scan.nextPhase();
            } else {
              scan.pendingDone = true; // the table's unloaded rows next, if it has any
            }
            continue;
          }
        }
        // The whole schema travels with every batch (it is small): the first push of a dataset
        // creates all its tables, and the server sees new columns before rows that use them.
        List<TableSchema> schema = List.copyOf(tables.values());
        String batch = UUID.randomUUID().toString();
        PushRequest req = new PushRequest(dataset, deviceId, batch, schema, changes);
        byte[] body = Wire.writePush(req);
        while (body.length > maxBytes && changes.size() > 1) {
          // Too large: keep the rows that fit by their estimated sizes (fewer each time, at least
          // one), and measure again. The rows left out stay pending for the next batch.
          changes = changes.subList(0, fitting(changes, body.length, maxBytes));
          req = new PushRequest(dataset, deviceId, batch, schema, changes);
          body = Wire.writePush(req);
        }
        if (loadClock != null) {
          scan.unloadedAfter = changes.get(changes.size() - 1).pk().get(0); // the last row the batch holds
          toOutbox(req, body);
          unloadedBatches.put(req.batch(), t.name());
          return req;
        }
        String last = Keys.canonical(changes.get(changes.size() - 1).pk());
        int at = keys != null ? keys.indexOf(last) : -1;
        if (at >= 0) {
          // Parents first: go on after the last key this batch holds (a batch cut short by its
          // bytes holds fewer than were asked for; keys after it that were not pending are asked
          // again, and yield nothing again).
          scan.parentsFirstAt = from + at + 1;
        }
        scan.lastKey = last;
        return toOutbox(req, body);
      }
      if (scan.phase == 2 * n) {
        if (scan.stopAt(1)) {
          return null;
        }
        // Nothing (more) to push: still send the schema once if the server has not taken this
        // version of it, so a new table or column reaches the dataset before any row does.
        scan.phase++;
        String current = new String(Wire.writeSchema(List.copyOf(tables.values())), StandardCharsets.UTF_8);
        if (!tables.isEmpty() && !current.equals(meta("pushed_schema"))) {
          PushRequest req = new PushRequest(dataset, deviceId, UUID.randomUUID().toString(), List.copyOf(tables.values()), List.of());
          return toOutbox(req);
        }
      }
      return null;
    });
  }

  /**
   * One batch of the pending changes of the rows {@code rows} (table → canonical keys), of every
   * table at once, parents' tables first; null when none of them is pending any more, when they
   * are upserts that do not refer to each other in a cycle, or when they encode to more than
   * {@code maxBytes} (they are not cut: the point is that they go together). For the rows a push's rounds could not get through one batch at a time: rows
   * tied by a cycle of foreign keys, which the server applies only as one group (see
   * TidesyncClient.push). Recorded in the outbox like any batch.
   */
  public synchronized PushRequest batchOfRows(String dataset, Map<String, ? extends java.util.Collection<String>> rows, long maxBytes) {
    return Sql.inTx(conn, "preparing a push batch", () -> {
      List<Change> changes = new ArrayList<>();
      for (TableSchema t : tables.values()) {
        java.util.Collection<String> keys = rows.get(t.name());
        if (keys == null || keys.isEmpty()) {
          continue;
        }
        for (boolean deletes : new boolean[] {false, true}) {
          PreparedStatement ps = io.statement("SELECT r.pk, r.ver, r.live, r.dead, r.pending FROM json_each(?) k "
              + "JOIN _tidesync_rows r ON r.tbl = ? AND r.pk = k.value WHERE r.dirty = 1 AND " + DELETED + " = ? ORDER BY k.key");
          ps.setString(1, Sql.jsonArray(keys));
          ps.setString(2, t.name());
          ps.setInt(3, deletes ? 1 : 0);
          changes.addAll(changes(t, deletes, false, ps, Long.MAX_VALUE));
        }
      }
      if (changes.isEmpty()) {
        return null;
      }
      if (changes.stream().noneMatch(Change::deleted)) {
        // Upserts alone: sent only if they refer to each other in a cycle (by their values here),
        // not for rows whose parent exists nowhere, sync after sync. A delete's row is gone here,
        // and with it what it referred to: rows with deletes go, whether or not they are a cycle.
        List<Integer> all = java.util.stream.IntStream.range(0, changes.size()).boxed().toList();
        List<TableSchema> of = changes.stream().map(c -> tables.get(c.table())).toList();
        if (!ForeignKeyGroups.hasCycle(all, changes, tables, ForeignKeyGroups.referenceValues(all, changes, of, io::read))) {
          return null;
        }
      }
      PushRequest req = new PushRequest(dataset, deviceId, UUID.randomUUID().toString(), List.copyOf(tables.values()), changes);
      byte[] body = Wire.writePush(req);
      if (body.length > maxBytes) {
        log.warn("{}: {} rows refused for now make {} bytes, more than a batch's {}: not sent together", deviceId, changes.size(),
            body.length, maxBytes);
        return null;
      }
      return toOutbox(req, body);
    });
  }

  /**
   * How many of {@code changes}, from the first, fit in {@code maxBytes} when all of them encode
   * to {@code total} bytes: by each change's estimated size, with the rest of the body (the
   * schema, the envelope) counted once; always fewer than all of them and at least one.
   */
  static int fitting(List<Change> changes, long total, long maxBytes) {
    long[] est = new long[changes.size()];
    long sum = 0;
    for (int i = 0; i < est.length; i++) {
      est[i] = Sizes.approx(changes.get(i));
      sum += est[i];
    }
    // The estimates miss escapes and multi-byte characters: scale them to the measured total.
    double scale = Math.max(1.0, (double) total / Math.max(1, sum));
    long overhead = Math.max(0, total - (long) (sum * scale));
    long room = maxBytes - overhead;
    int keep = 0;
    double used = 0;
    while (keep < est.length && used + est[keep] * scale <= room) {
      used += est[keep] * scale;
      keep++;
    }
    return Math.max(1, Math.min(keep, changes.size() - 1));
  }

  /** Records a batch in the outbox (inside the caller's transaction) before it is sent. */
  private PushRequest toOutbox(PushRequest req) throws SQLException {
    return toOutbox(req, Wire.writePush(req));
  }

  /** As {@link #toOutbox(PushRequest)}, with the batch already encoded. */
  private PushRequest toOutbox(PushRequest req, byte[] body) throws SQLException {
    PreparedStatement ps = io.statement("INSERT INTO _tidesync_outbox (batch, dataset, body, at) VALUES (?, ?, ?, ?)");
    ps.setString(1, req.batch());
    ps.setString(2, req.dataset());
    ps.setBytes(3, body);
    encoded.put(req.batch(), body);
    ps.setLong(4, clock.wallMillis());
    ps.executeUpdate();
    return req;
  }

  /** Whether a pending row is live (0) or deleted (1), in SQL over {@code _tidesync_rows r}. */
  private static final String DELETED = "(CASE WHEN " + Capture.LIVE + " THEN 0 ELSE 1 END)";

  /** The user table's columns that {@link #changes} reads after the metadata when it joins the row: the key, then the rest. */
  private static String joinedColumns(TableSchema t) {
    return ", u." + Sql.q(t.primaryKey().get(0)) + t.nonKeyColumns().stream().map(c -> ", u." + Sql.q(c)).collect(java.util.stream.Collectors.joining());
  }

  private static String joinRow(TableSchema t) {
    return " LEFT JOIN " + Sql.q(t.name()) + " u ON u." + Sql.q(t.primaryKey().get(0)) + " = (r.pk ->> 0)";
  }

  private List<Change> collect(TableSchema t, boolean deletes, String afterKey, int limit, long maxBytes) throws SQLException {
    // Upserts of a one-column key read the row's current values in the same query (a join on
    // the key taken from the canonical text) instead of one point query per row. A row the join
    // does not find under that value is read by its key as before (see below).
    boolean join = !deletes && t.primaryKey().size() == 1;
    // INDEXED BY: without statistics the planner prefers the primary key and walks every row
    // of the table; the partial index holds only the pending ones.
    PreparedStatement ps = io.statement("SELECT r.pk, r.ver, r.live, r.dead, r.pending" + (join ? joinedColumns(t) : "")
        + " FROM _tidesync_rows r INDEXED BY _tidesync_rows_pending" + (join ? joinRow(t) : "")
        + " WHERE r.dirty = 1 AND r.tbl = ? AND r.pk > ? AND " + DELETED + " = ? ORDER BY r.pk LIMIT ?");
    ps.setString(1, t.name());
    ps.setString(2, afterKey);
    ps.setInt(3, deletes ? 1 : 0);
    ps.setInt(4, limit);
    return changes(t, deletes, join, ps, maxBytes);
  }

  /** The pending upserts among the rows {@code keys} (canonical) of a table with a one-column key, in that order. */
  private List<Change> collectKeys(TableSchema t, List<String> keys, long maxBytes) throws SQLException {
    PreparedStatement ps = io.statement(collectKeysSql(t));
    ps.setString(1, Sql.jsonArray(keys));
    ps.setString(2, t.name());
    return changes(t, false, true, ps, maxBytes);
  }

  /** {@link #collectKeys}'s statement: parameters are the keys as a JSON array, then the table. */
  static String collectKeysSql(TableSchema t) {
    return "SELECT r.pk, r.ver, r.live, r.dead, r.pending" + joinedColumns(t)
        + " FROM json_each(?) k JOIN _tidesync_rows r ON r.tbl = ? AND r.pk = k.value" + joinRow(t)
        + " WHERE r.dirty = 1 AND " + DELETED + " = 0 ORDER BY k.key";
  }

  /**
   * The columns of {@code t}'s foreign keys to itself, when the table's key is a single column and
   * every such foreign key is a single column referring to it (the case {@link #pendingParentsFirst}
   * orders); else none, and the table goes in key order.
   */
  private static List<String> selfReferences(TableSchema t) {
    List<String> out = new ArrayList<>();
    for (ForeignKey fk : t.foreignKeys()) {
      if (fk.refTable().equals(t.name())) {
        boolean toKey = fk.refColumns().isEmpty() || fk.refColumns().equals(t.primaryKey());
        if (fk.columns().size() != 1 || t.primaryKey().size() != 1 || !toKey) {
          return List.of();
        }
        out.add(fk.columns().get(0));
      }
    }
    return out;
  }

  /**
   * Pending rows of one self-referencing table ordered in memory at most (a review measured about
   * 220 MB of heap for 300,000). A test lowers it.
   */
  static volatile int parentsFirstMax = 250_000;

  /** {@link #pendingParentsFirst}'s answer when there are too many: the table goes in key order. */
  private static final List<String> KEY_ORDER = java.util.Collections.unmodifiableList(new ArrayList<>());

  /**
   * The canonical keys of the table's pending upserts, each after every pending row it refers to
   * through {@code refs} (its depth among pending rows, then key order; a cycle, which an app's
   * updates can make, is broken somewhere and the rest ordered from there). Holds the
   * table's pending keys in memory, so at most {@link #parentsFirstMax} of them.
   */
  private List<String> pendingParentsFirst(TableSchema t, List<String> refs) throws SQLException {
    PreparedStatement count = io.statement("SELECT count(*) FROM _tidesync_rows r INDEXED BY _tidesync_rows_pending "
        + "WHERE r.dirty = 1 AND r.tbl = ?");
    count.setString(1, t.name());
    try (ResultSet rs = count.executeQuery()) {
      if (rs.next() && rs.getLong(1) > parentsFirstMax) {
        log.warn("{}: {} has {} pending rows, more than the {} ordered parents first in memory: pushing them in key order "
            + "(a row sent before the row it refers to is refused as retriable and goes in a later sync)", deviceId, t.name(),
            rs.getLong(1), parentsFirstMax);
        return KEY_ORDER;
      }
    }
    PreparedStatement ps = io.statement("SELECT r.pk" + refs.stream().map(c -> ", u." + Sql.q(c)).collect(java.util.stream.Collectors.joining())
        + " FROM _tidesync_rows r INDEXED BY _tidesync_rows_pending" + joinRow(t)
        + " WHERE r.dirty = 1 AND r.tbl = ? AND " + DELETED + " = 0 ORDER BY r.pk");
    ps.setString(1, t.name());
    Map<String, List<String>> parents = new LinkedHashMap<>();
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        List<String> ps2 = new ArrayList<>(refs.size());
        for (int i = 0; i < refs.size(); i++) {
          Object v = Sql.read(rs, 2 + i);
          if (v != null) {
            ps2.add(Keys.canonical(java.util.Collections.singletonList(v)));
          }
        }
        parents.put(rs.getString(1), ps2);
      }
    }
    Map<String, Integer> depth = new HashMap<>();
    for (String key : parents.keySet()) {
      depthOf(key, parents, depth);
    }
    List<String> out = new ArrayList<>(parents.keySet()); // in key order: the sort below is stable
    out.sort(java.util.Comparator.comparingInt(depth::get));
    return out;
  }

  /** Depth of {@code key} among the pending rows: 0 without a pending parent. Iterative, so a deep chain cannot overflow the stack. */
  private static void depthOf(String key, Map<String, List<String>> parents, Map<String, Integer> depth) {
    if (depth.containsKey(key)) {
      return;
    }
    java.util.ArrayDeque<String> stack = new java.util.ArrayDeque<>();
    java.util.Set<String> onStack = new java.util.HashSet<>();
    stack.push(key);
    onStack.add(key);
    while (!stack.isEmpty()) {
      String k = stack.peek();
      int d = 0;
      boolean ready = true;
      for (String p : parents.get(k)) {
        if (p.equals(k) || !parents.containsKey(p) || onStack.contains(p)) {
          continue; // itself, not pending (on the server already, or not a row here), or a cycle
        }
        Integer pd = depth.get(p);
        if (pd == null) {
          stack.push(p);
          onStack.add(p);
          ready = false;
          break;
        }
        d = Math.max(d, pd + 1);
      }
      if (ready) {
        depth.put(k, d);
        stack.pop();
        onStack.remove(k);
      }
    }
  }

  /** The changes of the rows {@code ps} selects (see {@link #collect}; joined: the row's columns follow the metadata). */
  /**
   * The changes of the pending rows {@code ps} selects, in its order, stopping once they reach
   * about {@code maxBytes} (at least one): a batch of large rows must not read a thousand of
   * them into memory before it is cut to size (found by review: 1,000 photos of 2 MiB ran out of
   * heap). The rows left unread stay pending for the next batch.
   */
  private List<Change> changes(TableSchema t, boolean deletes, boolean join, PreparedStatement ps, long maxBytes) throws SQLException {
    List<String> allCols = t.nonKeyColumns();
    // A row whose pending columns are all of them at its live clock (packed "*N", every new row)
    // needs no clock map and no filtering: the common case of a push, kept free of both.
    String allPending = allCols.isEmpty() ? null : "*" + allCols.size();
    record Row(String pk, long ver, String live, String dead, String pending, List<Object> key, Map<String, Object> values) {}
    List<Row> rows = new ArrayList<>();
    long read = 0;
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        String pkText = rs.getString(1);
        List<Object> key = Keys.parseCanonical(pkText);
        Map<String, Object> values = null;
        // A NULL key (SQLite allows one in a non-integer key) joins nothing: read by its key below.
        if (join && key.get(0) != null && key.get(0).equals(Sql.read(rs, 6))) {
          values = new dev.tidesync.protocol.internal.OwnedMap<>(allCols.size()); // kept by the Change, not copied
          for (int i = 0; i < allCols.size(); i++) {
            values.put(allCols.get(i), Sql.read(rs, 7 + i));
          }
        }
        rows.add(new Row(pkText, rs.getLong(2), rs.getString(3), rs.getString(4), rs.getString(5), key, values));
        read += 64 + pkText.length() + (values == null ? 0 : Sizes.approx(values));
        if (read >= maxBytes) {
          break;
        }
      }
    }
    List<Change> out = new ArrayList<>(rows.size());
    long pointRead = 0;
    boolean lww = t.policy() == ConflictPolicy.LAST_WRITE_WINS;
    for (Row r : rows) {
      List<Object> pk = r.key();
      if (deletes) {
        out.add(new Change(t.name(), pk, true, Map.of(), r.dead(), null, r.ver(), 0));
        continue;
      }
      boolean whole = lww || (allPending != null && allPending.equals(r.pending()));
      Map<String, String> pending = whole ? Map.of() : Keys.unpackClocks(r.pending(), allCols, r.live());
      // Last-write-wins sends the whole row under one clock: the newest image must win entirely.
      List<String> cols = whole ? allCols : allCols.stream().filter(pending::containsKey).toList();
      Map<String, Object> values;
      if (r.values() != null) {
        // Joined under the key the canonical text gives back (see above): the row's values now.
        values = r.values();
        if (!whole) {
          values.keySet().retainAll(cols);
        }
      } else {
        // Not joined (a key the canonical text does not give back as the stored value, such as
        // a BLOB, or a row deleted since the last absorb): the point query decides.
        values = io.read(t, pk, cols);
      }
      if (values == null && pk.contains(null)) {
        // SQLite allows NULL in a non-integer key, but such a row has no identity to sync by
        // (and no point query finds it): it is failed, so status and errors name it, rather
        // than pending for ever.
        PreparedStatement fail = io.statement("UPDATE _tidesync_rows SET dirty = 2, err = ? WHERE tbl = ? AND pk = ? AND dirty = 1");
        fail.setString(1, "a NULL primary key value cannot be synced; give the row a key");
        fail.setString(2, t.name());
        fail.setString(3, r.pk());
        fail.executeUpdate();
        continue;
      }
      if (values == null) {
        continue; // deleted since the last absorb: the next absorb turns it into a delete
      }
      Map<String, String> clocks = new HashMap<>();
      if (!whole) {
        for (String c : cols) {
          String clk = pending.get(c);
          if (clk != null && !clk.equals(r.live())) {
            clocks.put(c, clk);
          }
        }
      }
      out.add(new Change(t.name(), pk, false, values, r.live(), clocks, r.ver(), 0));
      if (r.values() == null) {
        // Read by its key just above: not counted while the query was read.
        pointRead += Sizes.approx(values);
        if (pointRead >= maxBytes) {
          break;
        }
      }
    }
    return out;
  }

  /**
   * What a push did to the local rows. {@code deferred}: rows the server refused for good in a
   * batch whose refusals were to be retried (see {@link #recordPushResult(PushRequest, PushResult,
   * boolean)}); they stay pending and are not in {@code rejected} or {@code errors}.
   * {@code retriable}: the entries of {@code errors} whose rows were refused for now (a foreign
   * key whose other row is not there yet, or still there): they stay pending.
   */
  public record PushOutcome(int applied, int conflicts, int rejected, List<String> errors, int deferred, List<String> retriable) {
    public PushOutcome {
      errors = List.copyOf(errors);
      retriable = List.copyOf(retriable);
    }

    public PushOutcome(int applied, int conflicts, int rejected, List<String> errors, int deferred) {
      this(applied, conflicts, rejected, errors, deferred, List.of());
    }

    public PushOutcome(int applied, int conflicts, int rejected, List<String> errors) {
      this(applied, conflicts, rejected, errors, 0);
    }
  }

  /**
   * Records the server's answer: rows become clean (unless written again since the batch was
   * built: their clock moved on), get the server's version as their new base, or are marked
   * failed with the server's reason. Removes the batch from the outbox.
   */
  public synchronized PushOutcome recordPushResult(PushRequest sent, PushResult result) {
    return recordPushResult(sent, result, false);
  }

  /**
   * As {@link #recordPushResult(PushRequest, PushResult)}; with {@code deferRefusals}, a row the
   * server refused for good (a constraint) stays pending instead of failed, to be pushed again.
   * For a batch that was on the wire beside another of its table: the server may have applied the
   * two in either order, and a refusal can come of that order alone (a unique value that the
   * other batch's row gave up only after this one was applied).
   */
  public synchronized PushOutcome recordPushResult(PushRequest sent, PushResult result, boolean deferRefusals) {
    return Sql.inTx(conn, "recording a push result", () -> {
      absorbTx();
      // Tables whose initial load is not all in the metadata: a row of theirs may have none.
      Map<String, String> loads = loads();
      int applied = 0;
      int conflicts = 0;
      int rejected = 0;
      int deferred = 0;
      List<String> errors = new ArrayList<>();
      List<String> retriable = new ArrayList<>();
      // The settled rows go as one JDBC batch of SETTLE. A row is clean only if no local write
      // came after the one we sent: every local write ticks the clock, so "its newest clock is
      // still the one we sent" says exactly that.
      List<Object[]> settled = new ArrayList<>(result.results().size());
      for (ChangeResult r : result.results()) {
        if (r.index() < 0 || r.index() >= sent.changes().size()) {
          continue;
        }
        Change c = sent.changes().get(r.index());
        String key = Keys.canonical(c.pk());
        if (r.rejected()) {
          if (loads.containsKey(c.table())) {
            unloadedToMetadata(c, key); // pending still, or failed below: either way in the metadata now
          }
          if (deferRefusals && !r.retriable()) {
            deferred++;
            continue;
          }
          rejected++;
          String error = c.table() + " " + key + ": " + r.reason();
          errors.add(error);
          if (r.retriable()) {
            retriable.add(error);
          } else {
            markFailed(c.table(), key, c.hlc(), r.reason());
          }
          continue;
        }
        if (ChangeResult.CONFLICT.equals(r.status())) {
          conflicts++;
        } else {
          applied++;
        }
        // Only an "applied" answer means the server's row is what we hold: then its version is
        // our new base. After a merge or a conflict the server's row differs; we keep the old
        // base so that the pull that follows delivers the merged row (and a local edit made
        // before that is pushed as a conflict, resolved on the server, never lost).
        settled.add(new Object[] {key, c.hlc(), ChangeResult.APPLIED.equals(r.status()) ? r.version() : 0L, c.table()});
      }
      io.startBatching();
      try {
        for (Object[] row : settled) {
          io.write(loads.containsKey((String) row[3]) ? SETTLE_UNLOADED : SETTLE, row);
        }
        io.stopBatching();
      } finally {
        io.discard(); // a no-op once stopBatching sent the queue
      }
      Sql.update(conn, "DELETE FROM _tidesync_outbox WHERE batch = ?", sent.batch());
      encoded.remove(sent.batch());
      unloadedBatches.remove(sent.batch());
      setMeta("pushed_schema", new String(Wire.writeSchema(sent.schema()), StandardCharsets.UTF_8));
      return new PushOutcome(applied, conflicts, rejected, errors, deferred, retriable);
    });
  }

  /**
   * Settles one pushed row: parameters are the key, the clock it was pushed with, the version the
   * server gave it (0: keep the base) and the table. Sent as a JDBC batch per answer: that costs
   * less than one statement over the answer's rows as a JSON array, which it replaced (BENCHMARKS.md,
   * session 5). {@code DeviceReplicaPlanTest} holds it to the key lookup.
   */
  static final String SETTLE = "UPDATE _tidesync_rows AS r SET ver = max(ver, ?3), "
      + "dirty = CASE WHEN dirty = 1 AND max(coalesce(live, ''), coalesce(dead, '')) = ?2 THEN 0 ELSE dirty END, "
      + "pending = CASE WHEN dirty = 1 AND max(coalesce(live, ''), coalesce(dead, '')) = ?2 THEN NULL ELSE pending END "
      + "WHERE tbl = ?4 AND pk = ?1";

  /**
   * {@link #SETTLE} for a table whose initial load is not all in the metadata: a row of the load
   * that has none yet gets it here, once, clean (its clock the load's, as sent).
   */
  static final String SETTLE_UNLOADED = "INSERT INTO _tidesync_rows (tbl, pk, ver, dirty, live) VALUES (?4, ?1, ?3, 0, ?2) "
      + "ON CONFLICT (tbl, pk) DO UPDATE SET " + SETTLE.substring(SETTLE.indexOf(" SET ") + 5, SETTLE.indexOf(" WHERE "));

  /** A sent upsert of a row that may have no metadata yet (an unloaded row, see {@link #loadExisting}): writes what it stands for. */
  private void unloadedToMetadata(Change c, String key) throws SQLException {
    TableSchema t = tables.get(c.table());
    if (c.deleted() || t == null) {
      return;
    }
    Sql.update(conn, "INSERT INTO _tidesync_rows (tbl, pk, ver, dirty, live, pending) VALUES (?, ?, 0, 1, ?, ?) "
        + "ON CONFLICT (tbl, pk) DO NOTHING", c.table(), key, c.hlc(), allPending(t));
  }

  /** Marks a pushed row failed for good with the server's reason, unless the app wrote it since it was sent; whether it did. */
  private boolean markFailed(String table, String key, String hlc, String reason) throws SQLException {
    PreparedStatement failed = io.statement("UPDATE _tidesync_rows SET dirty = 2, err = ? "
        + "WHERE tbl = ? AND pk = ? AND dirty = 1 AND max(coalesce(live, ''), coalesce(dead, '')) = ?");
    failed.setString(1, reason);
    failed.setString(2, table);
    failed.setString(3, key);
    failed.setString(4, hlc);
    return failed.executeUpdate() > 0;
  }

  /**
   * A row the server refused by itself as a whole batch (one larger than the server takes): it is
   * failed as if refused for good in an answer (see {@link #failures}), so that the rest of its
   * table goes on. Returns the error as a push reports a refused row, or null when the app wrote
   * the row after the batch was built (it stays pending, and goes with its new values).
   */
  public synchronized String refuseAlone(Change c, String reason) {
    String key = Keys.canonical(c.pk());
    boolean failed = Sql.inTx(conn, "recording a refused row", () -> {
      if (meta(LOAD + c.table()) != null) {
        unloadedToMetadata(c, key);
      }
      return markFailed(c.table(), key, c.hlc(), reason);
    });
    return failed ? c.table() + " " + key + ": " + reason : null;
  }

  /** Drops an outbox batch the server refused as a whole (its rows stay dirty and are rebuilt). */
  public synchronized void discardBatch(String batch) {
    Sql.inTx(conn, "discarding a batch", () -> Sql.update(conn, "DELETE FROM _tidesync_outbox WHERE batch = ?", batch));
    encoded.remove(batch);
    unloadedBatches.remove(batch);
  }

  // ---------------------------------------------------------------------------- pull

  /** Forgets the cursor: the next pull is a bootstrap. */
  public synchronized void resetCursor() {
    Sql.inTx(conn, "resetting the cursor", () -> Sql.update(conn, "DELETE FROM _tidesync_meta WHERE k = 'cursor'"));
    cursor = null;
  }

  /**
   * Applies one pulled page and moves the cursor, in one transaction. Local writes are absorbed
   * first inside the same transaction, so a row written locally a moment before is seen as dirty
   * and not overwritten; a local write after this transaction is captured as usual.
   */
  /**
   * What applying a page did: rows written, rows a local constraint refused (with the reason),
   * and refused local changes a newer pulled change superseded ({@link Superseded#describe}).
   */
  public record ApplyOutcome(int applied, List<String> errors, List<String> superseded) {
    /** The shape before refused changes could be superseded: none were. */
    public ApplyOutcome(int applied, List<String> errors) {
      this(applied, errors, List.of());
    }
  }

  public synchronized ApplyOutcome applyPage(PullPage page) {
    // A pulled row the app's trigger refuses with RAISE(ROLLBACK) ends the whole transaction, not
    // only its statement: the page is applied again without it (reported as refused here), in a
    // new transaction. Bounded: each round skips one more of the page's rows.
    Map<Integer, String> skip = new LinkedHashMap<>();
    for (;;) {
      try {
        return applyPageTx(page, skip);
      } catch (RowEndedTransaction e) {
        // sqlite-jdbc leaves the ROLLBACK TO that found no savepoint unusable ("statement is not
        // executing"): the cached statements are prepared afresh.
        io.reset();
        if (skip.putIfAbsent(e.index, e.getMessage()) != null) {
          throw new StoreException("applying a pulled page: its row " + e.index + " ended the transaction again", (SQLException) e.getCause());
        }
      }
    }
  }

  /** A pulled row (the page's {@code index}-th) whose write made SQLite end the transaction. */
  private static final class RowEndedTransaction extends RuntimeException {
    final int index;

    RowEndedTransaction(int index, SQLException cause) {
      super(cause.getMessage(), cause, true, false);
      this.index = index;
    }
  }

  /**
   * Rolls back to {@code savepoint} and releases it after {@code failure} of the page's {@code
   * index}-th row (-1: the whole page); throws {@link RowEndedTransaction} when SQLite ended the
   * whole transaction instead, so that no savepoint is left.
   */
  private void undo(String savepoint, SQLException failure, int index) throws SQLException {
    try {
      io.statement("ROLLBACK TO " + savepoint).execute();
    } catch (SQLException gone) {
      if (!Sql.noSuchSavepoint(gone)) {
        failure.addSuppressed(gone);
        throw failure;
      }
      throw new RowEndedTransaction(index, failure);
    }
    io.statement("RELEASE " + savepoint).execute();
  }

  private ApplyOutcome applyPageTx(PullPage page, Map<Integer, String> skip) {
    return Sql.inTx(conn, "applying a pulled page", () -> {
      absorbTx();
      // A pulled change of a row that has no metadata yet must meet it as the pending local
      // insert it is: the initial loads of the page's tables are written out first.
      // The app's own triggers fire as the page is applied, with capture off: rows they write
      // into a table whose load waits would look like rows of the load. Every load is written
      // out first when the file has such triggers (found by review).
      Map<String, String> loads = loads();
      if (!loads.isEmpty() && !page.changes().isEmpty() && Capture.hasOtherTriggers(conn)) {
        finishLoads(loads, loads.keySet());
      } else {
        finishLoads(loads, page.changes().stream().map(Change::table).collect(java.util.stream.Collectors.toSet()));
      }
      adoptServerSchema(page.schema());
      Capture.beginApply(conn);
      List<String> errors = new ArrayList<>();
      List<String> superseded = new ArrayList<>();
      int applied;
      // Fast path: the whole page under one savepoint. If a local constraint refuses a row (a
      // UNIQUE the server does not have, a stricter CHECK), the page is applied again row by row
      // so that one row cannot stop every later pull: it is skipped and reported, the rest and
      // the cursor move on.
      if (skip.isEmpty()) {
        io.statement("SAVEPOINT page").execute();
        try {
          applied = applyChanges(page, false, errors, superseded, skip);
          io.statement("RELEASE page").execute();
        } catch (SQLException e) {
          if (!StoreException.isConstraint(e)) {
            throw e;
          }
          undo("page", e, -1); // if SQLite ended the transaction: row by row from the start, in a new one
          superseded.clear();
          applied = applyChanges(page, true, errors, superseded, skip);
        }
      } else {
        applied = applyChanges(page, true, errors, superseded, skip);
      }
      Capture.endApply(conn);
      setMeta("cursor", page.cursor());
      setMeta("hlc", clock.current().toString());
      cursor = page.cursor();
      return new ApplyOutcome(applied, errors, superseded);
    });
  }

  private int applyChanges(PullPage page, boolean isolate, List<String> errors, List<String> superseded, Map<Integer, String> skip)
      throws SQLException {
    if (isolate) {
      return applyEach(page, Map.of(), true, errors, superseded, skip);
    }
    // The whole page at once: the rows' metadata read with one query per table, and the writes
    // sent as JDBC batches (RowIo.startBatching); a failure surfaces at a flush and fails the
    // page, which applyPage then applies row by row.
    Map<String, RowMeta> ahead = readAheadMeta(page.changes());
    io.startBatching();
    try {
      int applied = applyEach(page, ahead, false, errors, superseded, skip);
      io.stopBatching();
      return applied;
    } finally {
      io.discard(); // a no-op once stopBatching sent the queue
    }
  }

  /** {@link #readAheadMeta}'s answer for a row that has no metadata. */
  private static final RowMeta NO_META = new RowMeta(-1, -1, null, null, Map.of(), null);

  /**
   * The metadata of the pulled rows, with one query per table: "table \0 key" to the row's
   * metadata, or {@link #NO_META}. Only keys that JSON carries to SQLite unchanged are read ahead;
   * the others are looked up one by one.
   */
  private Map<String, RowMeta> readAheadMeta(List<Change> changes) throws SQLException {
    Map<String, List<String>> keys = new LinkedHashMap<>();
    Map<String, RowMeta> out = new HashMap<>();
    for (Change c : changes) {
      String key = Keys.canonical(c.pk());
      if (tables.containsKey(c.table()) && Sql.printableAscii(key)) {
        keys.computeIfAbsent(c.table(), k -> new ArrayList<>()).add(key);
        out.put(c.table() + '\u0000' + key, NO_META);
      }
    }
    // The keys' array drives the loop: IN (SELECT value FROM json_each(?)) built and sorted a
    // temporary index of the keys first (see SqliteDatasetStore.readValues).
    PreparedStatement ps = io.statement("SELECT r.pk, r.ver, r.dirty, r.live, r.dead, r.pending, r.err FROM json_each(?) k "
        + "CROSS JOIN _tidesync_rows r ON r.tbl = ? AND r.pk = k.value");
    for (Map.Entry<String, List<String>> e : keys.entrySet()) {
      List<String> nonKey = tables.get(e.getKey()).nonKeyColumns();
      ps.setString(1, Sql.jsonArray(e.getValue()));
      ps.setString(2, e.getKey());
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String live = rs.getString(4);
          out.put(e.getKey() + '\u0000' + rs.getString(1), new RowMeta(rs.getLong(2), rs.getInt(3), live, rs.getString(5),
              Keys.unpackClocks(rs.getString(6), nonKey, live), rs.getString(7)));
        }
      }
    }
    return out;
  }

  private int applyEach(PullPage page, Map<String, RowMeta> ahead, boolean isolate, List<String> errors, List<String> superseded,
      Map<Integer, String> skip) throws SQLException {
    int applied = 0;
    for (int index = 0; index < page.changes().size(); index++) {
      Change c = page.changes().get(index);
      TableSchema t = tables.get(c.table());
      if (t == null) {
        continue;
      }
      String key = Keys.canonical(c.pk());
      if (skip.containsKey(index)) {
        errors.add(c.table() + " " + key + ": pulled change not applied here: " + skip.get(index));
        continue;
      }
      // Taken out when used: a row the page holds twice is looked up again, after its first write.
      RowMeta m = ahead.isEmpty() ? null : ahead.remove(c.table() + '\u0000' + key);
      m = m == null ? loadMeta(c.table(), key) : m == NO_META ? null : m;
      Hlc h = Hlc.parse(c.hlc());
      clock.receive(h);
      if (m != null && m.dirty() == 1) {
        continue; // unpushed local change: the server resolves it when we push (base stays old)
      }
      if (isolate) {
        io.statement("SAVEPOINT row").execute();
      }
      String lost = null;
      boolean wrote = true;
      try {
        if (m != null && m.dirty() == 2) {
          Merged merged = mergeIntoFailed(t, key, c, m);
          lost = merged.lost();
          wrote = merged.wrote();
        } else {
          if (c.deleted()) {
            io.delete(t, c.pk());
          } else {
            io.upsert(t, c.pk(), ofTable(t, c.cols()));
          }
          saveMeta(c.table(), key, pulled(c));
        }
        if (isolate) {
          io.statement("RELEASE row").execute();
        }
      } catch (SQLException e) {
        if (!isolate || !StoreException.isConstraint(e)) {
          throw e;
        }
        undo("row", e, index);
        errors.add(c.table() + " " + key + ": pulled change not applied here: " + e.getMessage());
        continue;
      }
      if (lost != null) {
        superseded.add(lost);
      }
      if (wrote) {
        applied++; // a failed row whose local values all held took nothing from the pull
      }
      CrashPoints.hit(CrashPoints.DEVICE_PULL_APPLYING);
    }
    return applied;
  }

  /** The metadata of a row that holds exactly the pulled change: clean, at its version. */
  private static RowMeta pulled(Change c) {
    return new RowMeta(c.version(), 0, c.deleted() ? null : c.hlc(), c.deleted() ? c.hlc() : null, null, null);
  }

  /** The values of the columns the local table has (a pulled row may name columns it lacks). */
  private static Map<String, Object> ofTable(TableSchema t, Map<String, Object> values) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (Map.Entry<String, Object> e : values.entrySet()) {
      if (t.column(e.getKey()).isPresent()) {
        out.put(e.getKey(), e.getValue());
      }
    }
    return out;
  }

  /**
   * Merges a pulled change into a failed row (one the server refused for good, so its change is
   * not pushed and the server never resolves it), as the server would have merged the two: the
   * local row is a {@link RowState} whose refused (pending) columns carry their local clocks and
   * whose other columns carry none (they are the server's, and the pulled row is newer), merged
   * with the pulled change by {@link Merge}. Under last-write-wins every column of the local row
   * carries its newest clock, so the whole row of the newer clock wins. A delete on either side is
   * the row's {@code dead} register, compared with {@code live} as everywhere.
   *
   * <p>Refused columns that keep their local clock stay failed, now based on the pulled version;
   * when none remains (and no refused delete still holds) the row is clean at the pulled version.
   * A refused value (or delete) that loses is recorded in {@code _tidesync_superseded}.
   *
   * @return whether the row's values changed, and a line describing what was superseded (or null)
   */
  private Merged mergeIntoFailed(TableSchema t, String key, Change c, RowMeta m) throws SQLException {
    List<String> nonKey = t.nonKeyColumns();
    Map<String, Object> local = io.read(t, c.pk(), nonKey);
    boolean lww = t.policy() == ConflictPolicy.LAST_WRITE_WINS;
    Map<String, String> clocks = new HashMap<>();
    if (local != null) {
      for (String col : lww ? nonKey : m.pending().keySet()) {
        String clk = lww ? m.live() : m.pending().get(col);
        if (clk != null) {
          clocks.put(col, clk);
        }
      }
    }
    RowState after = Merge.merge(t, new RowState(local == null ? Map.of() : local, clocks, m.live(), m.dead(), m.ver()), c).state();
    // A refused column holds while its local clock is still the column's clock after the merge.
    Map<String, String> kept = new HashMap<>();
    Map<String, Object> lostValues = new LinkedHashMap<>();
    for (Map.Entry<String, String> p : m.pending().entrySet()) {
      String col = p.getKey();
      boolean holds = !after.deleted() && clocks.get(col) != null && clocks.get(col).equals(after.clocks().get(col));
      if (holds) {
        kept.put(col, p.getValue());
      } else if (local != null && local.containsKey(col)) {
        lostValues.put(col, local.get(col));
      }
    }
    boolean deletedHere = !Clocks.newer(m.live(), m.dead());
    // A refused delete holds against an older update; against a delete both sides agree.
    boolean deleteHolds = deletedHere && after.deleted() && !c.deleted();
    boolean deleteLost = deletedHere && !after.deleted();
    boolean wrote = false;
    if (after.deleted()) {
      if (local != null) {
        io.delete(t, c.pk());
        wrote = true;
      }
    } else {
      // Only what changes: the refused values that hold, and values the row has already, stay.
      Map<String, Object> write = ofTable(t, after.values());
      write.keySet().removeIf(col -> kept.containsKey(col) || t.isPrimaryKey(col));
      if (local != null) {
        write.entrySet().removeIf(e -> local.containsKey(e.getKey()) && Values.same(local.get(e.getKey()), e.getValue()));
      }
      if (local == null || !write.isEmpty()) {
        io.upsert(t, c.pk(), write);
        wrote = true;
      }
    }
    if (kept.isEmpty() && !deleteHolds) {
      saveMeta(t.name(), key, pulled(c));
    } else {
      saveMeta(t.name(), key, new RowMeta(c.version(), 2, after.live(), after.dead(), kept, m.err()));
    }
    if (lostValues.isEmpty() && !deleteLost) {
      return new Merged(wrote, null);
    }
    Superseded s = new Superseded(0, t.name(), key, deleteLost ? null : lostValues, m.err(), c.version(), c.hlc(), clock.wallMillis());
    Sql.update(conn, "INSERT INTO _tidesync_superseded (tbl, pk, cols, err, ver, hlc, at) VALUES (?, ?, ?, ?, ?, ?, ?)", s.table(), s.key(),
        s.cols() == null ? null : Keys.valuesJson(s.cols()), s.err(), s.version(), s.hlc(), s.at());
    return new Merged(wrote, s.describe());
  }

  /** What {@link #mergeIntoFailed} did: whether it changed the row's values, and what it superseded (null: nothing). */
  private record Merged(boolean wrote, String lost) {}

  /** Creates tables and columns the server has and this replica lacks (within the table filter). */
  private void adoptServerSchema(List<TableSchema> server) throws SQLException {
    Map<String, TableSchema> next = new LinkedHashMap<>(tables);
    boolean changed = false;
    for (TableSchema s : server) {
      if (options.tables() != null && !options.tables().contains(s.name())) {
        continue;
      }
      TableSchema have = next.get(s.name());
      if (have == null) {
        if (skipped.containsKey(s.name())) {
          continue;
        }
        exec(conn, Ddl.createTable(s));
        TableSchema created = Introspect.table(conn, s.name(), s.policy());
        Capture.installTriggers(conn, created);
        next.put(s.name(), created);
        changed = true;
      } else {
        String why = incompatibility(have, s);
        if (why != null) {
          // Writing the server's rows into a table of another shape would misplace values: the
          // table stops syncing until its schema matches, and the reason is reported.
          next.remove(s.name());
          skipped.put(s.name(), why);
          Capture.dropTriggers(conn, s.name());
          changed = true;
          continue;
        }
        List<ColumnSchema> add = new ArrayList<>();
        for (ColumnSchema c : s.columns()) {
          if (have.column(c.name()).isEmpty()) {
            add.add(c);
          }
        }
        if (!add.isEmpty() || have.policy() != s.policy()) {
          for (ColumnSchema c : add) {
            exec(conn, Ddl.addColumn(s.name(), new ColumnSchema(c.name(), c.type(), c.notNull() && c.defaultSql() != null, c.defaultSql())));
          }
          TableSchema merged = Introspect.table(conn, s.name(), s.policy());
          Capture.installTriggers(conn, merged);
          next.put(s.name(), merged);
          changed = true;
        }
      }
    }
    if (changed) {
      setTables(next);
    }
  }

  private static String incompatibility(TableSchema local, TableSchema server) {
    if (!local.primaryKey().equals(server.primaryKey())) {
      return "incompatible with the dataset: primary key " + local.primaryKey() + " here, " + server.primaryKey() + " on the server";
    }
    for (ColumnSchema c : server.columns()) {
      var mine = local.column(c.name());
      if (mine.isPresent() && !mine.get().type().equalsIgnoreCase(c.type())) {
        return "incompatible with the dataset: column '" + c.name() + "' is " + mine.get().type() + " here, " + c.type() + " on the server";
      }
    }
    return null;
  }

  // ---------------------------------------------------------------------------- status

  public synchronized Pending pending() {
    return Sql.inTx(conn, "counting pending changes", () -> {
      Map<String, String> loads = loads(); // absorbing does not end a load
      if (!loads.isEmpty()) {
        // Below, a waiting row is one the metadata does not know: a row the app wrote since
        // its last absorb would count twice (in the log, and as not known), so absorb first.
        absorbTx();
      }
      Map<String, Long> pending = new TreeMap<>();
      Map<String, Long> failed = new TreeMap<>();
      try (PreparedStatement ps = conn.prepareStatement("SELECT tbl, dirty, count(*) FROM _tidesync_rows WHERE dirty <> 0 GROUP BY tbl, dirty");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          (rs.getInt(2) == 1 ? pending : failed).merge(rs.getString(1), rs.getLong(3), Long::sum);
        }
      }
      // Log entries not absorbed yet count as pending too (one row may have several).
      Capture.pendingPerTable(conn).forEach((table, n) -> pending.merge(table, n, Long::sum));
      // So do the rows of an initial load that have no metadata yet (see loadExisting): the
      // table's rows less those its metadata knows as there, which is exact once the table's
      // logged writes are absorbed. (Matching every row with its metadata by key took 20 times
      // as long, 0.2 s per 100,000 rows, and `sync --watch` asks for the status twice a second,
      // holding this replica meanwhile.)
      for (String table : loads.keySet()) {
        if (tables.containsKey(table)) {
          long n = Sql.number(conn, "SELECT (SELECT count(*) FROM " + Sql.q(table) + ") - (SELECT count(*) FROM _tidesync_rows r "
              + "WHERE r.tbl = ? AND " + Capture.LIVE + ")", table);
          if (n > 0) {
            pending.merge(table, n, Long::sum);
          }
        }
      }
      return new Pending(pending, failed);
    });
  }

  /** Failed rows with the server's reason, for reports. */
  public synchronized Map<String, String> failures() {
    return Sql.inTx(conn, "listing failures", () -> {
      Map<String, String> out = new TreeMap<>();
      try (PreparedStatement ps = conn.prepareStatement("SELECT tbl, pk, err FROM _tidesync_rows WHERE dirty = 2 ORDER BY tbl, pk");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.put(rs.getString(1) + " " + rs.getString(2), rs.getString(3));
        }
      }
      return out;
    });
  }

  /**
   * Refused local changes that a newer pulled change replaced, oldest first: what the server
   * refused, why, and which pulled version won. The values are no longer in the row; this list is
   * where they can be seen and restored by hand. Rows stay in {@code _tidesync_superseded} until
   * {@link #clearSuperseded} (or the app) deletes them.
   */
  public synchronized List<Superseded> superseded() {
    return Sql.readTx(conn, "listing superseded changes", () -> {
      List<Superseded> out = new ArrayList<>();
      try (PreparedStatement ps = conn.prepareStatement("SELECT id, tbl, pk, cols, err, ver, hlc, at FROM _tidesync_superseded ORDER BY id");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String cols = rs.getString(4);
          out.add(new Superseded(rs.getLong(1), rs.getString(2), rs.getString(3), cols == null ? null : Keys.parseValues(cols), rs.getString(5),
              rs.getLong(6), rs.getString(7), rs.getLong(8)));
        }
      }
      return out;
    });
  }

  /** Forgets the superseded changes up to and including id {@code throughId} (once looked at); returns how many. */
  public synchronized int clearSuperseded(long throughId) {
    return Sql.inTx(conn, "clearing superseded changes", () -> Sql.update(conn, "DELETE FROM _tidesync_superseded WHERE id <= ?", throughId));
  }

  /** Marks failed rows pending again, e.g. after the schema or the data was fixed. */
  public synchronized int retryFailed() {
    return Sql.inTx(conn, "retrying failed rows", () -> Sql.update(conn, "UPDATE _tidesync_rows SET dirty = 1, err = NULL WHERE dirty = 2"));
  }

  /** SQLite's data_version: changes whenever another connection commits to the file. */
  public synchronized long dataVersion() {
    // Outside any transaction: inside one, data_version would not change.
    try {
      return Sql.number(conn, "PRAGMA data_version");
    } catch (java.sql.SQLException e) {
      throw new StoreException("reading data_version", e);
    }
  }

  @Override
  public synchronized void close() {
    io.close();
    try {
      conn.close();
    } catch (SQLException ignored) {
      // closing
    }
  }
}
