package dev.tidesync.it.replica;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/** Plain JDBC access to a SQLite file, with no Tidesync code: what an app's own connection does. */
public final class Db {
  private Db() {}

  public static Connection connect(Path db) throws SQLException {
    Connection c = DriverManager.getConnection("jdbc:sqlite:" + db.toAbsolutePath());
    try (Statement s = c.createStatement()) {
      s.execute("PRAGMA busy_timeout = 10000");
    }
    return c;
  }

  public static void sql(Path db, String... statements) throws SQLException {
    try (Connection c = connect(db); Statement s = c.createStatement()) {
      for (String q : statements) {
        s.execute(q);
      }
    }
  }

  /** Every row of the query as "a|b|c" (NULL as "null"). */
  public static List<String> rows(Path db, String query) throws SQLException {
    List<String> out = new ArrayList<>();
    try (Connection c = connect(db); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(query)) {
      int n = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= n; i++) {
          sb.append(i > 1 ? "|" : "").append(rs.getString(i));
        }
        out.add(sb.toString());
      }
    }
    return out;
  }

  public static String one(Path db, String query) throws SQLException {
    List<String> r = rows(db, query);
    return r.isEmpty() ? null : r.get(0);
  }

  public static long count(Path db, String query) throws SQLException {
    return Long.parseLong(one(db, query));
  }

  public static boolean tableExists(Path db, String table) throws SQLException {
    return count(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '" + table + "'") == 1;
  }

  /** Column "name type" pairs of a table, in declaration order. */
  public static List<String> columns(Path db, String table) throws SQLException {
    return rows(db, "SELECT name || ' ' || type FROM pragma_table_info('" + table + "') ORDER BY cid");
  }
}
