package dev.tidesync.protocol;

/** One column: name, declared SQL type (may be empty), NOT NULL, default as SQL text or null. */
public record ColumnSchema(String name, String type, boolean notNull, String defaultSql) {
  public ColumnSchema {
    Identifiers.check(name, "column");
    type = type == null ? "" : type.trim();
    if (!type.matches("[A-Za-z0-9_ (),]*")) {
      throw new ProtocolException("bad_schema", "column '" + name + "' has an unsupported type '" + type + "'");
    }
  }
}
