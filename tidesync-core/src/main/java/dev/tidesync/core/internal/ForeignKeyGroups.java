package dev.tidesync.core.internal;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.Values;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;

/**
 * What a store needs to apply a group of a push's changes with foreign keys deferred to the
 * group's end (the changes no order could apply one at a time: a cycle of rows that refer to each
 * other; see the stores' {@code applyTogether}): which tables to check when the group is done, the
 * query that finds the rows whose key refers to a row that is not there, and which of the group's
 * changes to leave out for them, so that one row refused for now (its parent exists nowhere) does
 * not hold a whole cycle back with it.
 */
public final class ForeignKeyGroups {
  private ForeignKeyGroups() {}

  /**
   * A row of {@code table} with key {@code key} whose foreign key {@code fk} holds {@code
   * refValues} (none null), which no row of {@code fk.refTable()} has. Values as the database
   * driver reads them; {@link #culprits} normalizes them.
   */
  public record Violation(String table, List<Object> key, ForeignKey fk, List<Object> refValues) {}

  /**
   * Whether the changes {@code members} (indexes into {@code changes}) refer to each other in a
   * cycle: only then can applying them as a group get through what the one-at-a-time passes did
   * not. Without a cycle the rows have an order, which the passes followed, so each of them
   * failed for a row outside the group, and a group attempt (which reads whole tables) would fail
   * too. A row's references are its foreign keys' values in {@code values} (aligned with {@code
   * members}): the change's own values overlaid on the stored row's, the stored row's alone for a
   * delete. A reference that is not to a primary key is not followed (such a cycle is refused for
   * now, as before groups were tried).
   */
  public static boolean hasCycle(List<Integer> members, List<Change> changes, Map<String, TableSchema> schema, List<Map<String, Object>> values) {
    Map<String, Integer> node = new HashMap<>();
    for (int m = 0; m < members.size(); m++) {
      Change c = changes.get(members.get(m));
      node.put(rowId(c.table(), c.pk()), m);
    }
    List<List<Integer>> edges = new ArrayList<>();
    for (int m = 0; m < members.size(); m++) {
      List<Integer> to = new ArrayList<>();
      Change c = changes.get(members.get(m));
      TableSchema t = schema.get(c.table());
      for (ForeignKey fk : t == null ? List.<ForeignKey>of() : t.foreignKeys()) {
        TableSchema parent = schema.get(fk.refTable());
        List<Object> refs = new ArrayList<>();
        for (String col : fk.columns()) {
          refs.add(values.get(m).get(col));
        }
        List<Object> parentKey = parent == null || refs.contains(null) ? null : keyOf(parent, refColumns(fk, parent), refs);
        Integer p = parentKey == null ? null : node.get(rowId(parent.name(), parentKey));
        if (p != null && p != m) {
          to.add(p);
        }
      }
      edges.add(to);
    }
    // Depth-first, iteratively: 0 unseen, 1 on the path, 2 done. An edge to a row on the path closes a cycle.
    int[] state = new int[members.size()];
    int[] next = new int[members.size()];
    java.util.ArrayDeque<Integer> path = new java.util.ArrayDeque<>();
    for (int start = 0; start < members.size(); start++) {
      if (state[start] != 0) {
        continue;
      }
      path.push(start);
      state[start] = 1;
      while (!path.isEmpty()) {
        int m = path.peek();
        if (next[m] < edges.get(m).size()) {
          int p = edges.get(m).get(next[m]++);
          if (state[p] == 1) {
            return true;
          }
          if (state[p] == 0) {
            state[p] = 1;
            path.push(p);
          }
        } else {
          state[m] = 2;
          path.pop();
        }
      }
    }
    return false;
  }

  /** A stored row's values of {@code columns}; null when there is no such row. */
  @FunctionalInterface
  public interface StoredRow<E extends Exception> {
    Map<String, Object> read(TableSchema t, List<Object> pk, List<String> columns) throws E;
  }

  /**
   * For {@link #hasCycle}: the values of each change's row that its foreign keys read, aligned with
   * {@code members}: the change's own values (its key included: a foreign key may be part of it)
   * over the stored row's, which {@code stored} reads only for columns the change does not carry
   * (all of them for a delete).
   */
  public static <E extends Exception> List<Map<String, Object>> referenceValues(List<Integer> members, List<Change> changes,
      List<TableSchema> tables, StoredRow<E> stored) throws E {
    List<Map<String, Object>> out = new ArrayList<>(members.size());
    for (int i : members) {
      Change c = changes.get(i);
      TableSchema t = tables.get(i);
      Map<String, Object> v = new HashMap<>(c.deleted() ? Map.of() : c.cols());
      for (int k = 0; k < t.primaryKey().size(); k++) {
        v.putIfAbsent(t.primaryKey().get(k), c.pk().get(k));
      }
      List<String> missing = new ArrayList<>();
      for (ForeignKey fk : t.foreignKeys()) {
        for (String col : fk.columns()) {
          if (!v.containsKey(col) && !missing.contains(col)) {
            missing.add(col);
          }
        }
      }
      Map<String, Object> row = missing.isEmpty() ? null : stored.read(t, c.pk(), missing);
      if (row != null) {
        v.putAll(row);
      }
      out.add(v);
    }
    return out;
  }

  /** The tables a group that writes {@code touched} can break: those, and every table with a foreign key to one of them. */
  public static Set<String> tablesToCheck(Set<String> touched, Collection<TableSchema> schema) {
    Set<String> out = new TreeSet<>(touched);
    for (TableSchema t : schema) {
      for (ForeignKey fk : t.foreignKeys()) {
        if (touched.contains(fk.refTable())) {
          out.add(t.name());
        }
      }
    }
    return out;
  }

  /** Rows a store reads for {@link #violations}: each row's values of {@code columns}, in order, as the store reads that table's columns. */
  @FunctionalInterface
  public interface Query<E extends Exception> {
    List<List<Object>> rows(TableSchema table, String sql, List<String> columns) throws E;
  }

  /** Failing rows read per foreign key at most (see {@link #violations}). */
  static final int VIOLATIONS_PER_KEY = 10_000;

  /**
   * The rows that fail their foreign keys in the tables a group that wrote {@code touched} can
   * break ({@link #tablesToCheck}), at most {@link #VIOLATIONS_PER_KEY} per key: one {@link
   * #violationsSql} query per foreign key, run by {@code query}.
   *
   * @param ref a table's name as the store's queries name it
   * @param q an identifier quoted
   */
  public static <E extends Exception> List<Violation> violations(Set<String> touched, Map<String, TableSchema> schema, UnaryOperator<String> ref,
      UnaryOperator<String> q, Query<E> query) throws E {
    List<Violation> out = new ArrayList<>();
    for (String name : tablesToCheck(touched, schema.values())) {
      TableSchema child = schema.get(name);
      for (ForeignKey fk : child.foreignKeys()) {
        TableSchema parent = schema.get(fk.refTable());
        if (parent == null) {
          continue;
        }
        List<String> cols = new ArrayList<>(child.primaryKey());
        cols.addAll(fk.columns());
        int keys = child.primaryKey().size();
        for (List<Object> row : query.rows(child, violationsSql(child, fk, parent, ref, q, VIOLATIONS_PER_KEY), cols)) {
          out.add(new Violation(name, row.subList(0, keys), fk, row.subList(keys, row.size())));
        }
      }
    }
    return out;
  }

  /** The columns of {@code parent} that {@code fk} refers to (none named: its primary key). */
  public static List<String> refColumns(ForeignKey fk, TableSchema parent) {
    return fk.refColumns().isEmpty() ? parent.primaryKey() : fk.refColumns();
  }

  /**
   * A query for the rows of {@code child} whose foreign key {@code fk} refers to no row of {@code
   * parent} (a key with a NULL column refers to nothing, as SQL's MATCH SIMPLE has it): the child's
   * key columns, then the foreign key's columns, at most {@code limit} rows. Reads the whole child
   * table against the parent's key index, so only for the rare group.
   *
   * @param ref a table's name as the query names it (quoted, qualified where the store needs it)
   * @param q an identifier quoted
   */
  public static String violationsSql(TableSchema child, ForeignKey fk, TableSchema parent, UnaryOperator<String> ref, UnaryOperator<String> q,
      int limit) {
    List<String> refCols = refColumns(fk, parent);
    StringBuilder sb = new StringBuilder("SELECT ");
    List<String> cols = new ArrayList<>(child.primaryKey());
    cols.addAll(fk.columns());
    for (int i = 0; i < cols.size(); i++) {
      sb.append(i == 0 ? "" : ", ").append("c.").append(q.apply(cols.get(i)));
    }
    sb.append(" FROM ").append(ref.apply(child.name())).append(" c WHERE ");
    for (String c : fk.columns()) {
      sb.append("c.").append(q.apply(c)).append(" IS NOT NULL AND ");
    }
    sb.append("NOT EXISTS (SELECT 1 FROM ").append(ref.apply(parent.name())).append(" p WHERE ");
    for (int i = 0; i < refCols.size(); i++) {
      sb.append(i == 0 ? "" : " AND ").append("p.").append(q.apply(refCols.get(i))).append(" = c.").append(q.apply(fk.columns().get(i)));
    }
    return sb.append(") LIMIT ").append(limit).toString();
  }

  /**
   * The changes of {@code group} (indexes into {@code changes}) to leave out of it, for the rows
   * found violating their foreign keys once it was applied:
   * <ul>
   *   <li>a row the group inserts or updates that refers to a row that is not there: that change;
   *       and every change of the group that refers to a row so left out (found from the change's
   *       own values, so a chain of such rows goes out at once, not one link per attempt);
   *   <li>a row the group does not write, still referring to a row the group deletes: that delete.
   * </ul>
   * Empty when no violation maps to a change of the group (then the group fails as a whole).
   */
  public static Set<Integer> culprits(List<Integer> group, List<Change> changes, Map<String, TableSchema> schema, List<Violation> violations) {
    Map<String, Integer> upserts = new HashMap<>();
    Map<String, Integer> deletes = new HashMap<>();
    for (int i : group) {
      Change c = changes.get(i);
      (c.deleted() ? deletes : upserts).put(rowId(c.table(), c.pk()), i);
    }
    Set<Integer> out = new LinkedHashSet<>();
    for (Violation v : violations) {
      Integer writer = upserts.get(rowId(v.table(), v.key()));
      if (writer != null) {
        out.add(writer);
        continue;
      }
      TableSchema parent = schema.get(v.fk().refTable());
      List<Object> parentKey = parent == null ? null : keyOf(parent, refColumns(v.fk(), parent), v.refValues());
      Integer delete = parentKey == null ? null : deletes.get(rowId(parent.name(), parentKey));
      if (delete != null) {
        out.add(delete);
      }
    }
    // Rows of the group that refer to a row left out would fail in the next attempt: out now.
    Set<String> gone = new HashSet<>();
    for (int i : out) {
      Change c = changes.get(i);
      if (!c.deleted()) {
        gone.add(rowId(c.table(), c.pk()));
      }
    }
    for (boolean more = !gone.isEmpty(); more; ) {
      more = false;
      for (int i : group) {
        Change c = changes.get(i);
        if (c.deleted() || out.contains(i)) {
          continue;
        }
        TableSchema t = schema.get(c.table());
        for (ForeignKey fk : t == null ? List.<ForeignKey>of() : t.foreignKeys()) {
          TableSchema parent = schema.get(fk.refTable());
          if (parent == null || !c.cols().keySet().containsAll(fk.columns())) {
            continue;
          }
          List<Object> values = new ArrayList<>();
          fk.columns().forEach(col -> values.add(c.cols().get(col)));
          List<Object> parentKey = values.contains(null) ? null : keyOf(parent, refColumns(fk, parent), values);
          if (parentKey != null && gone.contains(rowId(parent.name(), parentKey))) {
            out.add(i);
            gone.add(rowId(c.table(), c.pk()));
            more = true;
            break;
          }
        }
      }
    }
    return out;
  }

  /** The parent's primary key from the values of its columns {@code refCols}; null when they are not its key. */
  private static List<Object> keyOf(TableSchema parent, List<String> refCols, List<Object> values) {
    if (refCols.size() != parent.primaryKey().size() || !Set.copyOf(refCols).equals(Set.copyOf(parent.primaryKey()))) {
      return null; // refers to another unique column: no change of the group is named by it
    }
    List<Object> key = new ArrayList<>(refCols.size());
    for (String k : parent.primaryKey()) {
      key.add(values.get(refCols.indexOf(k)));
    }
    return key;
  }

  private static String rowId(String table, List<Object> key) {
    List<Object> norm = new ArrayList<>(key.size());
    for (Object v : key) {
      norm.add(Values.normalize(v)); // a driver's Integer or byte[] as the protocol has it
    }
    return table + "\u0000" + Keys.canonical(norm);
  }
}
