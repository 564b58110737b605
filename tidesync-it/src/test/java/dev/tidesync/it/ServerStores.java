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

  /**
   * Like {@link #rows(StorageFactory, Storage, DatasetId, String)}, but each value is followed by its
   * storage class as SQLite's {@code typeof()} names it ({@code integer}, {@code real}, {@code text},
   * {@code blob}, {@code null}), so that a device's {@code SELECT v, typeof(v)} can be compared with
   * the server's rows on any store: an integer key that came back as text would differ.
   */
  public static List<String> typedRows(StorageFactory store, Storage storage, DatasetId id, String query) throws SQLException {
    try (Connection c = store.backend(storage, id)) {
      return rows(c, query, true);
    }
  }

  public static List<String> rows(Connection c, String query) throws SQLException {
    return rows(c, query, false);
  }

  private static List<String> rows(Connection c, String query, boolean typed) throws SQLException {
    List<String> out = new ArrayList<>();
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(query)) {
      int n = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= n; i++) {
          Object v = Values.normalize(rs.getObject(i));
          sb.append(i > 1 ? "|" : "").append(v instanceof Bytes b ? b.toString() : String.valueOf(v));
          if (typed) {
            sb.append('|').append(typeOf(v));
          }
        }
        out.add(sb.toString());
      }
    }
    return out;
  }

  /** SQLite's name of a normalised value's storage class. */
  public static String typeOf(Object v) {
    if (v == null) {
      return "null";
    }
    if (v instanceof Long) {
      return "integer";
    }
    if (v instanceof Double) {
      return "real";
    }
    return v instanceof Bytes ? "blob" : "text";
  }

  /** The tables of a dataset's database (Tidesync's own {@code _tidesync_*} included), sorted by name. */
  public static List<String> tables(StorageFactory store, Storage storage, DatasetId id) throws SQLException {
    return rows(store, storage, id, store.name().equals("sqlite")
        ? "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        : "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1");
  }

  /**
   * A table's columns in the dataset's database, in order, as "name TYPE" with the type the
   * database's own catalog gives (JDBC metadata, as a backend's tools see it). Empty for a table
   * that does not exist.
   */
  public static List<String> columns(StorageFactory store, Storage storage, DatasetId id, String table) throws SQLException {
    try (Connection c = store.backend(storage, id); ResultSet rs = c.getMetaData().getColumns(null, c.getSchema(), table, null)) {
      List<String> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getString("COLUMN_NAME") + " " + rs.getString("TYPE_NAME"));
      }
      return out;
    }
  }

  /**
   * What {@link #columns} shows for columns a device declared as "name TYPE": the declared type
   * on SQLite, the PostgreSQL type of its SQLite affinity on PostgreSQL (README, PostgreSQL
   * storage: INT bigint, CHAR/CLOB/TEXT or none text, BLOB bytea, REAL/FLOA/DOUB double, else numeric).
   */
  public static List<String> columnsAsStored(StorageFactory store, String... declared) {
    List<String> out = new ArrayList<>();
    for (String d : declared) {
      int space = d.indexOf(' ');
      String name = space < 0 ? d : d.substring(0, space);
      String type = space < 0 ? "" : d.substring(space + 1);
      out.add(name + " " + (store.name().equals("sqlite") ? type : pgType(type)));
    }
    return out;
  }

  private static String pgType(String declared) {
    String t = declared.toUpperCase(java.util.Locale.ROOT);
    if (t.contains("INT")) {
      return "int8";
    }
    if (t.isEmpty() || t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT")) {
      return "text";
    }
    if (t.contains("BLOB")) {
      return "bytea";
    }
    return t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") ? "float8" : "numeric";
  }

  /** A table's primary key columns in key order, from the database's own catalog. */
  public static List<String> primaryKey(StorageFactory store, Storage storage, DatasetId id, String table) throws SQLException {
    try (Connection c = store.backend(storage, id); ResultSet rs = c.getMetaData().getPrimaryKeys(null, c.getSchema(), table)) {
      java.util.SortedMap<Integer, String> bySeq = new java.util.TreeMap<>();
      while (rs.next()) {
        bySeq.put(rs.getInt("KEY_SEQ"), rs.getString("COLUMN_NAME"));
      }
      return new ArrayList<>(bySeq.values());
    }
  }

  /** A table's foreign keys as "referenced table|column|referenced column", from the database's own catalog. */
  public static List<String> foreignKeys(StorageFactory store, Storage storage, DatasetId id, String table) throws SQLException {
    try (Connection c = store.backend(storage, id); ResultSet rs = c.getMetaData().getImportedKeys(null, c.getSchema(), table)) {
      List<String> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getString("PKTABLE_NAME") + "|" + rs.getString("FKCOLUMN_NAME") + "|" + rs.getString("PKCOLUMN_NAME"));
      }
      return out;
    }
  }
}
