package dev.tidesync.sqlite.internal;

import static dev.tidesync.sqlite.internal.Sql.exec;
import static dev.tidesync.sqlite.internal.Sql.lit;
import static dev.tidesync.sqlite.internal.Sql.q;

import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.core.internal.Keys;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Tidesync's metadata tables and the capture triggers.
 *
 * <p>Triggers are plain SQL with no application-defined function, so writes from any connection
 * (the app's JDBC code, the sqlite3 shell, another process) are captured in the same transaction
 * as the write. A trigger only appends one narrow row to {@code _tidesync_changes}: which capture
 * (an integer naming the table and the column count its triggers were made for, see
 * {@code _tidesync_capture}), the key, the operation, for an update a bitmask of changed columns,
 * and {@code julianday()}. Clocks, versions and values are derived later, when the log is
 * absorbed. Every part of that row is there because the trigger runs once per written row and its
 * cost is the capture overhead: a one-column key is logged as the raw value (no JSON), the table
 * as an integer, the time as SQLite's cheapest clock read (the milliseconds are computed at
 * absorb), and an insert's mask is left NULL ("all columns").
 *
 * <p>Tidesync's own writes (applying pulled changes) must not be captured, or they would be
 * pushed back. A device's triggers have no WHEN clause for that (it would cost every app write a
 * lookup); instead the connection that applies has a TEMP trigger on the log, which exists only
 * on that connection, and which drops the log row with {@code RAISE(IGNORE)} while
 * {@code temp._tidesync_applying} holds a row. That row is written inside the apply's own write
 * transaction and no other connection can write meanwhile (SQLite has one writer), so no app
 * write is ever mistaken for a remote one, and no other connection even sees the TEMP trigger.
 *
 * <p>A server's triggers are the other way round (see {@link #installServerTriggers}): there the
 * server's own writes are the hot path and other writers are rare, so each trigger has a WHEN
 * guard on {@code _tidesync_quiet} and skips the server's writes before it logs anything. The
 * server keeps the TEMP trigger armed as well, as a safety net for triggers without the guard.
 */
public final class Capture {
  /** Columns beyond this many get no per-column bit: an update then counts as touching all columns. */
  public static final int MASK_COLUMNS = 62;

  /** The log, and the table that names what its {@code cap} column refers to. */
  static final String LOG = "_tidesync_changes";

  /** On a server: holds a row while the server writes (see {@link #installServerTriggers}). */
  static final String QUIET = "_tidesync_quiet";

  private static final double UNIX_EPOCH_JULIAN_DAY = 2440587.5;
  private static final double MILLIS_PER_DAY = 86_400_000.0;

  private Capture() {}

  public static void createMetaTables(Connection c) throws SQLException {
    exec(c, "CREATE TABLE IF NOT EXISTS _tidesync_meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID");
    // keyform: 'raw' when the trigger logs a one-column key as its value, 'json' when it logs a
    // json_array of the key's columns (BLOBs as {"$hex": ...}).
    // cols: the names of the table's columns when the triggers were installed, in the order of
    // the update mask's bits (a JSON array; NULL for capture rows of earlier builds, whose masks
    // are read by position): a rebuild may drop or reorder columns before an entry is absorbed.
    exec(c, "CREATE TABLE IF NOT EXISTS _tidesync_capture (id INTEGER PRIMARY KEY, tbl TEXT NOT NULL, ncols INTEGER NOT NULL, "
        + "keyform TEXT NOT NULL, cols TEXT)");
    if (Sql.number(c, "SELECT count(*) FROM pragma_table_info('_tidesync_capture') WHERE name = 'cols'") == 0) {
      exec(c, "ALTER TABLE _tidesync_capture ADD COLUMN cols TEXT");
    }
    // pk and wall have no declared type: no affinity, so a key is kept exactly as the row holds
    // it (TEXT, INTEGER, BLOB, even NULL, which SQLite allows in a non-integer key: the app's
    // write must never fail because of capture) and julianday() stays a REAL.
    exec(c, "CREATE TABLE IF NOT EXISTS " + LOG + " (seq INTEGER PRIMARY KEY, cap INTEGER NOT NULL, pk, op TEXT NOT NULL, "
        + "mask INTEGER, wall NOT NULL, vals TEXT)");
    // One row per synced row. Device columns: ver (server version last seen, the base of the next
    // push), dirty (0 clean, 1 pending, 2 failed), pending ({col: clock} of unpushed columns),
    // err. Server columns: clocks ({col: clock}), origin (device whose unmodified write this is),
    // tomb (values at delete). Both: live and dead registers (see Merge).
    exec(c, "CREATE TABLE IF NOT EXISTS _tidesync_rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, ver INTEGER NOT NULL DEFAULT 0, "
        + "live TEXT, dead TEXT, clocks TEXT, origin TEXT, tomb TEXT, dirty INTEGER NOT NULL DEFAULT 0, pending TEXT, err TEXT, "
        + "PRIMARY KEY (tbl, pk)) WITHOUT ROWID");
    // This connection's switch for its own writes (see the class comment). TEMP objects belong to
    // this connection alone and vanish with it.
    exec(c, "CREATE TEMP TABLE IF NOT EXISTS _tidesync_applying (x INTEGER)");
    exec(c, "CREATE TEMP TRIGGER IF NOT EXISTS _tidesync_skip_own BEFORE INSERT ON main." + LOG
        + " WHEN EXISTS (SELECT 1 FROM temp._tidesync_applying) BEGIN SELECT RAISE(IGNORE); END");
    exec(c, "DELETE FROM temp._tidesync_applying");
  }

  /** From here until {@link #endApply} (same transaction), this connection's writes are not captured. */
  public static void beginApply(Connection c) throws SQLException {
    exec(c, "INSERT INTO temp._tidesync_applying VALUES (1)");
  }

  public static void endApply(Connection c) throws SQLException {
    exec(c, "DELETE FROM temp._tidesync_applying");
  }

  /**
   * Moves a log written by an earlier build's triggers ({@code _tidesync_log}: table name, key as
   * json_array, integer milliseconds) into {@link #LOG} and drops those triggers and that table.
   * Returns true when it did. Must run in the same write transaction that reinstalls the triggers
   * (see {@link #hasTriggers}), or writes in between would not be captured.
   */
  public static boolean migrateLegacyLog(Connection c) throws SQLException {
    if (Sql.number(c, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_tidesync_log'") == 0) {
      return false;
    }
    boolean hasNcols = Sql.number(c, "SELECT count(*) FROM pragma_table_info('_tidesync_log') WHERE name = 'ncols'") > 0;
    boolean hasVals = Sql.number(c, "SELECT count(*) FROM pragma_table_info('_tidesync_log') WHERE name = 'vals'") > 0;
    // Without ncols (the first development builds) an entry counts as written in every column.
    String ncols = hasNcols ? "l.ncols" : "0";
    // Only the capture rows made here: a file this build opened before (then an older build
    // again) may hold matching ones, which must not copy the entries twice.
    long before = Sql.number(c, "SELECT coalesce(max(id), 0) FROM _tidesync_capture");
    exec(c, "INSERT INTO _tidesync_capture (tbl, ncols, keyform) SELECT DISTINCT l.tbl, " + ncols + ", 'json' FROM _tidesync_log l");
    exec(c, "INSERT INTO " + LOG + " (cap, pk, op, mask, wall, vals) SELECT g.id, l.pk, l.op, l.mask, l.wall / "
        + MILLIS_PER_DAY + " + " + UNIX_EPOCH_JULIAN_DAY + ", " + (hasVals ? "l.vals" : "NULL")
        + " FROM _tidesync_log l JOIN _tidesync_capture g ON g.tbl = l.tbl AND g.ncols = " + ncols
        + " AND g.keyform = 'json' AND g.id > " + before + " ORDER BY l.seq");
    List<String> old = new java.util.ArrayList<>();
    try (java.sql.Statement s = c.createStatement();
        java.sql.ResultSet rs = s.executeQuery("SELECT name FROM sqlite_master WHERE type = 'trigger' "
            + "AND name GLOB '_tidesync_*' AND sql LIKE '%\\_tidesync\\_log%' ESCAPE '\\'")) {
      while (rs.next()) {
        old.add(rs.getString(1));
      }
    }
    for (String name : old) {
      exec(c, "DROP TRIGGER " + q(name));
    }
    exec(c, "DROP TABLE _tidesync_log");
    exec(c, "DROP TABLE IF EXISTS _tidesync_apply");
    return true;
  }

  /** The four capture triggers of a table: insert, update, key-changing update, delete. */
  private static final List<String> KINDS = List.of("ins", "upd", "updk", "del");

  static String triggerName(String kind, String table) {
    return q("_tidesync_" + kind + "_" + table);
  }

  public static void dropTriggers(Connection c, String table) throws SQLException {
    for (String kind : KINDS) {
      exec(c, "DROP TRIGGER IF EXISTS " + triggerName(kind, table));
    }
  }

  /**
   * Drops capture triggers that no longer sit on the table they were made for: {@code ALTER TABLE
   * a RENAME TO b} moves a's triggers to b under their old names, and b then gets its own, so every
   * write to b would be logged twice (once under a's capture, skipped at absorb).
   */
  public static void dropStrayTriggers(Connection c) throws SQLException {
    List<String> stray = new java.util.ArrayList<>();
    try (java.sql.Statement s = c.createStatement();
        java.sql.ResultSet rs = s.executeQuery("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' AND name GLOB '_tidesync_*'")) {
      while (rs.next()) {
        String name = rs.getString(1);
        String table = rs.getString(2);
        if (KINDS.stream().noneMatch(kind -> name.equals("_tidesync_" + kind + "_" + table))) {
          stray.add(name);
        }
      }
    }
    for (String name : stray) {
      exec(c, "DROP TRIGGER " + q(name));
    }
  }

  /** Whether all four capture triggers of a table exist (they can be missing after {@link #migrateLegacyLog}). */
  public static boolean hasTriggers(Connection c, String table) throws SQLException {
    List<Object> args = new java.util.ArrayList<>(List.of(table));
    for (String kind : KINDS) {
      args.add("_tidesync_" + kind + "_" + table);
    }
    return Sql.number(c, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name IN (?, ?, ?, ?)",
        args.toArray()) == KINDS.size();
  }

  /** (Re)creates the four capture triggers of a table for its current columns. */
  public static void installTriggers(Connection c, TableSchema t) throws SQLException {
    installTriggers(c, t, false);
  }

  /**
   * The capture triggers of a server's dataset table. They differ from a device's in two ways:
   * <ul>
   *   <li>a delete also logs the row's values (the server's tombstone needs them: a newer
   *       concurrent update that brings the row back must find its other columns). REALs are
   *       logged with 17 significant digits, which is exact; SQLite's JSON would round them to 15;
   *   <li>every trigger has a WHEN guard that skips the server's own writes: a push writes each
   *       row once, and on the server that is the hot path, while backend writes are rare. The
   *       guard reads {@value #QUIET}, which holds a row only inside the server's own write
   *       transaction (see {@link #quiet}); no other connection can write meanwhile or ever see
   *       that row. The triggers cost the store about 15 % of a push's time with the device's
   *       way (a log insert dropped by a TEMP trigger, see the class comment); the guard wins
   *       back most of it (BENCHMARKS.md, Session 4).
   * </ul>
   */
  public static void installServerTriggers(Connection c, TableSchema t) throws SQLException {
    installTriggers(c, t, true);
  }

  /**
   * Marks the start ({@code on}) or the end of the server's own writes in the current write
   * transaction: the server's triggers skip what is written in between. Every {@code on} is
   * followed by an {@code off} before the transaction commits, or the transaction rolls back, so
   * the row is never committed; {@link #createServerTables} also clears it when a dataset opens.
   */
  public static void quiet(Connection c, boolean on) throws SQLException {
    exec(c, on ? "INSERT INTO " + QUIET + " VALUES (1)" : "DELETE FROM " + QUIET);
  }

  /** The server's extra metadata table (see {@link #installServerTriggers}). */
  public static void createServerTables(Connection c) throws SQLException {
    exec(c, "CREATE TABLE IF NOT EXISTS " + QUIET + " (x INTEGER)");
    exec(c, "DELETE FROM " + QUIET);
  }

  /** Whether the file has triggers of its own (an app's, a backend's), not only Tidesync's. */
  public static boolean hasOtherTriggers(Connection c) throws SQLException {
    return Sql.number(c, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name NOT GLOB '_tidesync_*')") > 0;
  }

  /**
   * Whether every trigger of the file is a server's capture trigger: named for its table as
   * Tidesync names them and with the guard. Not the prefix alone: a backend may name its own
   * trigger {@code _tidesync_...} after the store opened (found in review).
   */
  public static boolean onlyServerTriggers(Connection c) throws SQLException {
    StringBuilder own = new StringBuilder();
    for (String kind : KINDS) {
      own.append(own.length() == 0 ? "" : ", ").append("'_tidesync_").append(kind).append("_' || tbl_name");
    }
    return Sql.number(c, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND NOT (name IN (" + own
        + ") AND instr(sql, '" + QUIET + "') > 0)") == 0;
  }

  /** Whether all four triggers of a server table exist and have the guard (earlier builds made them without). */
  public static boolean hasServerTriggers(Connection c, String table) throws SQLException {
    List<Object> args = new java.util.ArrayList<>(List.of(table));
    for (String kind : KINDS) {
      args.add("_tidesync_" + kind + "_" + table);
    }
    return Sql.number(c, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name IN (?, ?, ?, ?) "
        + "AND instr(sql, '" + QUIET + "') > 0", args.toArray()) == KINDS.size();
  }

  private static void installTriggers(Connection c, TableSchema t, boolean server) throws SQLException {
    dropTriggers(c, t.name());
    // A capture row per installation: entries logged by earlier triggers keep the column count
    // those triggers knew. Rows no entry refers to any more are dropped here.
    Sql.update(c, "DELETE FROM _tidesync_capture WHERE tbl = ? AND id NOT IN (SELECT cap FROM " + LOG + ")", t.name());
    long cap = captureId(c, t);
    String newKey = key(t, "NEW");
    String oldKey = key(t, "OLD");
    String samePk = t.primaryKey().stream().map(k -> "NEW." + q(k) + " IS OLD." + q(k)).collect(Collectors.joining(" AND "));
    String ins = "INSERT INTO " + LOG + " (cap, pk, op, wall) VALUES (" + cap + ", " + newKey + ", 'I', julianday())";
    String del = "INSERT INTO " + LOG + " (cap, pk, op, wall, vals) VALUES (" + cap + ", " + oldKey + ", 'D', julianday(), "
        + (server ? oldValues(t) : "NULL") + ")";
    String guard = server ? "NOT EXISTS (SELECT 1 FROM " + QUIET + ")" : null;
    exec(c, "CREATE TRIGGER " + triggerName("ins", t.name()) + " AFTER INSERT ON " + q(t.name()) + when(guard, null)
        + " BEGIN " + ins + "; END");
    exec(c, "CREATE TRIGGER " + triggerName("upd", t.name()) + " AFTER UPDATE ON " + q(t.name()) + when(guard, samePk)
        + " BEGIN INSERT INTO " + LOG + " (cap, pk, op, mask, wall) VALUES (" + cap + ", " + newKey + ", 'U', " + mask(t)
        + ", julianday()); END");
    exec(c, "CREATE TRIGGER " + triggerName("updk", t.name()) + " AFTER UPDATE ON " + q(t.name()) + when(guard, "NOT (" + samePk + ")")
        + " BEGIN " + del + "; " + ins + "; END");
    exec(c, "CREATE TRIGGER " + triggerName("del", t.name()) + " AFTER DELETE ON " + q(t.name()) + when(guard, null)
        + " BEGIN " + del + "; END");
  }

  /** A trigger's WHEN clause of the given conditions (null: none), or nothing. */
  private static String when(String guard, String condition) {
    if (guard == null && condition == null) {
      return "";
    }
    return " WHEN " + (guard == null ? condition : condition == null ? guard : guard + " AND " + condition);
  }

  private static long captureId(Connection c, TableSchema t) throws SQLException {
    Sql.update(c, "INSERT INTO _tidesync_capture (tbl, ncols, keyform, cols) VALUES (?, ?, ?, ?)", t.name(), t.columns().size(),
        t.primaryKey().size() == 1 ? "raw" : "json", Sql.jsonArray(t.columnNames()));
    return Sql.number(c, "SELECT last_insert_rowid()");
  }

  /**
   * The non-key columns a log entry counts as written. An insert writes all; an update the
   * columns whose bit is set, plus any column added to the table after the trigger that wrote the
   * entry was installed ({@code ncols} is the column count the trigger knew): its bit could not be
   * computed, and a write to it must not be lost. An update that changed nothing yields none.
   */
  public static List<String> changedColumns(TableSchema t, String op, long mask, int ncols) {
    return changedColumns(t, op, mask, ncols, null);
  }

  /**
   * As {@link #changedColumns(TableSchema, String, long, int)}, with the mask's bits named by
   * {@code cols} (the columns when the trigger was installed; null: by position): a column the
   * table no longer has is left out, one it has that the trigger did not know counts as written.
   */
  public static List<String> changedColumns(TableSchema t, String op, long mask, int ncols, List<String> cols) {
    List<String> out = new java.util.ArrayList<>();
    for (int i = 0; i < t.columns().size(); i++) {
      String col = t.columns().get(i).name();
      if (t.isPrimaryKey(col)) {
        continue;
      }
      int bit = cols == null ? (i < ncols ? i : -1) : cols.indexOf(col);
      if (!op.equals("U") || mask == -1 || bit < 0 || (bit < MASK_COLUMNS && (mask & (1L << bit)) != 0)) {
        out.add(col);
      }
    }
    return out;
  }

  /**
   * One captured write, as a trigger logged it; {@code key} is already canonical (see {@link
   * Keys#canonical}); {@code cols} names the mask's bits (null for an earlier build's trigger).
   */
  public record LogEntry(long seq, String table, String key, String op, long mask, long wall, int ncols, String values, List<String> cols) {
    /** The non-key columns this entry counts as written (see {@link Capture#changedColumns}). */
    public List<String> written(TableSchema t) {
      return changedColumns(t, op, mask, ncols, cols);
    }
  }

  /** The parsed {@code cols} of capture rows, by their JSON text (a handful per file). */
  private static final java.util.Map<String, List<String>> COLS = new java.util.concurrent.ConcurrentHashMap<>();

  private static List<String> cols(String json) {
    if (json == null) {
      return null;
    }
    return COLS.computeIfAbsent(json, j -> Keys.parseCanonical(j).stream().map(String::valueOf).toList());
  }

  /**
   * Whether a row of {@code _tidesync_rows r} exists (its newest insert or update is newer than
   * its newest delete), in SQL; as {@link dev.tidesync.core.Clocks#newer}.
   */
  public static final String LIVE = "(r.live IS NOT NULL AND (r.dead IS NULL OR r.live > r.dead))";

  /** Log entries processed per step: bounds memory however large a backlog grows. */
  public static final int LOG_CHUNK = 5000;

  /**
   * The columns {@link #entry} reads, from a query over {@code LOG l JOIN _tidesync_capture g}:
   * seq, table, key, keyform, op, mask, wall, ncols, vals, cols.
   */
  public static final String ENTRY_COLUMNS = "l.seq, g.tbl, l.pk, g.keyform, l.op, l.mask, l.wall, g.ncols, l.vals, g.cols";

  /**
   * The key text a log entry's row has in {@code _tidesync_rows} when the log holds it in its
   * canonical form already (one plain string or integer: the common case), as an SQL expression
   * for joins; other entries ({@code NULL} or a mismatch) look their row up by the Java key.
   */
  public static final String JOIN_KEY = "(CASE WHEN g.keyform = 'json' THEN l.pk WHEN typeof(l.pk) IN ('text', 'integer') "
      + "THEN json_array(l.pk) END)";

  /** Reads {@link #ENTRY_COLUMNS} starting at column {@code at}. */
  public static LogEntry entry(java.sql.ResultSet rs, int at) throws SQLException {
    Object pk = Sql.read(rs, at + 2);
    String key = canonicalKey("json".equals(rs.getString(at + 3)), pk);
    long mask = rs.getObject(at + 5) == null ? -1 : rs.getLong(at + 5);
    return new LogEntry(rs.getLong(at), rs.getString(at + 1), key, rs.getString(at + 4), mask, wallMillis(rs.getDouble(at + 6)),
        rs.getInt(at + 7), rs.getString(at + 8), cols(rs.getString(at + 9)));
  }

  /** julianday() as the triggers log it, back to Unix milliseconds (a REAL day holds them exactly to well under 1 ms). */
  static long wallMillis(double julianDay) {
    return Math.round((julianDay - UNIX_EPOCH_JULIAN_DAY) * MILLIS_PER_DAY);
  }

  /** The oldest {@link #LOG_CHUNK} log entries, in commit order. */
  public static List<LogEntry> readLog(RowIo io) throws SQLException {
    List<LogEntry> out = new java.util.ArrayList<>();
    java.sql.PreparedStatement ps = io.statement("SELECT " + ENTRY_COLUMNS + " FROM " + LOG + " l JOIN _tidesync_capture g ON g.id = l.cap "
        + "ORDER BY l.seq LIMIT " + LOG_CHUNK);
    try (java.sql.ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.add(entry(rs, 1));
      }
    }
    return out;
  }

  /** Removes log entries up to and including {@code seq} (after they were absorbed). */
  public static void trimLog(RowIo io, long seq) throws SQLException {
    java.sql.PreparedStatement ps = io.statement("DELETE FROM " + LOG + " WHERE seq <= ?");
    ps.setLong(1, seq);
    ps.executeUpdate();
  }

  /** Whether any captured write waits to be absorbed. */
  public static boolean hasEntries(Connection c) throws SQLException {
    return Sql.number(c, "SELECT EXISTS (SELECT 1 FROM " + LOG + ")") != 0;
  }

  /** Distinct rows with unabsorbed log entries, per table. */
  public static Map<String, Long> pendingPerTable(Connection c) throws SQLException {
    Map<String, Long> out = new java.util.TreeMap<>();
    try (java.sql.Statement s = c.createStatement(); java.sql.ResultSet rs = s.executeQuery("SELECT g.tbl, count(DISTINCT l.pk) FROM "
        + LOG + " l JOIN _tidesync_capture g ON g.id = l.cap GROUP BY g.tbl")) {
      while (rs.next()) {
        out.merge(rs.getString(1), rs.getLong(2), Long::sum);
      }
    }
    return out;
  }

  /**
   * Logs every existing row of a table as an insert: the initial load of a newly captured table.
   * Call after {@link #installTriggers}: the entries name the capture those triggers use.
   */
  public static int logExistingRows(Connection c, TableSchema t) throws SQLException {
    long cap = Sql.number(c, "SELECT max(id) FROM _tidesync_capture WHERE tbl = ?", t.name());
    return Sql.update(c, "INSERT INTO " + LOG + " (cap, pk, op, wall) SELECT " + cap + ", " + key(t, null) + ", 'I', julianday() FROM "
        + q(t.name()));
  }

  /**
   * The keys of every row of {@code t}, in key order, in the form the triggers log them (read
   * each with {@link #canonicalKey}): the initial load writes the metadata straight from these.
   */
  public static String existingKeysSql(TableSchema t) {
    return "SELECT " + key(t, null) + " FROM " + q(t.name()) + " ORDER BY "
        + t.primaryKey().stream().map(k -> q(k)).collect(Collectors.joining(", "));
  }

  /**
   * The metadata key of a key as the triggers log it (see {@link #key}): exactly what absorbing a
   * logged entry of the row gives, so that the row's later logged writes find its metadata.
   */
  public static String canonicalKey(TableSchema t, Object logged) {
    return canonicalKey(t.primaryKey().size() != 1, logged);
  }

  /** A logged key's metadata key: a json_array of the key's columns (keyform 'json'), else the one column's value. */
  private static String canonicalKey(boolean json, Object logged) {
    return json ? Keys.canonicalOfSqlite((String) logged) : Keys.canonical(java.util.Collections.singletonList(logged));
  }

  /**
   * Logs the inserts and deletes a table took while it had no triggers (rebuilt the SQLite way:
   * new table, copy, drop, rename), found by comparing its rows' keys with the device's metadata:
   * a row with no live metadata was inserted, live metadata with no row was deleted. Updates in
   * that window leave no trace and stay uncaptured. Call after the triggers are reinstalled, in
   * the same write transaction, with the log absorbed (so that every write the old triggers
   * logged is in the metadata already). Returns how many entries it logged.
   *
   * <p>For a one-column key only, unchanged by the rebuild: its metadata key is the canonical
   * text of the value itself, whether the row was captured (logged raw) or pulled, so an
   * unchanged row always matches. A composite key is logged as SQLite's json_array, which rounds
   * REAL parts: an unchanged row could be taken for deleted and inserted.
   */
  public static int logUncaptured(Connection c, TableSchema t) throws SQLException {
    if (t.primaryKey().size() != 1) {
      throw new IllegalArgumentException("table '" + t.name() + "' has a composite key: its uncaptured writes cannot be matched exactly");
    }
    long cap = Sql.number(c, "SELECT max(id) FROM _tidesync_capture WHERE tbl = ?", t.name());
    String keyCol = q(t.primaryKey().get(0));
    exec(c, "CREATE TEMP TABLE IF NOT EXISTS _tidesync_seen (pk TEXT PRIMARY KEY) WITHOUT ROWID");
    exec(c, "DELETE FROM temp._tidesync_seen");
    try {
      // The rows' keys in canonical text (the metadata's form), through a TEMP table, not the heap.
      try (java.sql.PreparedStatement read = c.prepareStatement("SELECT " + keyCol + " FROM " + q(t.name()));
          java.sql.PreparedStatement seen = c.prepareStatement("INSERT OR IGNORE INTO temp._tidesync_seen (pk) VALUES (?)");
          java.sql.ResultSet rs = read.executeQuery()) {
        int n = 0;
        while (rs.next()) {
          seen.setString(1, Keys.canonical(java.util.Collections.singletonList(Sql.read(rs, 1))));
          seen.addBatch();
          if (++n % 1000 == 0) {
            seen.executeBatch();
          }
        }
        seen.executeBatch();
      }
      // Inserted: logged from the row itself, as the triggers log it.
      int logged = logEach(c, "SELECT s.pk FROM temp._tidesync_seen s WHERE NOT EXISTS (SELECT 1 FROM _tidesync_rows r "
          + "WHERE r.tbl = ? AND r.pk = s.pk AND " + LIVE + ")", t.name(), "INSERT INTO " + LOG + " (cap, pk, op, wall) SELECT " + cap
          + ", " + keyCol + ", 'I', julianday() FROM " + q(t.name()) + " WHERE " + keyCol + " = ?");
      // Deleted: the row is gone, so its key value is taken from the metadata's text.
      logged += logEach(c, "SELECT r.pk FROM _tidesync_rows r WHERE r.tbl = ? AND " + LIVE
          + " AND NOT EXISTS (SELECT 1 FROM temp._tidesync_seen s WHERE s.pk = r.pk)", t.name(),
          "INSERT INTO " + LOG + " (cap, pk, op, wall) VALUES (" + cap + ", ?, 'D', julianday())");
      return logged;
    } finally {
      exec(c, "DELETE FROM temp._tidesync_seen");
    }
  }

  /**
   * Runs {@code write} once for each canonical key {@code select} yields (its one parameter is
   * the table), with the key's value as its parameter; returns the rows written. Streams: the
   * writes go to the log, which the select does not read.
   */
  private static int logEach(Connection c, String select, String table, String write) throws SQLException {
    int n = 0;
    try (java.sql.PreparedStatement keys = c.prepareStatement(select); java.sql.PreparedStatement log = c.prepareStatement(write)) {
      keys.setString(1, table);
      try (java.sql.ResultSet rs = keys.executeQuery()) {
        while (rs.next()) {
          List<Object> key = Keys.parseCanonical(rs.getString(1));
          for (int i = 0; i < key.size(); i++) {
            Sql.bind(log, i + 1, key.get(i));
          }
          n += log.executeUpdate();
        }
      }
    }
    return n;
  }

  /** A JSON object of OLD's values: BLOBs as {"$hex": ...}, REALs as {"$r": 17-digit text}. */
  private static String oldValues(TableSchema t) {
    return "json_object(" + t.columns().stream().map(col -> {
      String v = "OLD." + q(col.name());
      return lit(col.name()) + ", CASE typeof(" + v + ") WHEN 'blob' THEN json_object('$hex', hex(" + v + ")) WHEN 'real' THEN "
          + "json_object('$r', printf('%!.17g', " + v + ")) ELSE " + v + " END";
    }).collect(Collectors.joining(", ")) + ")";
  }

  private static String key(TableSchema t, String alias) {
    String prefix = alias == null ? "" : alias + ".";
    if (t.primaryKey().size() == 1) {
      return prefix + q(t.primaryKey().get(0)); // keyform 'raw' (see captureId)
    }
    return "json_array(" + t.primaryKey().stream()
        .map(k -> "CASE typeof(" + prefix + q(k) + ") WHEN 'blob' THEN json_object('$hex', hex(" + prefix + q(k) + ")) ELSE "
            + prefix + q(k) + " END")
        .collect(Collectors.joining(", ")) + ")";
  }

  /** Bit i set when column i (in declaration order) changed; -1 means "all columns" (wide tables). */
  private static String mask(TableSchema t) {
    List<ColumnSchema> cols = t.columns();
    if (cols.size() > MASK_COLUMNS) {
      return "-1";
    }
    StringBuilder sb = new StringBuilder("(0");
    for (int i = 0; i < cols.size(); i++) {
      if (t.isPrimaryKey(cols.get(i).name())) {
        continue;
      }
      String col = q(cols.get(i).name());
      sb.append(" | (CASE WHEN NEW.").append(col).append(" IS NOT OLD.").append(col).append(" THEN ").append(1L << i).append(" ELSE 0 END)");
    }
    return sb.append(')').toString();
  }
}
