package dev.tidesync.core;

import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.TableSchema;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Orders tables parents before children by foreign keys (self-references ignored, cycles broken by name). */
public final class SchemaOrder {
  private SchemaOrder() {}

  public static List<TableSchema> parentsFirst(List<TableSchema> tables) {
    Map<String, TableSchema> byName = new LinkedHashMap<>();
    tables.stream().sorted((a, b) -> a.name().compareTo(b.name())).forEach(t -> byName.put(t.name(), t));
    List<TableSchema> out = new ArrayList<>();
    java.util.Set<String> done = new java.util.HashSet<>();
    java.util.Set<String> visiting = new java.util.HashSet<>();
    for (TableSchema t : byName.values()) {
      visit(t, byName, done, visiting, out);
    }
    return out;
  }

  private static void visit(TableSchema t, Map<String, TableSchema> byName, java.util.Set<String> done,
      java.util.Set<String> visiting, List<TableSchema> out) {
    if (done.contains(t.name()) || !visiting.add(t.name())) {
      return;
    }
    for (ForeignKey fk : t.foreignKeys()) {
      TableSchema parent = byName.get(fk.refTable());
      if (parent != null && !parent.name().equals(t.name())) {
        visit(parent, byName, done, visiting, out);
      }
    }
    visiting.remove(t.name());
    done.add(t.name());
    out.add(t);
  }

  /** Index of each table in parents-first order. */
  public static Map<String, Integer> rank(List<TableSchema> tables) {
    Map<String, Integer> r = new java.util.HashMap<>();
    List<TableSchema> ordered = parentsFirst(tables);
    for (int i = 0; i < ordered.size(); i++) {
      r.put(ordered.get(i).name(), i);
    }
    return r;
  }
}
