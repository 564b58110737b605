package dev.tidesync.sqlite.internal;

import static dev.tidesync.sqlite.internal.Sql.q;

import dev.tidesync.core.SchemaChanges;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.TableSchema;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** DDL from the schema model, and the rules for which schema changes are compatible. */
public final class Ddl {
  /** Defaults that are plain literals; anything else (expressions) is not copied into DDL. */

  private Ddl() {}

  public static String createTable(TableSchema t) {
    List<String> parts = new ArrayList<>();
    for (ColumnSchema c : t.columns()) {
      parts.add(column(c));
    }
    parts.add("PRIMARY KEY (" + t.primaryKey().stream().map(Sql::q).collect(Collectors.joining(", ")) + ")");
    for (ForeignKey fk : t.foreignKeys()) {
      parts.add("FOREIGN KEY (" + fk.columns().stream().map(Sql::q).collect(Collectors.joining(", ")) + ") REFERENCES "
          + q(fk.refTable()) + " (" + fk.refColumns().stream().map(Sql::q).collect(Collectors.joining(", ")) + ") ON DELETE " + fk.onDelete());
    }
    return "CREATE TABLE IF NOT EXISTS " + q(t.name()) + " (" + String.join(", ", parts) + ")";
  }

  public static String column(ColumnSchema c) {
    StringBuilder sb = new StringBuilder(q(c.name()));
    if (!c.type().isEmpty()) {
      sb.append(' ').append(c.type());
    }
    if (c.notNull()) {
      sb.append(" NOT NULL");
    }
    if (c.defaultSql() != null && SchemaChanges.literalDefault(c.defaultSql())) {
      sb.append(" DEFAULT ").append(c.defaultSql().trim());
    }
    return sb.toString();
  }

  public static String addColumn(String table, ColumnSchema c) {
    return "ALTER TABLE " + q(table) + " ADD COLUMN " + column(c);
  }

  /** See {@link SchemaChanges#additions}. */
  public static List<ColumnSchema> additions(TableSchema existing, TableSchema incoming) {
    return SchemaChanges.additions(existing, incoming);
  }

  /** See {@link SchemaChanges#union}. */
  public static TableSchema union(TableSchema existing, List<ColumnSchema> added) {
    return SchemaChanges.union(existing, added);
  }
}
