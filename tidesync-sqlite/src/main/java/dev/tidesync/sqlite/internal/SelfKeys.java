package dev.tidesync.sqlite.internal;

import static dev.tidesync.sqlite.internal.Sql.q;

import dev.tidesync.core.SchemaChanges;
import dev.tidesync.core.internal.ChainWaits;
import dev.tidesync.protocol.Identifiers;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * What {@link ChainWaits} needs to know of an SQLite file: the tables whose reference to
 * themselves fails in ways it can foresee, and whether a row and its parent are absent.
 *
 * <p>A table qualifies when SQLite stores and compares the keys as the texts the changes name and
 * nothing but the batch's own changes can write its rows or refuse them at another pass:
 *
 * <ul>
 *   <li>the file has no triggers but Tidesync's capture triggers (a backend's trigger could write
 *       the parent), told by their exact names and guard, not by their prefix alone (a backend's
 *       trigger that copies both is taken for Tidesync's: that is mimicry, not an accident);
 *   <li>foreign keys are on and not deferred by the connection;
 *   <li>the table's key is one column of TEXT affinity, its only reference to itself is one
 *       column of TEXT affinity referring to that key, and its definition says no COLLATE,
 *       DEFERRABLE, ON CONFLICT or WITHOUT ROWID (SQLite then stores both texts as they are,
 *       compares them byte for byte and checks the reference at the statement, and a clash ends
 *       no transaction);
 *   <li>no foreign key of the table over its key column with an action (ON DELETE SET DEFAULT
 *       would write a key behind the batch's back);
 *   <li>the table has no UNIQUE index but its key's (a clash on one could refuse the change for
 *       good at an earlier pass than the skipped attempts would);
 *   <li>no CHECK, and no DEFAULT but a literal (random() or CURRENT_TIMESTAMP give another value
 *       at each attempt).
 * </ul>
 *
 * <p>One object per attempt at a batch: what it read of the file holds for that attempt.
 */
public final class SelfKeys implements ChainWaits.Probe<SQLException> {
  /** A table whose waits can be judged: its key column and the column referring to it. */
  private record SelfKey(String keyColumn, String refColumn) {}

  private final Connection c;
  /** Whether the file as a whole allows it; read at the first question (most batches never ask). */
  private Boolean usable;
  private final Map<String, Optional<SelfKey>> tables = new HashMap<>();

  public SelfKeys(Connection c) {
    this.c = c;
  }

  @Override
  public String selfReference(String table) throws SQLException {
    if (usable == null) {
      usable = Capture.onlyServerTriggers(c) && Sql.number(c, "PRAGMA foreign_keys") == 1 && Sql.number(c, "PRAGMA defer_foreign_keys") == 0;
    }
    SelfKey self = usable ? selfKey(table) : null;
    return self == null ? null : self.refColumn();
  }

  /** Asked only of a table {@link #selfReference} named a reference of (ChainWaits asks that first). */
  @Override
  public boolean newAndParentAbsent(String table, String key, String canonicalKey, String parent) throws SQLException {
    SelfKey self = selfKey(table);
    String row = "EXISTS (SELECT 1 FROM " + q(table) + " WHERE " + q(self.keyColumn()) + " = ?)";
    try (PreparedStatement ps = c.prepareStatement("SELECT EXISTS (SELECT 1 FROM _tidesync_rows WHERE tbl = ? AND pk = ?) OR "
        + row + " OR " + row)) {
      ps.setString(1, table);
      ps.setString(2, canonicalKey);
      ps.setString(3, key);
      ps.setString(4, parent);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() && rs.getLong(1) == 0;
      }
    }
  }

  private SelfKey selfKey(String table) throws SQLException {
    String name = Identifiers.folded(table);
    Optional<SelfKey> known = tables.get(name);
    if (known == null) {
      known = Optional.ofNullable(readSelfKey(table));
      tables.put(name, known);
    }
    return known.orElse(null);
  }

  private SelfKey readSelfKey(String table) throws SQLException {
    String sql = Sql.string(c, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table);
    if (sql == null) {
      return null;
    }
    String upper = sql.toUpperCase(Locale.ROOT);
    // Words a table the server made from a device's schema never has (Ddl.createTable): only a
    // backend's own definition says them, and each could make an attempt's outcome unforeseeable.
    // A CHECK may call random() (SQLite allows it) and differ from one attempt to the next.
    if (upper.contains("COLLATE") || upper.contains("DEFERRABLE") || upper.contains("CONFLICT") || upper.contains("WITHOUT ROWID")
        || upper.contains("CHECK")) {
      return null;
    }
    String keyColumn = null;
    Map<String, String> types = new HashMap<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT name, type, pk, dflt_value FROM pragma_table_info(?)")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String dflt = rs.getString(4);
          if (dflt != null && (!SchemaChanges.literalDefault(dflt) || dflt.trim().toUpperCase(Locale.ROOT).startsWith("CURRENT_"))) {
            return null; // DEFAULT (random()), CURRENT_TIMESTAMP: another value at every attempt (found in review)
          }
          types.put(Identifiers.folded(rs.getString(1)), rs.getString(2));
          if (rs.getLong(3) > 0) {
            if (keyColumn != null || !textAffinity(rs.getString(2))) {
              return null;
            }
            keyColumn = rs.getString(1);
          }
        }
      }
    }
    if (keyColumn == null
        || Sql.number(c, "SELECT count(*) FROM pragma_index_list(?) WHERE \"unique\" AND origin <> 'pk'", table) != 0) {
      return null;
    }
    // A foreign key over the key column whose action rewrites or removes rows of this table (ON
    // DELETE SET DEFAULT writes the default key) changes keys no change of the batch names
    // (found in review).
    if (Sql.number(c, "SELECT count(*) FROM pragma_foreign_key_list(?) WHERE \"from\" = ? COLLATE NOCASE "
        + "AND (on_delete NOT IN ('NO ACTION', 'RESTRICT') OR on_update NOT IN ('NO ACTION', 'RESTRICT'))", table, keyColumn) != 0) {
      return null;
    }
    // Every key of the table to itself: exactly one, of one column, referring to the key column.
    String refColumn = null;
    int selfKeys = 0;
    try (PreparedStatement ps = c.prepareStatement(
        "SELECT id, count(*), max(\"from\"), max(\"to\") FROM pragma_foreign_key_list(?) WHERE \"table\" = ? COLLATE NOCASE GROUP BY id")) {
      ps.setString(1, table);
      ps.setString(2, table);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          selfKeys++;
          String to = rs.getString(4);
          if (rs.getLong(2) == 1 && (to == null || to.equalsIgnoreCase(keyColumn))) {
            refColumn = rs.getString(3);
          }
        }
      }
    }
    // The referring column of TEXT affinity too: another would store some texts as numbers
    // ('12.0' as 12), which then match another key ('12') than the text the change names.
    // pragma_foreign_key_list names the column as the REFERENCES clause spelt it, which may differ
    // from its declaration in ASCII case: the declared name is looked up by SQLite's rule.
    return selfKeys == 1 && refColumn != null && textAffinity(types.get(Identifiers.folded(refColumn)))
        ? new SelfKey(keyColumn, refColumn) : null;
  }

  /** SQLite's rule for a declared type's affinity, TEXT only (a type naming INT is INTEGER first). */
  private static boolean textAffinity(String type) {
    String t = type == null ? "" : type.toUpperCase(Locale.ROOT);
    return !t.contains("INT") && (t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT"));
  }
}
