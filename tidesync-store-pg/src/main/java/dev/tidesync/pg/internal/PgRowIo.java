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

  /** Inserts the row or updates the given columns of it. {@code values} may include key columns. */
  public void upsert(Connection c, TableSchema t, List<Object> pk, Map<String, Object> values) throws SQLException {
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
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table(t) + " (" + names + ") VALUES (" + marks + ")" + conflict)) {
      int i = bindKey(ps, 1, t, pk);
      for (ColumnSchema col : cols.subList(t.primaryKey().size(), cols.size())) {
        PgTypes.of(col).bind(ps, i++, col.name(), values.get(col.name()));
      }
      ps.executeUpdate();
    }
  }

  public void delete(Connection c, TableSchema t, List<Object> pk) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + table(t) + " WHERE " + where(t))) {
      bindKey(ps, 1, t, pk);
      ps.executeUpdate();
    }
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
