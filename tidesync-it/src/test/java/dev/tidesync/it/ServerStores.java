package dev.tidesync.it;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.Values;
import dev.tidesync.pg.PgStorageFactory;
import dev.tidesync.sqlite.SqliteStorageFactory;
import dev.tidesync.tck.StorageFactory;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;

/**
 * The server stores the store-independent end-to-end tests run against. Those tests are
 * {@code @ParameterizedClass} over {@link #all()}: to run them (and the convergence property test)
 * against another store, add its {@link StorageFactory} here.
 */
public final class ServerStores {
  private ServerStores() {}

  public static Stream<Arguments> all() {
    return Stream.of(new SqliteStorageFactory(), new PgStorageFactory()).map(f -> Arguments.argumentSet(f.name(), f));
  }

  /**
   * Every row of a query in a dataset's database as "a|b|c", each value in one store-independent
   * text form (NULL as "null", a REAL as Java prints it, a BLOB as x'hex'), read as a backend would.
   */
  public static List<String> rows(StorageFactory store, Storage storage, DatasetId id, String query) throws SQLException {
    try (Connection c = store.backend(storage, id)) {
      return rows(c, query);
    }
  }

  /** The single value of a one-row, one-column query in a dataset's database, as JDBC returns it. */
  public static Object rowsOf(StorageFactory store, Storage storage, DatasetId id, String query) throws SQLException {
    try (Connection c = store.backend(storage, id); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(query)) {
      if (!rs.next()) {
        throw new SQLException("no row: " + query);
      }
      return rs.getObject(1);
    }
  }

  public static List<String> rows(Connection c, String query) throws SQLException {
    List<String> out = new ArrayList<>();
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(query)) {
      int n = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= n; i++) {
          Object v = Values.normalize(rs.getObject(i));
          sb.append(i > 1 ? "|" : "").append(v instanceof Bytes b ? b.toString() : String.valueOf(v));
        }
        out.add(sb.toString());
      }
    }
    return out;
  }
}
