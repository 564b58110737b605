package dev.tidesync.pg.internal;

import static dev.tidesync.pg.internal.Pg.q;

import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.TableSchema;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** Reads and writes rows of one dataset schema's tables by primary key, with typed binds. */
public final class PgRowIo {
  private final String schema;

  public PgRowIo(String schema) {
    this.schema = schema;
  }

  private String table(TableSchema t) {
    return q(schema) + "." + q(t.name());
  }

  private static String where(TableSchema t) {
    return t.primaryKey().stream().map(k -> q(k) + " = " + PgTypes.of(t.column(k).orElseThrow()).placeholder())
        .collect(Collectors.joining(" AND "));
  }

  private static int bindKey(PreparedStatement ps, int start, TableSchema t, List<Object> pk) throws SQLException {
    int i = start;
    for (int k = 0; k < pk.size(); k++) {
      String col = t.primaryKey().get(k);
      PgTypes.of(t.column(col).orElseThrow()).bind(ps, i++, col, pk.get(k));
    }
    return i;
  }

  /** The row's values of {@code columns} (all columns when null), or null when there is no such row. */
  public Map<String, Object> read(Connection c, TableSchema t, List<Object> pk, List<String> columns) throws SQLException {
    List<ColumnSchema> cols = new ArrayList<>();
    for (ColumnSchema col : t.columns()) {
      if (columns == null || columns.contains(col.name())) {
        cols.add(col);
      }
    }
    String select = cols.isEmpty() ? "1" : cols.stream().map(col -> q(col.name())).collect(Collectors.joining(", "));
    try (PreparedStatement ps = c.prepareStatement("SELECT " + select + " FROM " + table(t) + " WHERE " + where(t))) {
      bindKey(ps, 1, t, pk);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < cols.size(); i++) {
          out.put(cols.get(i).name(), PgTypes.of(cols.get(i)).read(rs, i + 1));
        }
        return out;
      }
    }
  }

  /** A statement's text and how to bind one row's parameters to it. */
  public record Bound(String sql, Binder binder) {}

  @FunctionalInterface
  public interface Binder {
    void bind(PreparedStatement ps) throws SQLException;
  }

  /** Inserts the row or updates the given columns of it. {@code values} may include key columns. */
  public Bound upsert(TableSchema t, List<Object> pk, Map<String, Object> values) {
    List<ColumnSchema> cols = new ArrayList<>();
    for (String k : t.primaryKey()) {
      cols.add(t.column(k).orElseThrow());
    }
    for (ColumnSchema col : t.columns()) {
      if (!t.isPrimaryKey(col.name()) && values.containsKey(col.name())) {
        cols.add(col);
      }
    }
    String names = cols.stream().map(col -> q(col.name())).collect(Collectors.joining(", "));
    String marks = cols.stream().map(col -> PgTypes.of(col).placeholder()).collect(Collectors.joining(", "));
    List<String> sets = new ArrayList<>();
    for (ColumnSchema col : cols.subList(t.primaryKey().size(), cols.size())) {
      sets.add(q(col.name()) + " = EXCLUDED." + q(col.name()));
    }
    String conflict = " ON CONFLICT (" + t.primaryKey().stream().map(Pg::q).collect(Collectors.joining(", ")) + ") DO "
        + (sets.isEmpty() ? "NOTHING" : "UPDATE SET " + String.join(", ", sets));
    return new Bound("INSERT INTO " + table(t) + " (" + names + ") VALUES (" + marks + ")" + conflict, ps -> {
      int i = bindKey(ps, 1, t, pk);
      for (ColumnSchema col : cols.subList(t.primaryKey().size(), cols.size())) {
        PgTypes.of(col).bind(ps, i++, col.name(), values.get(col.name()));
      }
    });
  }

  public Bound delete(TableSchema t, List<Object> pk) {
    return new Bound("DELETE FROM " + table(t) + " WHERE " + where(t), ps -> bindKey(ps, 1, t, pk));
  }

  /** Runs one bound statement now. */
  public static void run(Connection c, Bound b) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(b.sql())) {
      b.binder().bind(ps);
      ps.executeUpdate();
    }
  }

  /**
   * The rows of {@code keys} (canonical key text → key values) in one query per call, as
   * canonical key → values of {@code columns} (all when null). Rows that do not exist are absent.
   * Keys of a type PostgreSQL arrays are not used for here (numeric) are read one by one.
   */
  public Map<String, Map<String, Object>> readMany(Connection c, TableSchema t, Map<String, List<Object>> keys, List<String> columns)
      throws SQLException {
    return readMany(c, t, keys, columns, Long.MAX_VALUE);
  }

  /** Rows fetched at a time by a read that stops at a byte budget (see {@link #readMany(Connection, TableSchema, Map, List, long)}). */
  static final int ROOM_FETCH = 32;

  /**
   * As {@link #readMany(Connection, TableSchema, Map, List)}, stopping once the rows read reach
   * about {@code room} bytes of values (at least one row), usually in the order of {@code keys}
   * (see below): the caller reads the rest by their keys if it still has room (a pull page must
   * not read hundreds of large rows at once).
   */
  public Map<String, Map<String, Object>> readMany(Connection c, TableSchema t, Map<String, List<Object>> keys, List<String> columns,
      long room) throws SQLException {
    Map<String, Map<String, Object>> out = new java.util.HashMap<>();
    if (keys.isEmpty()) {
      return out;
    }
    List<ColumnSchema> keyCols = new ArrayList<>();
    for (String k : t.primaryKey()) {
      keyCols.add(t.column(k).orElseThrow());
    }
    boolean arrays = keyCols.stream().allMatch(k -> PgTypes.of(k) == PgTypes.BIGINT || PgTypes.of(k) == PgTypes.TEXT || PgTypes.of(k) == PgTypes.BYTEA);
    if (!arrays) {
      long read = 0;
      for (Map.Entry<String, List<Object>> e : keys.entrySet()) {
        if (read >= room) {
          break; // the rest by key, by the caller, while it has room (as below)
        }
        Map<String, Object> row = read(c, t, e.getValue(), columns);
        if (row != null) {
          out.put(e.getKey(), row);
          read += dev.tidesync.core.internal.Sizes.approx(row);
        }
      }
      return out;
    }
    List<ColumnSchema> cols = new ArrayList<>();
    for (ColumnSchema col : t.columns()) {
      if (!t.isPrimaryKey(col.name()) && (columns == null || columns.contains(col.name()))) {
        cols.add(col);
      }
    }
    StringBuilder sql = new StringBuilder("SELECT ");
    List<String> select = new ArrayList<>();
    for (ColumnSchema k : keyCols) {
      select.add("t." + q(k.name()));
    }
    for (ColumnSchema col : cols) {
      select.add("t." + q(col.name()));
    }
    sql.append(String.join(", ", select)).append(" FROM ").append(table(t)).append(" t JOIN unnest(");
    List<String> unnest = new ArrayList<>();
    List<String> alias = new ArrayList<>();
    List<String> on = new ArrayList<>();
    for (int i = 0; i < keyCols.size(); i++) {
      unnest.add("?::" + PgTypes.of(keyCols.get(i)).sql() + "[]");
      alias.add("k" + i);
      on.add("t." + q(keyCols.get(i).name()) + " = k.k" + i);
    }
    // No ORDER BY: PostgreSQL would sort every row, values and all, before returning the first,
    // which a read stopped at its room must not wait for. The usual plan (a nested loop over the
    // keys) returns rows in the keys' order; any other order only means that the caller reads
    // more of its rows by key afterwards.
    sql.append(String.join(", ", unnest)).append(") AS k(").append(String.join(", ", alias)).append(") ON ")
        .append(String.join(" AND ", on));
    long read = 0;
    try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
      if (room != Long.MAX_VALUE && !c.getAutoCommit()) {
        // pgjdbc otherwise holds every row of the result in memory before the first is read:
        // stopping at the room would bound nothing. In a transaction it fetches this many at a time.
        ps.setFetchSize(ROOM_FETCH);
      }
      List<List<Object>> all = new ArrayList<>(keys.values());
      for (int i = 0; i < keyCols.size(); i++) {
        PgTypes type = PgTypes.of(keyCols.get(i));
        Object[] column = new Object[all.size()];
        for (int r = 0; r < all.size(); r++) {
          Object v = all.get(r).get(i);
          column[r] = type == PgTypes.BYTEA ? ((dev.tidesync.protocol.Bytes) v).toArray() : v;
        }
        ps.setArray(i + 1, c.createArrayOf(type == PgTypes.BIGINT ? "bigint" : type == PgTypes.TEXT ? "text" : "bytea",
            type == PgTypes.BYTEA ? java.util.Arrays.copyOf(column, column.length, byte[][].class) : column));
      }
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          List<Object> pk = new ArrayList<>(keyCols.size());
          for (int i = 0; i < keyCols.size(); i++) {
            pk.add(PgTypes.of(keyCols.get(i)).read(rs, i + 1));
          }
          Map<String, Object> row = new LinkedHashMap<>();
          if (columns == null) {
            for (int i = 0; i < keyCols.size(); i++) {
              row.put(keyCols.get(i).name(), pk.get(i));
            }
          }
          for (int i = 0; i < cols.size(); i++) {
            row.put(cols.get(i).name(), PgTypes.of(cols.get(i)).read(rs, keyCols.size() + i + 1));
          }
          out.put(dev.tidesync.core.internal.Keys.canonical(pk), row);
          read += dev.tidesync.core.internal.Sizes.approx(row);
          if (read >= room) {
            break;
          }
        }
      }
    }
    return out;
  }

  /** Values of a deleted row as its capture trigger logged them ({@code row_to_json(OLD)}). */
  public static Map<String, Object> parseLoggedRow(TableSchema t, String json) {
    Map<String, Object> out = new LinkedHashMap<>();
    try (var p = dev.tidesync.protocol.Wire.factory().createParser(json)) {
      p.nextToken();
      while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
        String col = p.currentName();
        var tok = p.nextToken();
        var schemaCol = t.column(col);
        if (schemaCol.isEmpty()) {
          p.skipChildren();
          continue;
        }
        String text = tok == com.fasterxml.jackson.core.JsonToken.VALUE_NULL ? null : p.getText();
        out.put(col, PgTypes.of(schemaCol.get()).fromJsonText(text, tok == com.fasterxml.jackson.core.JsonToken.VALUE_STRING));
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out;
  }
}
