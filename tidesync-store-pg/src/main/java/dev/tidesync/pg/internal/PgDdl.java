package dev.tidesync.pg.internal;

import static dev.tidesync.pg.internal.Pg.lit;
import static dev.tidesync.pg.internal.Pg.q;

import dev.tidesync.core.IncompatibleSchemaException;
import dev.tidesync.core.SchemaChanges;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.TableSchema;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** DDL of a dataset's schema in PostgreSQL: its tables, and the capture trigger of each. */
public final class PgDdl {
  /** PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes), which could merge two names. */
  private static final int MAX_IDENTIFIER_BYTES = 63;

  private PgDdl() {}

  /** Refuses names PostgreSQL would truncate: two long names could become the same one. */
  public static void checkNames(TableSchema t) {
    checkName(t.name(), "table");
    for (ColumnSchema c : t.columns()) {
      checkName(c.name(), "column '" + t.name() + "'.");
    }
  }

  private static void checkName(String name, String what) {
    if (name.getBytes(StandardCharsets.UTF_8).length > MAX_IDENTIFIER_BYTES) {
      throw new IncompatibleSchemaException(what + (what.endsWith(".") ? "" : " ") + name + " is longer than PostgreSQL's "
          + MAX_IDENTIFIER_BYTES + "-byte identifier limit");
    }
  }

  /** The table with every foreign key of it (see {@link #createTable(String, TableSchema, java.util.function.Predicate)}). */
  public static String createTable(String schema, TableSchema t) {
    return createTable(schema, t, fk -> true);
  }

  /**
   * The table with the foreign keys {@code now} accepts; the others are added by {@link
   * #addForeignKey} once the tables they refer to exist (two tables that refer to each other).
   */
  public static String createTable(String schema, TableSchema t, java.util.function.Predicate<ForeignKey> now) {
    checkNames(t);
    List<String> parts = new ArrayList<>();
    for (ColumnSchema c : t.columns()) {
      parts.add(column(c));
    }
    parts.add("PRIMARY KEY (" + t.primaryKey().stream().map(Pg::q).collect(Collectors.joining(", ")) + ")");
    for (ForeignKey fk : t.foreignKeys()) {
      if (now.test(fk)) {
        parts.add(foreignKey(schema, fk));
      }
    }
    return "CREATE TABLE " + q(schema) + "." + q(t.name()) + " (" + String.join(", ", parts) + ")";
  }

  public static String addForeignKey(String schema, String table, ForeignKey fk) {
    return "ALTER TABLE " + q(schema) + "." + q(table) + " ADD " + foreignKey(schema, fk);
  }

  private static String foreignKey(String schema, ForeignKey fk) {
    // Deferrable, though checked at each statement as usual: a push defers them only for a group
    // of changes that no order can apply one by one (a cycle; see PgDatasetStore.applyTogether).
    return "FOREIGN KEY (" + fk.columns().stream().map(Pg::q).collect(Collectors.joining(", ")) + ") REFERENCES "
        + q(schema) + "." + q(fk.refTable()) + " (" + fk.refColumns().stream().map(Pg::q).collect(Collectors.joining(", "))
        + ") ON DELETE " + fk.onDelete() + " DEFERRABLE INITIALLY IMMEDIATE";
  }

  public static String addColumn(String schema, String table, ColumnSchema c) {
    return "ALTER TABLE " + q(schema) + "." + q(table) + " ADD COLUMN " + column(c);
  }

  private static String column(ColumnSchema c) {
    StringBuilder sb = new StringBuilder(q(c.name())).append(' ').append(PgTypes.of(c).sql());
    if (c.notNull()) {
      sb.append(" NOT NULL");
    }
    String def = pgDefault(c);
    if (def != null) {
      sb.append(" DEFAULT ").append(def);
    }
    return sb.toString();
  }

  /** A literal default in PostgreSQL's spelling, or null (expressions are not copied). */
  private static String pgDefault(ColumnSchema c) {
    if (!SchemaChanges.literalDefault(c.defaultSql())) {
      return null;
    }
    String d = c.defaultSql().trim();
    String upper = d.toUpperCase(Locale.ROOT);
    PgTypes type = PgTypes.of(c);
    if (upper.equals("NULL")) {
      return "NULL";
    }
    if (upper.startsWith("X'")) {
      return type == PgTypes.BYTEA ? "'\\x" + d.substring(2, d.length() - 1) + "'::bytea" : null;
    }
    if (upper.equals("TRUE") || upper.equals("FALSE")) {
      return type == PgTypes.TEXT || type == PgTypes.BYTEA ? null : (upper.equals("TRUE") ? "1" : "0");
    }
    if (upper.startsWith("CURRENT_")) {
      // SQLite's CURRENT_TIMESTAMP is text 'YYYY-MM-DD HH:MM:SS' in UTC.
      String fmt = switch (upper) {
        case "CURRENT_DATE" -> "YYYY-MM-DD";
        case "CURRENT_TIME" -> "HH24:MI:SS";
        default -> "YYYY-MM-DD HH24:MI:SS";
      };
      return type == PgTypes.TEXT ? "to_char(now() AT TIME ZONE 'UTC', " + lit(fmt) + ")" : null;
    }
    if (d.startsWith("'")) {
      return type == PgTypes.TEXT ? d : null;
    }
    return type == PgTypes.TEXT || type == PgTypes.BYTEA ? null : d; // a number
  }

  /** Name of a table's capture function: derived from a digest, so any table name fits. */
  static String functionName(String table) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(table.getBytes(StandardCharsets.UTF_8));
      return "_tidesync_cap_" + HexFormat.of().formatHex(d, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The capture trigger of a table: every insert, update and delete made by anyone but Tidesync's
   * own apply (which sets {@code tidesync.apply} for its transaction) appends an entry to the
   * schema's {@code _tidesync_log}: the key as JSON text, the changed non-key columns of an
   * update, and a deleted row's values (the server's tombstone keeps them). An update of the key
   * is a delete of the old row and an insert of the new one. The trigger runs in the writer's
   * transaction: the entry commits, or vanishes, with the write.
   */
  public static List<String> captureTrigger(String schema, TableSchema t) {
    String fn = q(schema) + "." + q(functionName(t.name()));
    String log = q(schema) + "._tidesync_log";
    String tbl = lit(t.name());
    String samePk = t.primaryKey().stream().map(k -> "NEW." + q(k) + " IS NOT DISTINCT FROM OLD." + q(k))
        .collect(Collectors.joining(" AND "));
    List<String> changed = new ArrayList<>();
    for (ColumnSchema c : t.columns()) {
      if (!t.isPrimaryKey(c.name())) {
        changed.add("CASE WHEN NEW." + q(c.name()) + " IS DISTINCT FROM OLD." + q(c.name()) + " THEN " + lit(c.name()) + " END");
      }
    }
    String cols = changed.isEmpty() ? "ARRAY[]::text[]" : "array_remove(ARRAY[" + String.join(", ", changed) + "]::text[], NULL)";
    String wall = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
    String insert = "INSERT INTO " + log + " (tbl, pk, op, cols, vals, wall) VALUES ";
    String body = "BEGIN\n"
        + "  IF current_setting('tidesync.apply', true) = 'on' THEN RETURN NULL; END IF;\n"
        + "  IF TG_OP = 'INSERT' THEN\n"
        + "    " + insert + "(" + tbl + ", " + key(t, "NEW") + ", 'I', NULL, NULL, " + wall + ");\n"
        + "  ELSIF TG_OP = 'UPDATE' AND " + samePk + " THEN\n"
        + "    " + insert + "(" + tbl + ", " + key(t, "NEW") + ", 'U', " + cols + ", NULL, " + wall + ");\n"
        + "  ELSE\n"
        + "    " + insert + "(" + tbl + ", " + key(t, "OLD") + ", 'D', NULL, row_to_json(OLD)::text, " + wall + ");\n"
        + "    IF TG_OP = 'UPDATE' THEN\n"
        + "      " + insert + "(" + tbl + ", " + key(t, "NEW") + ", 'I', NULL, NULL, " + wall + ");\n"
        + "    END IF;\n"
        + "  END IF;\n"
        + "  RETURN NULL;\n"
        + "END";
    // A dollar-quote tag that the body (which holds table and column names) does not contain.
    String tag = "$tidesync$";
    for (int i = 0; body.contains(tag); i++) {
      tag = "$tidesync" + i + "$";
    }
    return List.of(
        "CREATE OR REPLACE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS " + tag + "\n" + body + "\n" + tag,
        "DROP TRIGGER IF EXISTS _tidesync_capture ON " + q(schema) + "." + q(t.name()),
        "CREATE TRIGGER _tidesync_capture AFTER INSERT OR UPDATE OR DELETE ON " + q(schema) + "." + q(t.name())
            + " FOR EACH ROW EXECUTE FUNCTION " + fn + "()");
  }

  /** The key as a JSON array; a bytea key column as {"$hex": ...}, as the SQLite triggers write it. */
  private static String key(TableSchema t, String row) {
    List<String> parts = new ArrayList<>();
    for (String k : t.primaryKey()) {
      ColumnSchema c = t.column(k).orElseThrow();
      String ref = row + "." + q(k);
      parts.add(PgTypes.of(c) == PgTypes.BYTEA ? "json_build_object('$hex', encode(" + ref + ", 'hex'))" : ref);
    }
    return "json_build_array(" + String.join(", ", parts) + ")::text";
  }
}
