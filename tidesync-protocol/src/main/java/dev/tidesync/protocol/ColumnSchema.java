package dev.tidesync.protocol;

/** One column: name, declared SQL type (may be empty), NOT NULL, default as SQL text or null. */
public record ColumnSchema(String name, String type, boolean notNull, String defaultSql) {
  /**
   * Declared types as SQLite knows them: words, then at most one parenthesised pair of numbers
   * ({@code VARCHAR(255)}, {@code DECIMAL(10, 2)}, {@code UNSIGNED BIG INT}). The type goes into
   * DDL unquoted, so nothing else may follow it (a comma would start another column).
   */
  private static final java.util.regex.Pattern TYPE = java.util.regex.Pattern.compile(
      "([A-Za-z_][A-Za-z0-9_]*( +[A-Za-z_][A-Za-z0-9_]*)* *(\\( *[+-]?[0-9]+ *(, *[+-]?[0-9]+ *)?\\))?)?");

  public ColumnSchema {
    Identifiers.check(name, "column");
    type = type == null ? "" : type.trim();
    if (!TYPE.matcher(type).matches()) {
      throw new ProtocolException("bad_schema", "column '" + name + "' has an unsupported type '" + type + "'");
    }
  }
}
