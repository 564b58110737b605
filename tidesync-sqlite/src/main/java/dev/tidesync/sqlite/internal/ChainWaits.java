package dev.tidesync.sqlite.internal;

import static dev.tidesync.sqlite.internal.Sql.q;

import dev.tidesync.core.internal.Keys;
import dev.tidesync.protocol.Change;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The changes of a pushed batch that the server store's retry passes may skip without SQL,
 * because applying them again would fail their table's foreign key to itself for certain.
 *
 * <p>Why: the passes apply what failed a foreign key again after the rest, one pass after the
 * other while a pass makes progress. A chain of rows of a self-referencing table sent children
 * first goes in one row per pass, and each pass tried every row left: 2,000 such rows took 85 s
 * of the dataset's write lock (session 11's review). Skipping the attempts that certainly fail
 * keeps the passes, and so every outcome, as they were: an attempt that fails is undone to its
 * savepoint and changes nothing, so leaving it out is the same as making it.
 *
 * <p>Certain means, for an upsert that has just failed a foreign key: its row has no metadata and
 * no row in the table, so applying it is an INSERT of its columns, which name a parent key that
 * is not in the table either. Applied again, it fails again as long as neither its own key nor
 * that parent key was written since, by a change of the batch. That holds only where nothing else
 * can change the answer, so it is used only when:
 *
 * <ul>
 *   <li>the file has no triggers but Tidesync's (a backend's trigger could write the parent);
 *   <li>foreign keys are on and not deferred by the connection;
 *   <li>the table's key is one column of TEXT affinity, its only reference to itself is one
 *       column of TEXT affinity referring to that key, and its definition says no COLLATE,
 *       DEFERRABLE, ON CONFLICT or WITHOUT ROWID (SQLite then stores both texts as they are,
 *       compares them byte for byte and checks the reference at the statement, and a clash ends
 *       no transaction);
 *   <li>the table has no UNIQUE index but its key's (a clash on one could refuse the change for
 *       good at an earlier pass than the skipped attempts would);
 *   <li>the change's key and parent key are well-formed Java strings (SQLite stores them as
 *       they are; another change's key that is not one wakes every waiting change).
 * </ul>
 *
 * <p>One object per attempt at a batch, for its passes (the state of the file it read is that
 * attempt's).
 */
public final class ChainWaits {
  /** A table whose waits can be judged: its key column and the column referring to it. */
  private record SelfKey(String keyColumn, String refColumn) {}

  private final Connection c;
  private final boolean usable;
  private final Map<String, Optional<SelfKey>> tables = new HashMap<>();
  /** Waiting change → nothing (present while it waits). */
  private final Map<Integer, Boolean> waiting = new HashMap<>();
  /** Table and key (as {@link #slot}) → the changes waiting for a write there. */
  private final Map<String, List<Integer>> waiters = new HashMap<>();
  private long skipped;

  public ChainWaits(Connection c) throws SQLException {
    this.c = c;
    this.usable = !Capture.hasOtherTriggers(c) && Sql.number(c, "PRAGMA foreign_keys") == 1
        && Sql.number(c, "PRAGMA defer_foreign_keys") == 0;
  }

  /** Whether applying change {@code i} again now is certain to fail (it waits, and nothing it waits for was written). */
  public boolean certainToFail(int i) {
    boolean w = waiting.containsKey(i);
    if (w) {
      skipped++;
    }
    return w;
  }

  /** Attempts skipped so far. */
  public long skipped() {
    return skipped;
  }

  /**
   * Change {@code i} ({@code ch}) has just failed a foreign key and was undone: when applying it
   * again is certain to fail until its key or its parent's is written, it waits for that.
   */
  public void failed(int i, Change ch) throws SQLException {
    if (!usable || ch.deleted() || ch.pk().size() != 1 || !(ch.pk().get(0) instanceof String key) || !wellFormed(key)) {
      return;
    }
    SelfKey self = selfKey(ch.table());
    if (self == null || ch.cols() == null) {
      return;
    }
    Object ref = null;
    for (Map.Entry<String, Object> e : ch.cols().entrySet()) {
      if (e.getKey().equalsIgnoreCase(self.refColumn())) {
        ref = e.getValue();
      }
    }
    if (!(ref instanceof String parent) || parent.equals(key) || !wellFormed(parent)) {
      return;
    }
    if (exists("SELECT EXISTS (SELECT 1 FROM _tidesync_rows WHERE tbl = ? AND pk = ?)", ch.table(), Keys.canonical(ch.pk()))
        || exists("SELECT EXISTS (SELECT 1 FROM " + q(ch.table()) + " WHERE " + q(self.keyColumn()) + " = ?)", key)
        || exists("SELECT EXISTS (SELECT 1 FROM " + q(ch.table()) + " WHERE " + q(self.keyColumn()) + " = ?)", parent)) {
      return;
    }
    waiting.put(i, Boolean.TRUE);
    waiters.computeIfAbsent(slot(ch.table(), key), k -> new ArrayList<>()).add(i);
    waiters.computeIfAbsent(slot(ch.table(), parent), k -> new ArrayList<>()).add(i);
  }

  /** Change {@code ch} has its answer (written, or refused): whoever waits for its row is tried again. */
  public void answered(Change ch) {
    if (waiting.isEmpty() || tables.getOrDefault(fold(ch.table()), Optional.empty()).isEmpty()) {
      return; // no change waits in that table
    }
    if (ch.pk().size() != 1 || !(ch.pk().get(0) instanceof String key) || !wellFormed(key)) {
      // A key SQLite may store as another text than the Java value (a number into a TEXT key):
      // it could be any waited-for key.
      waiting.clear();
      waiters.clear();
      return;
    }
    List<Integer> woken = waiters.remove(slot(ch.table(), key));
    if (woken != null) {
      woken.forEach(waiting::remove);
    }
  }

  private static String slot(String table, String key) {
    return fold(table) + '\u0000' + key;
  }

  /** A table's name as SQLite compares names: ASCII letters in either case alike. */
  private static String fold(String table) {
    StringBuilder sb = new StringBuilder(table.length());
    for (int k = 0; k < table.length(); k++) {
      char ch = table.charAt(k);
      sb.append(ch >= 'A' && ch <= 'Z' ? (char) (ch + 32) : ch);
    }
    return sb.toString();
  }

  /** Whether SQLite stores {@code s} as the same characters (no lone surrogate, which UTF-8 cannot hold). */
  private static boolean wellFormed(String s) {
    return StandardCharsets.UTF_8.newEncoder().canEncode(s);
  }

  private boolean exists(String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int k = 0; k < args.length; k++) {
        ps.setString(k + 1, (String) args[k]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() && rs.getLong(1) != 0;
      }
    }
  }

  /** The table's key and self-reference when its waits can be judged (see the class comment), else null. */
  private SelfKey selfKey(String table) throws SQLException {
    Optional<SelfKey> known = tables.get(fold(table));
    if (known == null) {
      known = Optional.ofNullable(readSelfKey(table));
      tables.put(fold(table), known);
    }
    return known.orElse(null);
  }

  private SelfKey readSelfKey(String table) throws SQLException {
    String sql = Sql.string(c, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", table);
    if (sql == null) {
      return null;
    }
    String upper = sql.toUpperCase(Locale.ROOT);
    if (upper.contains("COLLATE") || upper.contains("DEFERRABLE") || upper.contains("CONFLICT") || upper.contains("WITHOUT ROWID")) {
      return null;
    }
    String keyColumn = null;
    Map<String, String> types = new HashMap<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT name, type, pk FROM pragma_table_info(?)")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          types.put(rs.getString(1).toLowerCase(Locale.ROOT), rs.getString(2));
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
    return selfKeys == 1 && refColumn != null && textAffinity(types.get(refColumn.toLowerCase(Locale.ROOT)))
        ? new SelfKey(keyColumn, refColumn) : null;
  }

  /** SQLite's rule for a declared type's affinity, TEXT only (a type naming INT is INTEGER first). */
  private static boolean textAffinity(String type) {
    String t = type == null ? "" : type.toUpperCase(Locale.ROOT);
    return !t.contains("INT") && (t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT"));
  }
}
