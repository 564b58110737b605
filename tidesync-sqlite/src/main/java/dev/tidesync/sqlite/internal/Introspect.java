package dev.tidesync.sqlite.internal;

import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.Identifiers;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.TableSchema;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** Reads the user tables of a SQLite database into {@link TableSchema}s. */
public final class Introspect {
  /** Tables found and the tables skipped, with the reason for each. */
  public record Result(List<TableSchema> tables, Map<String, String> skipped) {}

  private Introspect() {}

  public static Result tables(Connection c, java.util.function.Function<String, ConflictPolicy> policyOf) throws SQLException {
    List<String> names = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            + "AND name NOT LIKE '\\_tidesync\\_%' ESCAPE '\\' ORDER BY name");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        names.add(rs.getString(1));
      }
    }
    List<TableSchema> tables = new ArrayList<>();
    Map<String, String> skipped = new TreeMap<>();
    for (String name : names) {
      try {
        String sql = Sql.string(c, "SELECT sql FROM sqlite_master WHERE type='table' AND name=?", name);
        if (sql != null && sql.toUpperCase(Locale.ROOT).startsWith("CREATE VIRTUAL")) {
          skipped.put(name, "virtual tables are not synced");
          continue;
        }
        Identifiers.check(name, "table");
        TableSchema t = table(c, name, policyOf.apply(name));
        for (String k : t.primaryKey()) {
          String type = t.column(k).orElseThrow().type().toUpperCase(Locale.ROOT);
          if (type.contains("REAL") || type.contains("FLOA") || type.contains("DOUB")) {
            throw new ProtocolException("bad_key", "primary key column '" + k + "' is REAL; REAL keys are not exact identities");
          }
        }
        tables.add(t);
      } catch (ProtocolException e) {
        skipped.put(name, e.getMessage());
      }
    }
    return new Result(tables, skipped);
  }

  /** A table's primary key columns, in key order. */
  private static List<String> primaryKey(Connection c, String name) throws SQLException {
    Map<Integer, String> pk = new TreeMap<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT name, pk FROM pragma_table_xinfo(?) WHERE pk > 0")) {
      ps.setString(1, name);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          pk.put(rs.getInt(2), rs.getString(1));
        }
      }
    }
    return new ArrayList<>(pk.values());
  }

  public static TableSchema table(Connection c, String name, ConflictPolicy policy) throws SQLException {
    List<ColumnSchema> cols = new ArrayList<>();
    Map<Integer, String> pk = new TreeMap<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?)")) {
      ps.setString(1, name);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          if (rs.getInt(6) != 0) {
            continue; // generated columns are computed, not synced
          }
          String col = rs.getString(1);
          cols.add(new ColumnSchema(col, rs.getString(2), rs.getInt(3) != 0, rs.getString(4)));
          if (rs.getInt(5) > 0) {
            pk.put(rs.getInt(5), col);
          }
        }
      }
    }
    if (pk.isEmpty()) {
      throw new ProtocolException("no_primary_key", "table '" + name + "' has no primary key; declare one to sync it");
    }
    Map<Integer, ForeignKeyBuilder> fks = new LinkedHashMap<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT id, seq, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq")) {
      ps.setString(1, name);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          ForeignKeyBuilder b = fks.computeIfAbsent(rs.getInt(1), k -> new ForeignKeyBuilder());
          b.refTable = rs.getString(3);
          b.from.add(rs.getString(4));
          b.to.add(rs.getString(5));
          b.onDelete = rs.getString(6);
        }
      }
    }
    List<ForeignKey> fkList = new ArrayList<>();
    for (ForeignKeyBuilder b : fks.values()) {
      // SQLite matches table and column names without regard to case, and the foreign key list
      // gives them as the REFERENCES clause spelled them: use the names the tables declare, or
      // the server (which matches names exactly) and the parents-first order would not find them.
      String declared = Identifiers.same(b.refTable, name) ? name
          : Sql.string(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", b.refTable);
      if (declared != null) {
        b.refTable = declared;
      }
      b.from = declaredColumns(cols.stream().map(ColumnSchema::name).toList(), b.from);
      if (!b.to.contains(null) && declared != null) {
        b.to = declaredColumns(b.refTable.equals(name) ? cols.stream().map(ColumnSchema::name).toList() : columnNames(c, b.refTable), b.to);
      }
      if (b.to.contains(null)) {
        // REFERENCES parent without columns means the parent's primary key. Only the key is read:
        // introspecting the whole parent would recurse for ever on a table that refers to itself
        // (or two that refer to each other) this way.
        b.to = b.refTable.equals(name) ? new ArrayList<>(pk.values()) : primaryKey(c, b.refTable);
        if (b.to.isEmpty()) {
          throw new ProtocolException("bad_schema", "table '" + name + "' refers to table '" + b.refTable
              + "' by its primary key, and it has none");
        }
      }
      if (b.to.size() != b.from.size()) {
        // SQLite itself only notices at the first write ("foreign key mismatch").
        throw new ProtocolException("bad_schema", "table '" + name + "' has a foreign key of " + b.from.size() + " column(s) " + b.from
            + " referring to " + b.to.size() + " column(s) " + b.to + " of table '" + b.refTable + "'");
      }
      fkList.add(new ForeignKey(b.from, b.refTable, b.to, b.onDelete));
    }
    return new TableSchema(name, cols, new ArrayList<>(pk.values()), fkList, policy);
  }

  /** The names of a table's columns as declared. */
  private static List<String> columnNames(Connection c, String table) throws SQLException {
    List<String> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT name FROM pragma_table_xinfo(?)")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getString(1));
        }
      }
    }
    return out;
  }

  /** Each of {@code names} as {@code declared} spells it (matched as SQLite matches names), or as it is when none matches. */
  private static List<String> declaredColumns(List<String> declared, List<String> names) {
    List<String> out = new ArrayList<>(names.size());
    for (String n : names) {
      out.add(n == null ? null : declared.stream().filter(d -> Identifiers.same(d, n)).findFirst().orElse(n));
    }
    return out;
  }

  private static final class ForeignKeyBuilder {
    String refTable;
    List<String> from = new ArrayList<>();
    List<String> to = new ArrayList<>();
    String onDelete;
  }
}
