package dev.tidesync.core;

import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.TableSchema;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/** The rules for which schema changes are compatible; the same for every store. */
public final class SchemaChanges {
  /** Defaults that are plain literals; anything else (expressions) is not copied into DDL. */
  private static final Pattern SAFE_DEFAULT = Pattern.compile(
      "(?i)NULL|TRUE|FALSE|CURRENT_TIME|CURRENT_DATE|CURRENT_TIMESTAMP|[+-]?[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?|'([^']|'')*'|X'[0-9A-Fa-f]*'");

  private SchemaChanges() {}

  /** True when {@code defaultSql} is a plain literal that any store can copy into its DDL. */
  public static boolean literalDefault(String defaultSql) {
    return defaultSql != null && SAFE_DEFAULT.matcher(defaultSql.trim()).matches();
  }

  /**
   * The columns of {@code incoming} that {@code existing} lacks and that can be added; throws when
   * the two cannot be reconciled (different key, different column type, new NOT NULL column
   * without default, different conflict policy).
   */
  public static List<ColumnSchema> additions(TableSchema existing, TableSchema incoming) {
    String t = existing.name();
    if (!existing.primaryKey().equals(incoming.primaryKey())) {
      throw new IncompatibleSchemaException("table '" + t + "': primary key " + incoming.primaryKey()
          + " differs from the dataset's " + existing.primaryKey());
    }
    if (existing.policy() != incoming.policy()) {
      throw new IncompatibleSchemaException("table '" + t + "' uses " + existing.policy().wireName()
          + " in the dataset; the replica declares " + incoming.policy().wireName());
    }
    List<ColumnSchema> add = new ArrayList<>();
    for (ColumnSchema c : incoming.columns()) {
      var have = existing.column(c.name());
      if (have.isPresent()) {
        if (!normType(have.get().type()).equals(normType(c.type()))) {
          throw new IncompatibleSchemaException("table '" + t + "': column '" + c.name() + "' is " + display(have.get().type())
              + " in the dataset but " + display(c.type()) + " in the replica");
        }
      } else {
        if (c.notNull() && !literalDefault(c.defaultSql())) {
          throw new IncompatibleSchemaException("table '" + t + "': new column '" + c.name()
              + "' is NOT NULL without a literal default; existing rows could not be given a value");
        }
        add.add(c);
      }
    }
    return add;
  }

  /** A table that has all columns of both (existing order first). */
  public static TableSchema union(TableSchema existing, List<ColumnSchema> added) {
    List<ColumnSchema> cols = new ArrayList<>(existing.columns());
    cols.addAll(added);
    return new TableSchema(existing.name(), cols, existing.primaryKey(), existing.foreignKeys(), existing.policy());
  }

  private static String normType(String type) {
    return type.trim().replaceAll("\\s+", " ").toUpperCase(Locale.ROOT);
  }

  private static String display(String type) {
    return type.isEmpty() ? "untyped" : type;
  }
}
