package dev.tidesync.sqlite.internal;

import static dev.tidesync.sqlite.internal.Sql.q;

import dev.tidesync.protocol.TableSchema;

/**
 * SQL over the rows of an initial load that is not written into the metadata yet (see
 * DeviceReplica's initial load): rows of a table whose key is one column that have no row in
 * {@code _tidesync_rows}. Such a row is, by definition, a pending insert of all its columns at
 * its table's load clock, exactly what the metadata would have said.
 *
 * <p>Only keys whose canonical text SQLite writes alike can be matched in SQL: an INTEGER, or a
 * TEXT of ASCII characters that JSON writes as they are (no quote, backslash or control
 * character), for which {@code json_array(k)} is byte for byte the text Keys.canonical writes.
 * Rows with any other key (REAL, BLOB, NULL, other text) are loaded into the metadata at once,
 * from Java, as before.
 */
public final class Unloaded {
  private Unloaded() {}

  /**
   * The row's canonical key when SQLite spells it as Keys does, else NULL: the text is ASCII
   * (as many bytes as characters) and json_array escaped nothing in it (it equals the text in
   * quotes). A CASE, not an AND: SQLite does not promise to evaluate an AND's terms in order, and
   * json_array fails on a BLOB. (A GLOB over the allowed characters cost twice a raw read of the
   * row: BENCHMARKS.md, session 9.)
   */
  public static String canonical(TableSchema t, String alias) {
    String k = alias + "." + q(t.primaryKey().get(0));
    return "(CASE WHEN typeof(" + k + ") = 'integer' THEN json_array(" + k + ") WHEN typeof(" + k + ") = 'text' AND length(CAST(" + k
        + " AS BLOB)) = length(" + k + ") AND json_array(" + k + ") = '[\"' || " + k + " || '\"]' THEN json_array(" + k + ") END)";
  }

  /** Rows of {@code u} whose key SQLite spells as Keys does, and no metadata; one parameter: the table's name. */
  private static String where(TableSchema t) {
    String c = canonical(t, "u");
    return c + " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _tidesync_rows r WHERE r.tbl = ? AND r.pk = " + c + ")";
  }

  /**
   * The next unloaded rows in key order: the key, then the non-key columns. Parameters: the
   * table's name, then (when {@code after}) the last key already read, then the limit.
   */
  public static String next(TableSchema t, boolean after) {
    String k = "u." + q(t.primaryKey().get(0));
    StringBuilder cols = new StringBuilder(k);
    for (String c : t.nonKeyColumns()) {
      cols.append(", u.").append(q(c));
    }
    return "SELECT " + cols + " FROM " + q(t.name()) + " u WHERE " + where(t) + (after ? " AND " + k + " > ?" : "")
        + " ORDER BY " + k + " LIMIT ?";
  }

  /**
   * Writes every unloaded row into the metadata as what it is: a pending insert of all its
   * columns at the load clock. Parameters: the table's name, the clock, the packed pending
   * columns, and the table's name again.
   */
  public static String load(TableSchema t) {
    return "INSERT INTO _tidesync_rows (tbl, pk, ver, dirty, live, pending) SELECT ?, " + canonical(t, "u") + ", 0, 1, ?, ? FROM "
        + q(t.name()) + " u WHERE " + where(t);
  }

  /** The keys (as the triggers log them) of the rows whose key SQLite does not spell as Keys does: loaded from Java. */
  public static String notPlainKeys(TableSchema t) {
    String k = "u." + q(t.primaryKey().get(0));
    return "SELECT " + k + " FROM " + q(t.name()) + " u WHERE " + canonical(t, "u") + " IS NULL ORDER BY " + k;
  }
}
