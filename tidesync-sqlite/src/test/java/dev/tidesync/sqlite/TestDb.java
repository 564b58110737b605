package dev.tidesync.sqlite;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/** Plain JDBC access to a SQLite file, with no Tidesync code: what an app's own connection does. */
final class TestDb {
  private TestDb() {}

  static Connection connect(Path db) throws SQLException {
    Connection c = DriverManager.getConnection("jdbc:sqlite:" + db.toAbsolutePath());
    try (Statement s = c.createStatement()) {
      s.execute("PRAGMA busy_timeout = 10000");
    }
    return c;
  }

  static void sql(Path db, String... statements) throws SQLException {
    try (Connection c = connect(db); Statement s = c.createStatement()) {
      for (String q : statements) {
        s.execute(q);
      }
    }
  }

  /** Every row of the query as "a|b|c" (NULL as "null"). */
  static List<String> rows(Path db, String query) throws SQLException {
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

  static String one(Path db, String query) throws SQLException {
    List<String> r = rows(db, query);
    return r.isEmpty() ? null : r.get(0);
  }

  static long count(Path db, String query) throws SQLException {
    return Long.parseLong(one(db, query));
  }
}
