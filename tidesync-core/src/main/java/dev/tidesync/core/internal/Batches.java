package dev.tidesync.core.internal;

import dev.tidesync.core.SchemaOrder;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.TableSchema;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Rules every store applies to a pushed batch before and while writing it; no I/O. */
public final class Batches {
  private Batches() {}

  /**
   * Checks every change against the schema before anything is written (a bad batch changes
   * nothing) and returns each change's table, in change order.
   */
  public static List<TableSchema> validate(List<Change> changes, Map<String, TableSchema> schema, String dataset) {
    List<TableSchema> out = new ArrayList<>(changes.size());
    // Column names by table, looked up per value: a scan of the table's columns for every value
    // of every row was a few percent of a push's store.
    Map<String, Set<String>> names = new HashMap<>();
    for (int i = 0; i < changes.size(); i++) {
      Change c = changes.get(i);
      TableSchema t = schema.get(c.table());
      if (t == null) {
        throw new ProtocolException("unknown_table", "changes[" + i + "]: unknown table '" + cut(c.table()) + "' in dataset '" + dataset + "'");
      }
      if (c.pk().size() != t.primaryKey().size()) {
        throw new ProtocolException("bad_key", "changes[" + i + "]: table '" + t.name() + "' has a " + t.primaryKey().size()
            + "-column primary key, the change gives " + c.pk().size() + " value(s)");
      }
      for (Object v : c.pk()) {
        if (v == null) {
          throw new ProtocolException("bad_key", "changes[" + i + "]: primary key values cannot be null");
        }
      }
      Set<String> columns = names.computeIfAbsent(t.name(), k -> new HashSet<>(t.columnNames()));
      for (String col : c.cols().keySet()) {
        if (!columns.contains(col)) {
          throw new ProtocolException("unknown_column", "changes[" + i + "]: table '" + t.name() + "' has no column '" + cut(col) + "'");
        }
      }
      for (String col : c.clocks().keySet()) {
        if (!c.cols().containsKey(col)) {
          throw new ProtocolException("bad_change", "changes[" + i + "]: clock given for column '" + cut(col) + "' that the change does not set");
        }
      }
      for (Map.Entry<String, String> e : c.clocks().entrySet()) {
        if (e.getValue().compareTo(c.hlc()) > 0) {
          throw new ProtocolException("bad_change", "changes[" + i + "]: column clock newer than the change's hlc");
        }
      }
      out.add(t);
    }
    return out;
  }

  /**
   * Indexes of the changes in apply order: upserts parents first, then deletes children first;
   * within a table that refers to itself, upserts of rows the batch refers to before the rows
   * that refer to them ({@link #selfParentsFirst}); otherwise stable within a table.
   */
  public static List<Integer> applyOrder(List<Change> changes, Collection<TableSchema> schema) {
    Map<String, Integer> rank = SchemaOrder.rank(List.copyOf(schema));
    List<Integer> idx = new ArrayList<>(changes.size());
    for (int i = 0; i < changes.size(); i++) {
      idx.add(i);
    }
    idx.sort(Comparator.comparingInt((Integer i) -> {
      Change c = changes.get(i);
      int r = rank.getOrDefault(c.table(), 0);
      return c.deleted() ? 1_000_000 - r : r;
    }));
    for (TableSchema t : schema) {
      selfParentsFirst(idx, changes, t);
    }
    return idx;
  }

  /**
   * Reorders, in place among their own positions in {@code idx}, the upserts of {@code t} when it
   * refers to itself: a row the batch also writes, and that a change refers to by its values,
   * goes before that change (depth first, otherwise in batch order; a row's changes stay together
   * and in order; a cycle is cut where it closes). Without it a chain pushed the wrong way round
   * cost the store one pass over what is left per row: 85 s for 2,000 rows (found in review).
   * Values that name the parent in other terms than its key (another type, a collation) only
   * leave that order to the passes.
   */
  static void selfParentsFirst(List<Integer> idx, List<Change> changes, TableSchema t) {
    List<List<String>> selfKeys = new ArrayList<>(); // each self-reference's columns, in the order of t's key
    for (dev.tidesync.protocol.ForeignKey fk : t.foreignKeys()) {
      List<String> ref = ForeignKeyGroups.refColumns(fk, t);
      if (fk.refTable().equals(t.name()) && ref.size() == t.primaryKey().size() && Set.copyOf(ref).equals(Set.copyOf(t.primaryKey()))) {
        List<String> cols = new ArrayList<>();
        for (String k : t.primaryKey()) {
          cols.add(fk.columns().get(ref.indexOf(k)));
        }
        selfKeys.add(cols);
      }
    }
    if (selfKeys.isEmpty()) {
      return;
    }
    List<Integer> slots = new ArrayList<>();
    Map<String, List<Integer>> rows = new java.util.LinkedHashMap<>(); // row key -> its changes, in order
    for (int s = 0; s < idx.size(); s++) {
      Change c = changes.get(idx.get(s));
      if (!c.deleted() && c.table().equals(t.name())) {
        slots.add(s);
        rows.computeIfAbsent(key(c.pk()), k -> new ArrayList<>()).add(idx.get(s));
      }
    }
    if (rows.size() < 2) {
      return;
    }
    Map<String, List<String>> parents = new HashMap<>();
    for (Map.Entry<String, List<Integer>> row : rows.entrySet()) {
      for (int i : row.getValue()) {
        Map<String, Object> cols = changes.get(i).cols();
        for (List<String> fkCols : selfKeys) {
          List<Object> values = new ArrayList<>(fkCols.size());
          for (String col : fkCols) {
            values.add(cols.get(col)); // absent (not written) or NULL: refers to no row
          }
          if (values.contains(null)) {
            continue;
          }
          String parent = key(values);
          if (!parent.equals(row.getKey()) && rows.containsKey(parent)) {
            parents.computeIfAbsent(row.getKey(), k -> new ArrayList<>()).add(parent);
          }
        }
      }
    }
    if (parents.isEmpty()) {
      return;
    }
    // Depth first without recursion (a chain may be as long as the batch).
    List<Integer> out = new ArrayList<>(slots.size());
    Set<String> done = new HashSet<>();
    Set<String> onPath = new HashSet<>();
    java.util.ArrayDeque<String> path = new java.util.ArrayDeque<>();
    java.util.ArrayDeque<java.util.Iterator<String>> next = new java.util.ArrayDeque<>();
    for (String root : rows.keySet()) {
      if (done.contains(root)) {
        continue;
      }
      path.push(root);
      onPath.add(root);
      next.push(parents.getOrDefault(root, List.of()).iterator());
      while (!path.isEmpty()) {
        java.util.Iterator<String> it = next.peek();
        if (it.hasNext()) {
          String p = it.next();
          if (!done.contains(p) && onPath.add(p)) { // on the path already: a cycle, cut here
            path.push(p);
            next.push(parents.getOrDefault(p, List.of()).iterator());
          }
        } else {
          String row = path.pop();
          next.pop();
          onPath.remove(row);
          done.add(row);
          out.addAll(rows.get(row));
        }
      }
    }
    for (int s = 0; s < slots.size(); s++) {
      idx.set(slots.get(s), out.get(s));
    }
  }

  /** A row's key as the batch names it, the same for values a driver or the wire gave in other Java types. */
  private static String key(List<Object> values) {
    List<Object> norm = new ArrayList<>(values.size());
    for (Object v : values) {
      norm.add(dev.tidesync.protocol.Values.normalize(v));
    }
    return Keys.canonical(norm);
  }

  /** Tables whose incompatibility fails the push: those with changes, or all for a schema-only push. */
  public static Set<String> touched(PushRequest req) {
    Set<String> out = new HashSet<>();
    req.changes().forEach(c -> out.add(c.table()));
    if (out.isEmpty()) {
      req.schema().forEach(t -> out.add(t.name()));
    }
    return out;
  }

  /** A name or value cut for an error message. */
  public static String cut(String s) {
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }

  /** A parsed pull cursor: {@code b1.<epoch>.<version>} (bootstrap) or {@code c1.<epoch>.<version>}. */
  public record Cursor(boolean bootstrap, long after) {
    /** Parses {@code cursor} (null or empty: a new bootstrap) of the dataset incarnation {@code epoch}. */
    public static Cursor parse(String cursor, String epoch, String dataset) {
      if (cursor == null || cursor.isEmpty()) {
        return new Cursor(true, 0);
      }
      String[] parts = cursor.split("\\.");
      if (parts.length != 3 || !(parts[0].equals("b1") || parts[0].equals("c1")) || !parts[2].matches("[0-9]{1,18}")) {
        throw new ProtocolException("bad_cursor", "malformed cursor '" + cut(cursor) + "'");
      }
      if (!parts[1].equals(epoch)) {
        throw new ProtocolException("cursor_invalid", 409, "cursor belongs to another incarnation of dataset '" + dataset
            + "'; bootstrap again (pull without a cursor)");
      }
      return new Cursor(parts[0].equals("b1"), Long.parseLong(parts[2]));
    }

    public static String format(boolean bootstrap, String epoch, long version) {
      return (bootstrap ? "b1." : "c1.") + epoch + "." + version;
    }
  }
}
