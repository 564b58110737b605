package dev.tidesync.protocol;

import java.util.List;
import java.util.Optional;

/** A synced table as every replica agrees on it. Primary key columns are listed in key order. */
public record TableSchema(
    String name,
    List<ColumnSchema> columns,
    List<String> primaryKey,
    List<ForeignKey> foreignKeys,
    ConflictPolicy policy) {

  public TableSchema {
    Identifiers.check(name, "table");
    columns = List.copyOf(columns);
    primaryKey = List.copyOf(primaryKey);
    foreignKeys = List.copyOf(foreignKeys);
    policy = policy == null ? ConflictPolicy.FIELD_MERGE : policy;
    if (columns.isEmpty()) {
      throw new ProtocolException("bad_schema", "table '" + name + "' has no columns");
    }
    if (primaryKey.isEmpty()) {
      throw new ProtocolException("no_primary_key", "table '" + name + "' has no primary key");
    }
    for (String pk : primaryKey) {
      if (columns.stream().noneMatch(c -> c.name().equals(pk))) {
        throw new ProtocolException("bad_schema", "table '" + name + "': primary key column '" + pk + "' is not a column");
      }
    }
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (ColumnSchema c : columns) {
      if (!seen.add(Identifiers.folded(c.name()))) { // as SQLite compares names: ASCII case only
        throw new ProtocolException("bad_schema", "table '" + name + "' declares column '" + c.name() + "' twice");
      }
    }
  }

  public Optional<ColumnSchema> column(String col) {
    for (ColumnSchema c : columns) {
      if (c.name().equals(col)) {
        return Optional.of(c);
      }
    }
    return Optional.empty();
  }

  public boolean isPrimaryKey(String col) {
    return primaryKey.contains(col);
  }

  /** Every column's name, in declaration order. */
  public List<String> columnNames() {
    return columns.stream().map(ColumnSchema::name).toList();
  }

  /** The names of the columns outside the primary key, in declaration order. */
  public List<String> nonKeyColumns() {
    return columns.stream().map(ColumnSchema::name).filter(c -> !isPrimaryKey(c)).toList();
  }

  public TableSchema withPolicy(ConflictPolicy p) {
    return new TableSchema(name, columns, primaryKey, foreignKeys, p);
  }
}
