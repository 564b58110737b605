package dev.tidesync.sqlite.internal;

import static dev.tidesync.sqlite.internal.Sql.q;

import dev.tidesync.protocol.TableSchema;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Reads and writes user rows by primary key, with prepared statements cached per connection.
 * Not thread-safe: one instance per connection, used under that connection's lock.
 */
public final class RowIo implements AutoCloseable {
  private final Connection c;
  private final Map<String, PreparedStatement> cache = new HashMap<>();
  /** SQL text by (kind, table, column list): building it is most of the cost of a small write. */
  private final Map<List<Object>, String> sqlText = new HashMap<>();

  public RowIo(Connection c) {
    this.c = c;
  }

  private PreparedStatement prepare(String sql) throws SQLException {
    PreparedStatement ps = cache.get(sql);
    if (ps == null) {
      ps = c.prepareStatement(sql);
      cache.put(sql, ps);
    }
    return ps;
  }

  /** Drops cached statements (after DDL changed a table). */
  public void reset() {
    for (PreparedStatement ps : cache.values()) {
      try {
        ps.close();
      } catch (SQLException ignored) {
        // closing a statement of a changed table; nothing to do
      }
    }
    cache.clear();
    sqlText.clear();
  }

  private static String where(TableSchema t) {
    return t.primaryKey().stream().map(k -> q(k) + " = ?").collect(Collectors.joining(" AND "));
  }

  /** The row's values for {@code columns} (all columns when null), or null when the row does not exist. */
  public Map<String, Object> read(TableSchema t, List<Object> pk, List<String> columns) throws SQLException {
    List<String> cols = columns != null ? columns : t.columns().stream().map(cs -> cs.name()).toList();
    String sql = sqlText.computeIfAbsent(List.of("read", t.name(), cols), k -> "SELECT "
        + (cols.isEmpty() ? "1" : cols.stream().map(Sql::q).collect(Collectors.joining(", "))) + " FROM " + q(t.name()) + " WHERE " + where(t));
    PreparedStatement ps = prepare(sql);
    Sql.bindAll(ps, 1, pk);
    try (ResultSet rs = ps.executeQuery()) {
      if (!rs.next()) {
        return null;
      }
      Map<String, Object> out = new LinkedHashMap<>();
      for (int i = 0; i < cols.size(); i++) {
        out.put(cols.get(i), Sql.read(rs, i + 1));
      }
      return out;
    }
  }

  /**
   * Inserts the row or updates the given columns of it. An upsert, not INSERT OR REPLACE: REPLACE
   * deletes first, which would fire ON DELETE CASCADE on the row's children.
   */
  public void upsert(TableSchema t, List<Object> pk, Map<String, Object> values) throws SQLException {
    List<String> cols = new ArrayList<>(t.primaryKey());
    List<Object> args = new ArrayList<>(pk);
    for (Map.Entry<String, Object> e : values.entrySet()) {
      if (!t.isPrimaryKey(e.getKey())) {
        cols.add(e.getKey());
        args.add(e.getValue());
      }
    }
    String sql = sqlText.computeIfAbsent(List.of("upsert", t.name(), cols), k -> {
      String key = t.primaryKey().stream().map(Sql::q).collect(Collectors.joining(", "));
      List<String> sets = cols.stream().filter(col -> !t.isPrimaryKey(col)).map(col -> q(col) + " = excluded." + q(col)).toList();
      return "INSERT INTO " + q(t.name()) + " (" + cols.stream().map(Sql::q).collect(Collectors.joining(", ")) + ") VALUES ("
          + "?, ".repeat(cols.size() - 1) + "?) ON CONFLICT (" + key + ") DO "
          + (sets.isEmpty() ? "NOTHING" : "UPDATE SET " + String.join(", ", sets));
    });
    PreparedStatement ps = prepare(sql);
    Sql.bindAll(ps, 1, args);
    ps.executeUpdate();
  }

  public int delete(TableSchema t, List<Object> pk) throws SQLException {
    PreparedStatement ps = prepare(sqlText.computeIfAbsent(List.of("delete", t.name()), k -> "DELETE FROM " + q(t.name()) + " WHERE " + where(t)));
    Sql.bindAll(ps, 1, pk);
    return ps.executeUpdate();
  }

  /** A cached statement for metadata access. */
  public PreparedStatement statement(String sql) throws SQLException {
    return prepare(sql);
  }

  @Override
  public void close() {
    reset();
  }
}
