package dev.tidesync.protocol;

import java.util.List;

/** A foreign key: local columns referencing columns of {@code refTable}; onDelete is an SQL action. */
public record ForeignKey(List<String> columns, String refTable, List<String> refColumns, String onDelete) {
  public ForeignKey {
    columns = List.copyOf(columns);
    refColumns = List.copyOf(refColumns);
    columns.forEach(c -> Identifiers.check(c, "column"));
    refColumns.forEach(c -> Identifiers.check(c, "column"));
    Identifiers.check(refTable, "table");
    onDelete = onDelete == null ? "NO ACTION" : onDelete.toUpperCase(java.util.Locale.ROOT);
    if (!List.of("NO ACTION", "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT").contains(onDelete)) {
      throw new ProtocolException("bad_schema", "unsupported ON DELETE action '" + onDelete + "'");
    }
  }
}
