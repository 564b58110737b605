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

  /** Indexes of the changes in apply order: upserts parents first, then deletes children first; stable within a table. */
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
    return idx;
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
