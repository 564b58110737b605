package dev.tidesync.cli.internal;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.sqlite.SQLiteConfig;

/**
 * Read-only looks into SQLite files (replicas and the server's dataset files): the user tables
 * and their rows in key order, as text that compares equal exactly when the values do (type
 * included). Used by the demo's row-by-row verification.
 */
public final class SqliteFiles {
  private SqliteFiles() {}

  /** Opens {@code file} read-only: looking must never change a replica or a dataset. */
  public static Connection readOnly(Path file) throws SQLException {
    SQLiteConfig cfg = new SQLiteConfig();
    cfg.setReadOnly(true);
    cfg.setBusyTimeout(10_000);
    return cfg.createConnection("jdbc:sqlite:" + file.toAbsolutePath());
  }

  /** A table's columns in declaration order and its primary-key columns in key order. */
  public record Table(String name, List<String> columns, List<String> key) {}

  /** User tables (not SQLite's, not Tidesync's {@code _tidesync_*}), by name. */
  public static Map<String, Table> tables(Connection c) throws SQLException {
    Map<String, Table> out = new TreeMap<>();
    List<String> names = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        + "AND name NOT LIKE '\\_tidesync\\_%' ESCAPE '\\' ORDER BY name");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        names.add(rs.getString(1));
      }
    }
    for (String name : names) {
      List<String> cols = new ArrayList<>();
      Map<Integer, String> key = new TreeMap<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid")) {
        ps.setString(1, name);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            cols.add(rs.getString(1));
            if (rs.getInt(2) > 0) {
              key.put(rs.getInt(2), rs.getString(1));
            }
          }
        }
      }
      out.put(name, new Table(name, List.copyOf(cols), List.copyOf(key.values())));
    }
    return out;
  }

  /** Rows of {@code t} (columns as {@code t} names them) in key order, each as typed text. */
  public static List<String> rows(Connection c, Table t) throws SQLException {
    List<String> order = t.key().isEmpty() ? t.columns() : t.key();
    String sql = "SELECT " + quoted(t.columns()) + " FROM " + q(t.name()) + " ORDER BY " + quoted(order);
    List<String> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
      int n = t.columns().size();
      while (rs.next()) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= n; i++) {
          if (i > 1) {
            sb.append(" | ");
          }
          sb.append(typed(rs.getObject(i)));
        }
        out.add(sb.toString());
      }
    }
    return out;
  }

  /** Rows of every table of {@code tables}, by table. */
  public static Map<String, List<String>> snapshot(Path file, Map<String, Table> tables) throws SQLException {
    Map<String, List<String>> out = new LinkedHashMap<>();
    try (Connection c = readOnly(file)) {
      for (Table t : tables.values()) {
        out.put(t.name(), rows(c, t));
      }
    }
    return out;
  }

  private static String typed(Object v) {
    if (v == null) {
      return "NULL";
    }
    if (v instanceof Integer || v instanceof Long) {
      return "int " + v;
    }
    if (v instanceof Number n) {
      return "real " + Double.toString(n.doubleValue());
    }
    if (v instanceof byte[] b) {
      return "blob x'" + HexFormat.of().formatHex(b) + "'";
    }
    return "'" + v.toString().replace("'", "''") + "'";
  }

  private static String quoted(List<String> names) {
    List<String> q = new ArrayList<>();
    for (String n : names) {
      q.add(q(n));
    }
    return String.join(", ", q);
  }

  private static String q(String identifier) {
    return "\"" + identifier.replace("\"", "\"\"") + "\"";
  }
}
