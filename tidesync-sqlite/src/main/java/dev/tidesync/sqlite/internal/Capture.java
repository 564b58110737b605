package dev.tidesync.sqlite.internal;

import static dev.tidesync.sqlite.internal.Sql.exec;
import static dev.tidesync.sqlite.internal.Sql.lit;
import static dev.tidesync.sqlite.internal.Sql.q;

import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.TableSchema;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Tidesync's metadata tables and the capture triggers.
 *
 * <p>Triggers are plain SQL with no application-defined function, so writes from any connection
 * (the app's JDBC code, the sqlite3 shell, another process) are captured in the same transaction
 * as the write. A trigger only appends to {@code _tidesync_log}: the table, the key as SQLite's
 * {@code json_array}, the operation, a bitmask of changed columns and the wall-clock
 * milliseconds. Clocks, versions and values are derived later, when the log is absorbed.
 *
 * <p>While Tidesync applies remote changes, {@code _tidesync_apply} holds a row inside that same
 * write transaction, and the triggers' WHEN clause skips capture: pulled changes are never
 * pushed back. No other connection can write during that transaction (SQLite has one writer), so
 * no app write is ever mistaken for a remote one.
 */
public final class Capture {
  /** Columns beyond this many get no per-column bit: an update then counts as touching all columns. */
  public static final int MASK_COLUMNS = 62;

  static final String WALL = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

  private Capture() {}

  public static void createMetaTables(Connection c) throws SQLException {
    exec(c, "CREATE TABLE IF NOT EXISTS _tidesync_meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID");
    exec(c, "CREATE TABLE IF NOT EXISTS _tidesync_log (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, pk TEXT NOT NULL, "
        + "op TEXT NOT NULL, mask INTEGER NOT NULL, wall INTEGER NOT NULL, ncols INTEGER NOT NULL DEFAULT 0)");
    if (Sql.number(c, "SELECT count(*) FROM pragma_table_info('_tidesync_log') WHERE name = 'ncols'") == 0) {
      // Files made before the column existed (development builds of 0.1.0).
      exec(c, "ALTER TABLE _tidesync_log ADD COLUMN ncols INTEGER NOT NULL DEFAULT 0");
    }
    if (Sql.number(c, "SELECT count(*) FROM pragma_table_info('_tidesync_log') WHERE name = 'vals'") == 0) {
      exec(c, "ALTER TABLE _tidesync_log ADD COLUMN vals TEXT");
    }
    exec(c, "CREATE TABLE IF NOT EXISTS _tidesync_apply (x INTEGER)");
    // One row per synced row. Device columns: ver (server version last seen, the base of the next
    // push), dirty (0 clean, 1 pending, 2 failed), pending ({col: clock} of unpushed columns),
    // err. Server columns: clocks ({col: clock}), origin (device whose unmodified write this is),
    // tomb (values at delete). Both: live and dead registers (see Merge).
    exec(c, "CREATE TABLE IF NOT EXISTS _tidesync_rows (tbl TEXT NOT NULL, pk TEXT NOT NULL, ver INTEGER NOT NULL DEFAULT 0, "
        + "live TEXT, dead TEXT, clocks TEXT, origin TEXT, tomb TEXT, dirty INTEGER NOT NULL DEFAULT 0, pending TEXT, err TEXT, "
        + "PRIMARY KEY (tbl, pk)) WITHOUT ROWID");
    exec(c, "DELETE FROM _tidesync_apply");
  }

  public static void beginApply(Connection c) throws SQLException {
    exec(c, "INSERT INTO _tidesync_apply VALUES (1)");
  }

  public static void endApply(Connection c) throws SQLException {
    exec(c, "DELETE FROM _tidesync_apply");
  }

  static String triggerName(String kind, String table) {
    return q("_tidesync_" + kind + "_" + table);
  }

  public static void dropTriggers(Connection c, String table) throws SQLException {
    for (String kind : List.of("ins", "upd", "updk", "del")) {
      exec(c, "DROP TRIGGER IF EXISTS " + triggerName(kind, table));
    }
  }

  /** (Re)creates the four capture triggers of a table for its current columns. */
  public static void installTriggers(Connection c, TableSchema t) throws SQLException {
    installTriggers(c, t, false);
  }

  /**
   * As {@link #installTriggers(Connection, TableSchema)}; with {@code keepDeletedValues} a delete
   * also logs the row's values (the server's tombstone needs them: a newer concurrent update that
   * brings the row back must find its other columns). REALs are logged with 17 significant
   * digits, which is exact; SQLite's JSON would round them to 15.
   */
  public static void installTriggers(Connection c, TableSchema t, boolean keepDeletedValues) throws SQLException {
    dropTriggers(c, t.name());
    String tbl = lit(t.name());
    String when = "WHEN NOT EXISTS (SELECT 1 FROM _tidesync_apply)";
    String newKey = key(t, "NEW");
    String oldKey = key(t, "OLD");
    String samePk = t.primaryKey().stream().map(k -> "NEW." + q(k) + " IS OLD." + q(k)).collect(Collectors.joining(" AND "));
    String log = "INSERT INTO _tidesync_log (tbl, pk, op, mask, wall, ncols) VALUES ";
    int n = t.columns().size();
    exec(c, "CREATE TRIGGER " + triggerName("ins", t.name()) + " AFTER INSERT ON " + q(t.name()) + " " + when
        + " BEGIN " + log + "(" + tbl + ", " + newKey + ", 'I', -1, " + WALL + ", " + n + "); END");
    exec(c, "CREATE TRIGGER " + triggerName("upd", t.name()) + " AFTER UPDATE ON " + q(t.name()) + " " + when + " AND (" + samePk + ")"
        + " BEGIN " + log + "(" + tbl + ", " + newKey + ", 'U', " + mask(t) + ", " + WALL + ", " + n + "); END");
    String logDelete = "INSERT INTO _tidesync_log (tbl, pk, op, mask, wall, ncols, vals) VALUES (" + tbl + ", " + oldKey + ", 'D', 0, "
        + WALL + ", " + n + ", " + (keepDeletedValues ? oldValues(t) : "NULL") + ")";
    exec(c, "CREATE TRIGGER " + triggerName("updk", t.name()) + " AFTER UPDATE ON " + q(t.name()) + " " + when + " AND NOT (" + samePk + ")"
        + " BEGIN " + logDelete + "; "
        + log + "(" + tbl + ", " + newKey + ", 'I', -1, " + WALL + ", " + n + "); END");
    exec(c, "CREATE TRIGGER " + triggerName("del", t.name()) + " AFTER DELETE ON " + q(t.name()) + " " + when
        + " BEGIN " + logDelete + "; END");
  }

  /**
   * The non-key columns a log entry counts as written. An insert writes all; an update the
   * columns whose bit is set, plus any column added to the table after the trigger that wrote the
   * entry was installed ({@code ncols} is the column count the trigger knew): its bit could not be
   * computed, and a write to it must not be lost. An update that changed nothing yields none.
   */
  public static List<String> changedColumns(TableSchema t, String op, long mask, int ncols) {
    List<String> out = new java.util.ArrayList<>();
    for (int i = 0; i < t.columns().size(); i++) {
      String col = t.columns().get(i).name();
      if (t.isPrimaryKey(col)) {
        continue;
      }
      if (!op.equals("U") || mask == -1 || i >= ncols || (i < MASK_COLUMNS && (mask & (1L << i)) != 0)) {
        out.add(col);
      }
    }
    return out;
  }

  /** One captured write, as a trigger logged it. */
  public record LogEntry(long seq, String table, String key, String op, long mask, long wall, int ncols, String values) {
    /** The non-key columns this entry counts as written (see {@link Capture#changedColumns}). */
    public List<String> written(TableSchema t) {
      return changedColumns(t, op, mask, ncols);
    }
  }

  /** Log entries processed per step: bounds memory however large a backlog grows. */
  public static final int LOG_CHUNK = 5000;

  /** The oldest {@link #LOG_CHUNK} log entries, in commit order. */
  public static List<LogEntry> readLog(RowIo io) throws SQLException {
    List<LogEntry> out = new java.util.ArrayList<>();
    java.sql.PreparedStatement ps = io.statement("SELECT seq, tbl, pk, op, mask, wall, ncols, vals FROM _tidesync_log ORDER BY seq LIMIT "
        + LOG_CHUNK);
    try (java.sql.ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        out.add(new LogEntry(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getLong(5), rs.getLong(6), rs.getInt(7),
            rs.getString(8)));
      }
    }
    return out;
  }

  /** Removes log entries up to and including {@code seq} (after they were absorbed). */
  public static void trimLog(RowIo io, long seq) throws SQLException {
    java.sql.PreparedStatement ps = io.statement("DELETE FROM _tidesync_log WHERE seq <= ?");
    ps.setLong(1, seq);
    ps.executeUpdate();
  }

  /** Logs every existing row of a table as an insert: the initial load of a newly captured table. */
  public static int logExistingRows(Connection c, TableSchema t) throws SQLException {
    return Sql.update(c, "INSERT INTO _tidesync_log (tbl, pk, op, mask, wall, ncols) SELECT " + lit(t.name()) + ", "
        + key(t, null) + ", 'I', -1, " + WALL + ", " + t.columns().size() + " FROM " + q(t.name()));
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
