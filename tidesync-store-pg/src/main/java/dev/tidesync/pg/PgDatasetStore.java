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
import dev.tidesync.core.MergeResult;
import dev.tidesync.core.RowState;
import dev.tidesync.core.SchemaChanges;
import dev.tidesync.core.SchemaOrder;
import dev.tidesync.core.internal.Apply;
import dev.tidesync.core.internal.Batches;
import dev.tidesync.core.internal.ChainWaits;
import dev.tidesync.core.internal.ForeignKeyGroups;
import dev.tidesync.core.internal.Keys;
import dev.tidesync.core.internal.PullStats;
import dev.tidesync.core.internal.Sizes;
import dev.tidesync.core.internal.StoreRows;
import dev.tidesync.pg.internal.Pg;
import dev.tidesync.pg.internal.PgDdl;
import dev.tidesync.pg.internal.PgRowIo;
import dev.tidesync.pg.internal.PgSelfKeys;
import dev.tidesync.pg.internal.PgTypes;
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
import dev.tidesync.protocol.WallClock;
import dev.tidesync.protocol.Wire;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
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
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PgDatasetStore.class);
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
  /**
   * This process's writers of the dataset queue here before they take a pooled connection: the
   * dataset lock admits one writer at a time anyway, and a connection held while waiting for it
   * is one the pool cannot lend to reads of other datasets (100 devices pushing to one dataset
   * exhausted a 16-connection pool). Fair, so pushes are served in arrival order.
   */
  private final java.util.concurrent.locks.ReentrantLock writers = new java.util.concurrent.locks.ReentrantLock(true);

  /** Whether the retry passes skip what is certain to fail (off only in tests comparing outcomes). */
  boolean chainWaits = true;

  /** Attempts the retry passes skipped so far, for tests. */
  long chainSkips;

  private volatile boolean closed;
  /** Pulls not yet written to {@code _tidesync_devices}: see {@link #flushPullStats()}. */
  private final PullStats pullStats = new PullStats();
  private final java.util.concurrent.locks.ReentrantLock pullFlush = new java.util.concurrent.locks.ReentrantLock();

  private record ParsedSchema(String json, Map<String, TableSchema> tables) {}

  /** The state one locked write transaction works on: read from the database under the lock. */
  private final class Work {
    final Connection c;
    long seq;
    Map<String, TableSchema> tables;
    Set<String> cascadeParents;
    String schemaJson;
    boolean schemaChanged;
    /**
     * During a batch's fast path: the state of every row the batch touches, read up front in a
     * few set-based queries and kept current as changes apply (null: read row by row).
     */
    Map<String, RowState> cache;
    /** User-table writes, batched in apply order (parents first), flushed before any read. */
    final Batcher rows;
    /** {@code _tidesync_rows} writes: no foreign keys, so batched independently. */
    final Batcher meta;

    /** Call only while holding the dataset's lock ({@link Pg#lock}). */
    Work(Connection c) throws SQLException {
      this.c = c;
      this.rows = new Batcher(c);
      this.meta = new Batcher(c);
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

    void flush() throws SQLException {
      rows.flush();
      meta.flush();
    }

    /** Leaves the fast path: writes go out one by one, reads go to the database. */
    void unbatch() {
      rows.discard();
      meta.discard();
      rows.on = false;
      meta.on = false;
      cache = null;
    }

    void saveMeta() throws SQLException {
      putMeta(c, "seq", Long.toString(seq));
      putMeta(c, "hlc", clock.current().toString());
      if (schemaChanged) {
        putMeta(c, "schema", new String(Wire.writeSchema(List.copyOf(tables.values())), StandardCharsets.UTF_8));
      }
    }
  }

  /** "No such row" in {@link Work#cache}. */
  private static final RowState ABSENT = new RowState(Map.of(), Map.of(), null, null, -1);

  /**
   * JDBC batching of one statement text at a time, in call order: a statement of another text
   * flushes the batch first (so parents still precede children), and so does a second write to
   * the same row (a multi-row upsert may not touch a row twice).
   */
  private static final class Batcher {
    private static final int MAX = 1000;
    private final Connection c;
    boolean on = true;
    private PreparedStatement ps;
    private String sql;
    private final Set<String> keys = new HashSet<>();

    Batcher(Connection c) {
      this.c = c;
    }

    void add(PgRowIo.Bound b, String rowKey) throws SQLException {
      if (!on) {
        PgRowIo.run(c, b);
        return;
      }
      if (ps != null && (!sql.equals(b.sql()) || keys.contains(rowKey) || keys.size() >= MAX)) {
        flush();
      }
      if (ps == null) {
        ps = c.prepareStatement(b.sql());
        sql = b.sql();
      }
      keys.add(rowKey);
      b.binder().bind(ps);
      ps.addBatch();
    }

    void flush() throws SQLException {
      if (ps == null) {
        return;
      }
      try {
        ps.executeBatch();
      } finally {
        discard();
      }
    }

    void discard() {
      if (ps != null) {
        try {
          ps.close();
        } catch (SQLException ignored) {
          // the transaction reports its own failure
        }
      }
      ps = null;
      sql = null;
      keys.clear();
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
    writers.lock();
    try {
      return write("push to " + id, c -> {
        Pg.lock(c, lockId);
        return pushTx(new Work(c), req);
      });
    } finally {
      writers.unlock();
    }
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
    w.flush();
    reconcile(w, req.schema(), Batches.touched(req));
    List<Change> changes = req.changes();
    List<TableSchema> tables = Batches.validate(changes, w.tables, id.name());
    setApply(w.c, true);
    ChangeResult[] results = new ChangeResult[changes.size()];
    List<Integer> order = Batches.applyOrder(changes, w.tables.values());
    // Fast path: the whole batch under one savepoint; on any failure, undo it and apply change by
    // change, each under its own savepoint, so that a failure is isolated (a failed statement
    // aborts a PostgreSQL transaction up to the innermost savepoint).
    long seqAtStart = w.seq;
    // Every key checked at its statement, for this transaction: a key a backend made INITIALLY
    // DEFERRED would otherwise be checked only at COMMIT, where one orphan fails the whole push
    // (every time it is sent) instead of being refused for now alone.
    exec(w.c, "SET CONSTRAINTS ALL IMMEDIATE");
    exec(w.c, "SAVEPOINT batch");
    try {
      prefetch(w, changes, tables);
      for (int i : order) {
        results[i] = applyCore(w, i, changes.get(i), tables.get(i), req.device());
      }
      w.flush();
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
    } finally {
      w.unbatch();
    }
    // Foreign keys are checked per statement: a child before its parent (or a parent deleted
    // before its children) fails, and is retried after the rest while a pass makes progress.
    // The passes skip, without a round trip, what is certain to fail again (a chain of a table's
    // rows sent children first would otherwise cost a pass over every row left per row, each try
    // a few round trips: 400 rows took 21 s; ChainWaits).
    ChainWaits<SQLException> waits = order.isEmpty() || !chainWaits ? null
        : new ChainWaits<>(new PgSelfKeys(w.c, schemaName, w.tables), clock);
    for (boolean progress = true; progress && !order.isEmpty(); ) {
      progress = false;
      List<Integer> retry = new ArrayList<>();
      for (int i : order) {
        if (waits != null && waits.skip(i)) {
          retry.add(i);
          continue;
        }
        ChangeResult r = applyOne(w, i, changes.get(i), tables.get(i), req.device(), false);
        if (r == null) {
          retry.add(i);
          if (waits != null) {
            waits.failed(i, changes.get(i));
          }
        } else {
          results[i] = r;
          progress = true;
          if (waits != null) {
            waits.answered(changes.get(i));
          }
        }
      }
      // A backend may commit a waited-for parent while the passes run (read committed): asked
      // again before the passes would end.
      if (!progress && waits != null && waits.recheck()) {
        progress = true;
      }
      order = retry;
    }
    if (waits != null) {
      chainSkips += waits.skipped();
    }
    // A cycle (a row moved under its own descendant, two tables that refer to each other) cannot
    // go in or out one row at a time while foreign keys are checked at each statement: no row of
    // it ever passes first. What the passes left is tried once more as one group, its checks
    // deferred to the group's end; if they fail there, the group is undone, the changes that
    // failed them are left out and the rest tried again. What is left is refused for now.
    if (order.size() > 1 && ForeignKeyGroups.hasCycle(order, changes, w.tables,
        ForeignKeyGroups.referenceValues(order, changes, tables, (t, pk, cols) -> io.read(w.c, t, pk, cols)))) {
      order = applyTogether(w, order, changes, tables, results, req.device());
    }
    for (int i : order) {
      results[i] = applyOne(w, i, changes.get(i), tables.get(i), req.device(), true);
    }
    setApply(w.c, false);
    long now = clock.wallMillis();
    PushResult result = new PushResult(req.batch(), List.of(results), cursorOf(false, w.seq), false);
    Pg.update(w.c, "INSERT INTO " + t("_tidesync_batches") + " (device, batch, result, at) VALUES (?, ?, ?, ?)",
        req.device(), req.batch(), Wire.writePushResult(result), now);
    Pg.update(w.c, "INSERT INTO " + t("_tidesync_devices") + " AS d (device, last_push, pushes, changes) VALUES (?, ?, 1, ?) "
        + "ON CONFLICT (device) DO UPDATE SET last_push = greatest(d.last_push, excluded.last_push), pushes = d.pushes + 1, "
        + "changes = d.changes + excluded.changes", req.device(), now, (long) changes.size());
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

  /** Creates new tables and adds new columns; an incompatible table refuses the push only when written to. */
  private void reconcile(Work w, List<TableSchema> incoming, Set<String> strict) throws SQLException {
    if (incoming.isEmpty()) {
      return;
    }
    Map<String, TableSchema> next = new LinkedHashMap<>(w.tables);
    boolean changed = false;
    // Foreign keys to a table not created yet (two new tables that refer to each other: parents
    // first cannot put either first) are added once every new table exists.
    List<String> laterKeys = new ArrayList<>();
    for (TableSchema in : SchemaOrder.parentsFirst(incoming)) {
      TableSchema have = next.get(in.name());
      if (have == null) {
        for (ForeignKey fk : in.foreignKeys()) {
          if (!next.containsKey(fk.refTable()) && incoming.stream().noneMatch(x -> x.name().equals(fk.refTable()))) {
            throw new IncompatibleSchemaException("table '" + in.name() + "' references table '" + fk.refTable()
                + "', which is neither in the dataset nor in the push");
          }
        }
        exec(w.c, PgDdl.createTable(schemaName, in, fk -> fk.refTable().equals(in.name()) || next.containsKey(fk.refTable())));
        for (ForeignKey fk : in.foreignKeys()) {
          if (!fk.refTable().equals(in.name()) && !next.containsKey(fk.refTable())) {
            laterKeys.add(PgDdl.addForeignKey(schemaName, in.name(), fk));
          }
        }
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
    for (String sql : laterKeys) {
      exec(w.c, sql);
    }
    if (changed) {
      w.setTables(next.values());
      w.schemaChanged = true;
    }
  }

  /** Attempts at applying a group (see {@link #applyTogether}), each after leaving out the changes the one before found failing. */
  private static final int TOGETHER_ATTEMPTS = 4;

  /**
   * Applies the changes {@code group} as one, with the foreign keys deferred ({@code SET
   * CONSTRAINTS ALL DEFERRED}: the dataset's foreign keys are created DEFERRABLE INITIALLY
   * IMMEDIATE) and checked when the group is done by {@code SET CONSTRAINTS ALL IMMEDIATE}, which
   * runs every check the group queued (a cascade's too) and nothing else. When it fails, a query
   * per foreign key that the group can break ({@link ForeignKeyGroups#violationsSql}) names the
   * failing rows, the group is undone, the changes that failed are left out ({@link
   * ForeignKeyGroups#culprits}) and the rest tried again, up to {@link #TOGETHER_ATTEMPTS} times.
   * Returns the changes of {@code group} not applied ({@code results} is filled in for the others):
   * all of them when no attempt held.
   */
  private List<Integer> applyTogether(Work w, List<Integer> group, List<Change> changes, List<TableSchema> tables, ChangeResult[] results,
      String device) throws SQLException {
    deferrableKeys(w);
    List<Integer> members = new ArrayList<>(group);
    for (int attempt = 0; attempt < TOGETHER_ATTEMPTS && members.size() > 1; attempt++) {
      long seqBefore = w.seq;
      ChangeResult[] got = new ChangeResult[members.size()];
      Set<String> touched = new HashSet<>();
      List<ForeignKeyGroups.Violation> violations = List.of();
      exec(w.c, "SAVEPOINT together");
      try {
        exec(w.c, "SET CONSTRAINTS ALL DEFERRED");
        for (int j = 0; j < got.length; j++) {
          int i = members.get(j);
          got[j] = applyCore(w, i, changes.get(i), tables.get(i), device);
          touched.add(tables.get(i).name());
        }
        exec(w.c, "SAVEPOINT together_check");
        boolean held;
        try {
          exec(w.c, "SET CONSTRAINTS ALL IMMEDIATE"); // the deferred checks run here, and fail here
          exec(w.c, "RELEASE SAVEPOINT together_check");
          held = true;
        } catch (SQLException e) {
          if (!PgStoreException.isConstraintOrData(e)) {
            throw e;
          }
          exec(w.c, "ROLLBACK TO SAVEPOINT together_check"); // the group's writes stay, to be looked at
          exec(w.c, "RELEASE SAVEPOINT together_check");
          held = false;
        }
        if (held) {
          exec(w.c, "RELEASE SAVEPOINT together");
          for (int j = 0; j < got.length; j++) {
            results[members.get(j)] = got[j];
          }
          List<Integer> left = new ArrayList<>(group);
          left.removeAll(members);
          return left;
        }
        violations = violations(w, touched);
      } catch (SQLException | ProtocolException e) {
        if (e instanceof SQLException s && !PgStoreException.isConstraintOrData(s)) {
          undoTogether(w, seqBefore);
          throw s;
        }
        // a constraint failed that the queries did not name: undone below, and no attempt can tell which
      }
      undoTogether(w, seqBefore);
      Set<Integer> out = ForeignKeyGroups.culprits(members, changes, w.tables, violations);
      if (out.isEmpty()) {
        break;
      }
      members.removeAll(out);
    }
    return group;
  }

  private void undoTogether(Work w, long seqBefore) throws SQLException {
    exec(w.c, "ROLLBACK TO SAVEPOINT together");
    exec(w.c, "RELEASE SAVEPOINT together");
    exec(w.c, "SET CONSTRAINTS ALL IMMEDIATE"); // whether or not the rollback took the mode back
    w.seq = seqBefore;
  }

  /** The rows that fail their foreign keys, in the tables a group that wrote {@code touched} can break. */
  private List<ForeignKeyGroups.Violation> violations(Work w, Set<String> touched) throws SQLException {
    return ForeignKeyGroups.violations(touched, w.tables, n -> q(schemaName) + "." + q(n), Pg::q, (t, sql, cols) -> {
      List<List<Object>> rows = new ArrayList<>();
      try (PreparedStatement ps = w.c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          List<Object> row = new ArrayList<>(cols.size());
          for (int i = 0; i < cols.size(); i++) {
            row.add(PgTypes.of(t.column(cols.get(i)).orElseThrow()).read(rs, 1 + i));
          }
          rows.add(row);
        }
      }
      return rows;
    });
  }

  /**
   * Makes the dataset's foreign keys deferrable where a table was created before they were (they
   * stay checked at each statement unless a push defers them). Outside the group's savepoint, so
   * it lasts once the push commits: then the query finds nothing.
   */
  private void deferrableKeys(Work w) throws SQLException {
    List<String> alter = new ArrayList<>();
    try (PreparedStatement ps = w.c.prepareStatement("SELECT cl.relname, co.conname FROM pg_constraint co "
        + "JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = co.connamespace "
        + "WHERE co.contype = 'f' AND NOT co.condeferrable AND n.nspname = ?")) {
      ps.setString(1, schemaName);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          if (!w.tables.containsKey(rs.getString(1))) {
            continue; // a backend's own table: not ours to alter
          }
          alter.add("ALTER TABLE " + q(schemaName) + "." + q(rs.getString(1)) + " ALTER CONSTRAINT " + q(rs.getString(2))
              + " DEFERRABLE INITIALLY IMMEDIATE");
        }
      }
    }
    for (String sql : alter) {
      exec(w.c, sql);
    }
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
        return new ChangeResult(index, ChangeResult.REJECTED, 0, Batches.cut(e.getMessage()), false);
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
    Apply.Decision d = Apply.decide(ts, stored, ch, clock);
    long version = stored == null ? 0 : stored.version();
    if (d.newVersion()) {
      version = ++w.seq;
      if (d.merge().changed()) {
        writeRow(w, ts, key, ch.pk(), stored, d.merge().state());
      }
      saveRowMeta(w, ts, key, d.merge().state(), version, d.clean() ? device : null);
    }
    if (d.logConflict()) {
      logConflict(w, ts, key, device, ch, stored, d.merge());
    }
    return new ChangeResult(index, d.status(), version, null, false);
  }

  private static String cacheKey(String table, String key) {
    return table + '\u0000' + key;
  }

  private RowState loadState(Work w, TableSchema ts, String key, List<Object> pk) throws SQLException {
    if (w.cache != null) {
      RowState cached = w.cache.get(cacheKey(ts.name(), key));
      if (cached != null) {
        return cached == ABSENT ? null : cached;
      }
    }
    w.flush(); // the database must hold what was written so far before it is read
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
    return new RowState(values, Keys.unpackClocks(clocks, ts.columnNames(), live), live, dead, ver);
  }

  private void writeRow(Work w, TableSchema ts, String key, List<Object> pk, RowState before, RowState after) throws SQLException {
    boolean existed = before != null && !before.deleted();
    if (after.deleted()) {
      if (existed) {
        if (w.cascadeParents.contains(ts.name())) {
          // ON DELETE CASCADE / SET NULL change other rows: let the triggers capture those and
          // give them versions, so every device hears of them. Our own row is skipped. The
          // cascade changes rows behind the cache's back: the rest of the batch reads the database.
          w.flush();
          w.cache = null;
          setApply(w.c, false);
          PgRowIo.run(w.c, io.delete(ts, pk));
          setApply(w.c, true);
          absorb(w, ts.name(), key);
        } else {
          w.rows.add(io.delete(ts, pk), cacheKey(ts.name(), key));
        }
      }
    } else {
      Map<String, Object> values = new LinkedHashMap<>();
      for (ColumnSchema col : ts.columns()) {
        if (after.values().containsKey(col.name())) {
          values.put(col.name(), after.values().get(col.name()));
        }
      }
      w.rows.add(io.upsert(ts, pk, values), cacheKey(ts.name(), key));
    }
  }

  private void saveRowMeta(Work w, TableSchema ts, String key, RowState s, long version, String origin) throws SQLException {
    String clocks = Keys.packClocks(s.clocks(), ts.columnNames(), s.live());
    String tomb = s.deleted() ? Keys.valuesJson(s.values()) : null;
    w.meta.add(new PgRowIo.Bound("INSERT INTO " + t("_tidesync_rows") + " (tbl, pk, ver, live, dead, clocks, origin, tomb) "
        + "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tbl, pk) DO UPDATE SET ver = excluded.ver, live = excluded.live, "
        + "dead = excluded.dead, clocks = excluded.clocks, origin = excluded.origin, tomb = excluded.tomb", ps -> {
          ps.setString(1, ts.name());
          ps.setString(2, key);
          ps.setLong(3, version);
          ps.setString(4, s.live());
          ps.setString(5, s.dead());
          ps.setString(6, clocks);
          ps.setString(7, origin);
          ps.setString(8, tomb);
        }), cacheKey(ts.name(), key));
    if (w.cache != null) {
      w.cache.put(cacheKey(ts.name(), key), new RowState(s.values(), s.clocks(), s.live(), s.dead(), version));
    }
  }

  /**
   * Reads the state of every row of the batch up front: per table, one query for the metadata
   * and one for the values of the rows that exist. Keys whose values do not match their
   * columns' types are left out (their change is refused when applied).
   */
  private void prefetch(Work w, List<Change> changes, List<TableSchema> tables) throws SQLException {
    w.flush();
    Map<String, Map<String, List<Object>>> byTable = new LinkedHashMap<>();
    for (int i = 0; i < changes.size(); i++) {
      TableSchema ts = tables.get(i);
      List<Object> pk = changes.get(i).pk();
      if (keyFits(ts, pk)) {
        byTable.computeIfAbsent(ts.name(), k -> new LinkedHashMap<>()).put(Keys.canonical(pk), pk);
      }
    }
    Map<String, RowState> cache = new HashMap<>();
    for (Map.Entry<String, Map<String, List<Object>>> e : byTable.entrySet()) {
      TableSchema ts = w.tables.get(e.getKey());
      record Meta(long ver, String live, String dead, String clocks, String tomb) {}
      Map<String, Meta> metas = new HashMap<>();
      try (PreparedStatement ps = w.c.prepareStatement("SELECT pk, ver, live, dead, clocks, tomb FROM " + t("_tidesync_rows")
          + " WHERE tbl = ? AND pk = ANY (?)")) {
        ps.setString(1, ts.name());
        ps.setArray(2, w.c.createArrayOf("text", e.getValue().keySet().toArray()));
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            metas.put(rs.getString(1), new Meta(rs.getLong(2), rs.getString(3), rs.getString(4), rs.getString(5), rs.getString(6)));
          }
        }
      }
      Map<String, List<Object>> live = new LinkedHashMap<>();
      metas.forEach((k, m) -> {
        if (Clocks.newer(m.live(), m.dead())) {
          live.put(k, e.getValue().get(k));
        }
      });
      Map<String, Map<String, Object>> values = io.readMany(w.c, ts, live, null);
      for (String k : e.getValue().keySet()) {
        Meta m = metas.get(k);
        if (m == null) {
          cache.put(cacheKey(ts.name(), k), ABSENT);
          continue;
        }
        Map<String, Object> v = live.containsKey(k) ? values.getOrDefault(k, Map.of()) : Keys.parseValues(m.tomb());
        cache.put(cacheKey(ts.name(), k), new RowState(v, Keys.unpackClocks(m.clocks(), ts.columnNames(), m.live()), m.live(), m.dead(), m.ver()));
      }
    }
    w.cache = cache;
  }

  /** True when every key value is of the class its column stores (else the change will be refused). */
  private static boolean keyFits(TableSchema ts, List<Object> pk) {
    for (int i = 0; i < pk.size(); i++) {
      PgTypes type = PgTypes.of(ts.column(ts.primaryKey().get(i)).orElseThrow());
      Object v = pk.get(i);
      boolean ok = switch (type) {
        case BIGINT -> v instanceof Long;
        case TEXT -> v instanceof String str && str.indexOf('\u0000') < 0;
        case BYTEA -> v instanceof dev.tidesync.protocol.Bytes;
        default -> false;
      };
      if (!ok) {
        return false;
      }
    }
    return true;
  }

  private void logConflict(Work w, TableSchema ts, String key, String device, Change in, RowState stored, MergeResult m) throws SQLException {
    Pg.update(w.c, StoreRows.insertConflict(t("_tidesync_conflicts")), StoreRows.conflictValues(ts, key, device, clock.wallMillis(), in,
        stored, m));
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
    // The metadata of every row of the chunk, one query per table. Values are not needed: a live
    // row's values stay in its table, and a delete brings the deleted row's values in its entry.
    w.flush();
    Map<String, Map<String, List<Object>>> keys = new HashMap<>();
    for (Entry e : entries) {
      if (w.tables.containsKey(e.tbl())) {
        List<Object> pk = Keys.parseSqlite(e.pk());
        keys.computeIfAbsent(e.tbl(), k -> new HashMap<>()).put(Keys.canonical(pk), pk);
      }
    }
    Map<String, RowState> states = new HashMap<>();
    Set<String> present = new HashSet<>();
    for (Map.Entry<String, Map<String, List<Object>>> e : keys.entrySet()) {
      TableSchema ts = w.tables.get(e.getKey());
      metaStates(w, ts, e.getValue().keySet(), states);
      // Which of the rows exist now (read after the log): see the existence check below.
      for (String k : io.readMany(w.c, ts, e.getValue(), List.of()).keySet()) {
        present.add(cacheKey(ts.name(), k));
      }
    }
    Map<String, RowState> absorbed = new LinkedHashMap<>();
    Map<String, TableSchema> tableOf = new HashMap<>();
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
      String ck = cacheKey(ts.name(), key);
      String hlc = clock.tick(e.wall()).toString();
      RowState s = states.get(ck);
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
      RowState next = new RowState(tomb, clocks, live, dead, 0);
      states.put(ck, next);
      absorbed.put(ck, next);
      tableOf.put(ck, ts);
    }
    for (Map.Entry<String, RowState> a : absorbed.entrySet()) {
      RowState st = a.getValue();
      // Backend transactions commit while pushes apply (they do not take the dataset lock), so
      // an entry can reach the log before a push that the table shows came after it: a backend
      // update of a row that a push then deleted, or a backend delete of a row a push then
      // wrote again. Such an entry's fresh clock would resurrect (or bury) the row against the
      // table. Where the absorbed existence contradicts the table, the table's later write is
      // already versioned by its push (or by an entry still to come): this one is left out.
      if (st.deleted() == present.contains(a.getKey())) {
        continue;
      }
      String key = a.getKey().substring(a.getKey().indexOf('\u0000') + 1);
      saveRowMeta(w, tableOf.get(a.getKey()), key, st, ++w.seq, null);
    }
    long[] seqs = entries.stream().mapToLong(Entry::seq).toArray();
    try (PreparedStatement del = w.c.prepareStatement("DELETE FROM " + t("_tidesync_log") + " WHERE seq = ANY (?)")) {
      del.setArray(1, w.c.createArrayOf("bigint", java.util.Arrays.stream(seqs).boxed().toArray()));
      del.executeUpdate();
    }
    return entries.size();
  }

  /** Adds the stored state of {@code keys} to {@code out} (values: a tombstone's only). */
  private void metaStates(Work w, TableSchema ts, java.util.Collection<String> keys, Map<String, RowState> out) throws SQLException {
    try (PreparedStatement ps = w.c.prepareStatement("SELECT pk, ver, live, dead, clocks, tomb FROM " + t("_tidesync_rows")
        + " WHERE tbl = ? AND pk = ANY (?)")) {
      ps.setString(1, ts.name());
      ps.setArray(2, w.c.createArrayOf("text", keys.toArray()));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String live = rs.getString(3);
          String dead = rs.getString(4);
          Map<String, Object> values = Clocks.newer(live, dead) ? Map.of() : Keys.parseValues(rs.getString(6));
          out.put(cacheKey(ts.name(), rs.getString(1)),
              new RowState(values, Keys.unpackClocks(rs.getString(5), ts.columnNames(), live), live, dead, rs.getLong(2)));
        }
      }
    }
  }

  /**
   * Versions what backends wrote since the last locked transaction, so that a pull sees every
   * write that committed before it began. It waits for the dataset lock when a push holds it: a
   * push absorbs the log only at its start, so an entry that committed during that push would
   * otherwise be missed by this pull (the store contract's read-your-writes). Nothing is done,
   * and nothing waited for, when the log is empty.
   */
  private void absorbPending() {
    boolean pending = read("checking the capture log of " + id,
        c -> Pg.number(c, "SELECT count(*) FROM (SELECT 1 FROM " + t("_tidesync_log") + " LIMIT 1) x") > 0);
    if (pending) {
      writers.lock();
      try {
        write("absorbing backend writes in " + id, c -> {
          Pg.lock(c, lockId);
          Work w = new Work(c);
          if (absorbChunk(w, null, null) == LOG_CHUNK) {
            absorb(w, null, null);
          }
          w.flush();
          w.saveMeta();
          return null;
        });
      } finally {
        writers.unlock();
      }
    }
  }

  // ------------------------------------------------------------------------------------ pull

  private String cursorOf(boolean bootstrap, long version) {
    return Batches.Cursor.format(bootstrap, epoch, version);
  }

  @Override
  public PullPage pull(String cursor, int limit, String device) {
    ensureOpen();
    Batches.Cursor cur = Batches.Cursor.parse(cursor, epoch, id.name());
    boolean bootstrap = cur.bootstrap();
    long after = cur.after();
    absorbPending();
    PullPage page = read("pull from " + id, c -> readPage(c, bootstrap, after, limit, device));
    if (device != null) {
      // Noted in memory only: a transaction per pull would cost the hot path a commit for a
      // statistic. flushPullStats() writes them (PgStorage's timer, status(), close()).
      pullStats.record(device, clock.wallMillis());
    }
    return page;
  }

  /**
   * Writes the pulls noted since the last flush into {@code _tidesync_devices}, all devices in one
   * statement, as increments: every server process on the database flushes its own pulls, and
   * adding them (with the latest time winning) keeps the others'. The lock makes a caller wait
   * for a flush in flight (the timer's) to commit, so that {@link #status()} reads every pull
   * noted before it began. Rows are written in device order (see {@link PullStats}): two
   * processes flushing at once cannot deadlock. A failed write keeps the pulls for the next one;
   * a dataset dropped meanwhile takes them with it.
   */
  void flushPullStats() {
    pullStats.flush(pullFlush, drained -> {
      try {
        write("recording pulls of " + id, c -> {
          try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + t("_tidesync_devices") + " AS d (device, last_pull, pulls) "
              + "SELECT * FROM unnest(?::text[], ?::bigint[], ?::bigint[]) ORDER BY 1 "
              + "ON CONFLICT (device) DO UPDATE SET last_pull = greatest(d.last_pull, excluded.last_pull), pulls = d.pulls + excluded.pulls")) {
            ps.setArray(1, c.createArrayOf("text", drained.stream().map(PullStats.Pending::device).toArray()));
            ps.setArray(2, c.createArrayOf("bigint", drained.stream().map(PullStats.Pending::lastPull).toArray()));
            ps.setArray(3, c.createArrayOf("bigint", drained.stream().map(PullStats.Pending::pulls).toArray()));
            return ps.executeUpdate();
          }
        });
      } catch (DatasetNotFoundException e) {
        // dropped: nothing to count pulls in any more (returning normally, they are not kept)
      }
    });
  }

  private PullPage readPage(Connection c, boolean bootstrap, long after, int limit, String device) throws SQLException {
    // One REPEATABLE READ snapshot for the schema, the rows, their values and the version
    // counter: the page and its cursor describe the same moment.
    Map<String, TableSchema> tables = parse(Pg.string(c, "SELECT v FROM " + t("_tidesync_meta") + " WHERE k = 'schema'"));
    long newest = Pg.number(c, "SELECT v::bigint FROM " + t("_tidesync_meta") + " WHERE k = 'seq'");
    if (after > newest) {
      // A cursor from the future: the dataset was restored from an older backup. Answering
      // "nothing new" would skip every change made since the restore.
      throw new ProtocolException("cursor_invalid", 409, "cursor is ahead of dataset '" + id.name()
          + "' (restored from a backup?); bootstrap again (pull without a cursor)");
    }
    record Row(String tbl, String pk, long ver, String live, String dead, String clocks) {}
    List<Row> rows = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT tbl, pk, ver, live, dead, clocks FROM " + t("_tidesync_rows")
        + " WHERE ver > ? AND (origin IS NULL OR origin <> ?) ORDER BY ver LIMIT ?")) {
      ps.setLong(1, after);
      ps.setString(2, device == null ? "" : device);
      ps.setInt(3, limit);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          rows.add(new Row(rs.getString(1), rs.getString(2), rs.getLong(3), rs.getString(4), rs.getString(5), rs.getString(6)));
        }
      }
    }
    // The values of the page's live rows: one query per table for a slice of rows, not one per
    // row. The page ends once its changes reach Sizes.PAGE_BYTES: a page of large rows (photos)
    // holds fewer of them, and neither side ever holds gigabytes for one page.
    List<Change> changes = new ArrayList<>();
    long last = after;
    long bytes = 0;
    int scanned = 0;
    int next = 0;
    Map<String, Map<String, Map<String, Object>>> values = Map.of();
    for (Row row : rows) {
      if (bytes >= Sizes.PAGE_BYTES) {
        break;
      }
      if (scanned == next) {
        List<Row> slice = rows.subList(scanned, Math.min(rows.size(), scanned + Sizes.nextSlice(bytes, changes.size(), Sizes.PAGE_BYTES, 256)));
        next = scanned + slice.size();
        Map<String, Map<String, List<Object>>> liveKeys = new HashMap<>();
        for (Row x : slice) {
          if (tables.containsKey(x.tbl()) && Clocks.newer(x.live(), x.dead())) {
            liveKeys.computeIfAbsent(x.tbl(), k -> new LinkedHashMap<>()).put(x.pk(), Keys.parseCanonical(x.pk()));
          }
        }
        values = new HashMap<>();
        long room = Sizes.PAGE_BYTES - bytes;
        for (Map.Entry<String, Map<String, List<Object>>> e : liveKeys.entrySet()) {
          TableSchema ts = tables.get(e.getKey());
          // Stops at the page's room: a slice sized by small rows may hold large ones. The rows
          // not read here are read by their keys below, one at a time, while the page has room.
          Map<String, Map<String, Object>> read = room > 0 ? io.readMany(c, ts, e.getValue(), ts.nonKeyColumns(), room) : new HashMap<>();
          room -= read.values().stream().mapToLong(Sizes::approx).sum();
          values.put(e.getKey(), read);
        }
      }
      scanned++;
      last = row.ver();
      TableSchema ts = tables.get(row.tbl());
      if (ts == null) {
        continue;
      }
      boolean deleted = !Clocks.newer(row.live(), row.dead());
      Map<String, Object> cols = Map.of();
      if (!deleted) {
        cols = values.get(row.tbl()).get(row.pk());
        if (cols == null) {
          // Not read with its slice (the slice stopped at the page's room), or gone since the
          // snapshot's metadata was read: by its key.
          cols = io.read(c, ts, Keys.parseCanonical(row.pk()), ts.nonKeyColumns());
        }
        if (cols == null) {
          continue;
        }
      }
      String hlc = Clocks.max(row.live(), row.dead());
      Change ch = new Change(ts.name(), Keys.parseCanonical(row.pk()), deleted, cols, hlc,
          deleted ? null : Keys.pulledClocks(row.clocks(), hlc, cols.keySet()), 0, row.ver());
      changes.add(ch);
      bytes += Sizes.approx(ch);
    }
    // More: the limit was reached, or the byte budget ended the page before the rows read.
    boolean hasMore = rows.size() == limit || scanned < rows.size();
    if (!hasMore) {
      // Everything up to this snapshot's newest version has been seen (the rest was our own).
      last = Math.max(last, newest);
    }
    return new PullPage(cursorOf(bootstrap && hasMore, last), hasMore, bootstrap, List.copyOf(tables.values()), changes);
  }

  // ------------------------------------------------------------------------------------ status

  @Override
  public DatasetStatus status() {
    ensureOpen();
    absorbPending();
    // This process's pulls are in memory until flushed: write them first, so the devices' pull
    // times and counts below include every pull that finished before this call. Another
    // process's pulls are as recent as its last flush (PgStorage's timer, every 500 ms by default).
    // Best effort, as in the SQLite store: statistics must not fail a status request; the
    // pulls stay noted for the next write and the answer shows the last ones written.
    try {
      flushPullStats();
    } catch (RuntimeException e) {
      LOG.warn("status of {}: device pull times not written yet ({})", id, e.getMessage());
    }
    return read("status of " + id, c -> {
      Map<String, TableSchema> tables = parse(Pg.string(c, "SELECT v FROM " + t("_tidesync_meta") + " WHERE k = 'schema'"));
      Map<String, Long> rows = new LinkedHashMap<>();
      for (TableSchema ts : tables.values()) {
        rows.put(ts.name(), Pg.number(c, "SELECT count(*) FROM " + q(schemaName) + "." + q(ts.name())));
      }
      long conflicts = Pg.number(c, "SELECT count(*) FROM " + t("_tidesync_conflicts"));
      long version = Pg.number(c, "SELECT v::bigint FROM " + t("_tidesync_meta") + " WHERE k = 'seq'");
      List<DeviceStatus> ds = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT " + StoreRows.DEVICE_COLUMNS + " FROM " + t("_tidesync_devices")
          + " ORDER BY device");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ds.add(StoreRows.device(rs::getObject));
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
      try (PreparedStatement ps = c.prepareStatement(StoreRows.conflictPage(t("_tidesync_conflicts")))) {
        ps.setLong(1, afterId);
        ps.setInt(2, limit);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(StoreRows.conflict(rs::getObject));
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

  /**
   * A schema dropped by another process (or an operator) reads as a missing dataset, and this
   * store stays closed. Only the schema: a table of it that is missing (dropped by hand) is an
   * error of the request that met it, naming the table, and the dataset stays open (before, that
   * closed it for good, and every request after answered "does not exist").
   */
  private RuntimeException missing(PgStoreException e) {
    if (e.getCause() instanceof SQLException s && PgStoreException.isMissing(s) && !schemaExists()) {
      closed = true;
      return new DatasetNotFoundException(id.name());
    }
    return e;
  }

  private boolean schemaExists() {
    try (Connection c = pool.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT 1 FROM pg_namespace WHERE nspname = ?")) {
      ps.setString(1, schemaName);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    } catch (SQLException down) {
      return false; // as before this check: the request's own error said the schema or a table is gone
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new DatasetNotFoundException(id.name());
    }
  }

  boolean isClosed() {
    return closed;
  }

  /** Writes the pending pull statistics; the pool belongs to the storage, which closes it after this. */
  @Override
  public void close() {
    closed = true;
    try {
      flushPullStats();
    } catch (RuntimeException e) {
      // statistics only; the storage is closing and cannot keep them
    }
  }
}
