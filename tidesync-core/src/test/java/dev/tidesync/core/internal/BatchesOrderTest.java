package dev.tidesync.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.TableSchema;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Seeded: {@link Batches#applyOrder} puts the upserts of a table that refers to itself parents
 * first within the batch, keeps each row's changes in order, leaves other tables' changes where
 * they were, and ends (a cycle is cut). Replay with {@code -Dtidesync.seed=N}.
 */
class BatchesOrderTest {
  static final TableSchema NODES = new TableSchema("nodes", List.of(new ColumnSchema("id", "TEXT", true, null),
      new ColumnSchema("parent", "TEXT", false, null), new ColumnSchema("v", "INTEGER", false, null)), List.of("id"),
      List.of(new ForeignKey(List.of("parent"), "nodes", List.of("id"), "NO ACTION")), ConflictPolicy.FIELD_MERGE);
  static final TableSchema PLAIN_NODES = new TableSchema("nodes", NODES.columns(), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
  static final TableSchema OTHER = new TableSchema("other", List.of(new ColumnSchema("id", "TEXT", true, null)), List.of("id"), List.of(),
      ConflictPolicy.FIELD_MERGE);

  @Test
  void selfReferencingRowsGoParentsFirstAndEverythingElseKeepsItsPlace() {
    String seedProp = System.getProperty("tidesync.seed", "");
    long seed = seedProp.isBlank() ? new Random().nextLong() : Long.parseLong(seedProp.trim());
    Random r = new Random(seed);
    for (int round = 0; round < 300; round++) {
      String label = "seed " + seed + ", round " + round;
      int rows = 1 + r.nextInt(40);
      Map<String, String> parentOf = new HashMap<>();
      List<Change> changes = new ArrayList<>();
      for (int i = 0; i < rows; i++) {
        // Mostly a forest (parent of a lower number), sometimes a cycle or a parent not in the batch.
        String parent = i == 0 || r.nextInt(6) == 0 ? null : r.nextInt(10) == 0 ? "n" + (i + r.nextInt(5)) : "n" + r.nextInt(i);
        parentOf.put("n" + i, parent);
      }
      List<String> ids = new ArrayList<>(parentOf.keySet());
      Collections.shuffle(ids, r);
      for (String id : ids) {
        Map<String, Object> cols = new HashMap<>();
        cols.put("parent", parentOf.get(id));
        changes.add(new Change("nodes", List.of(id), false, cols, "h", null, 0, 0));
        if (r.nextInt(8) == 0) {
          changes.add(new Change("nodes", List.of(id), false, Map.of("v", 1L), "h", null, 0, 0)); // the same row again, later
        }
        if (r.nextInt(5) == 0) {
          changes.add(new Change("other", List.of("o" + changes.size()), false, Map.of(), "h", null, 0, 0));
        }
        if (r.nextInt(9) == 0) {
          changes.add(new Change("nodes", List.of("gone" + changes.size()), true, Map.of(), "h", null, 0, 0));
        }
      }
      List<Integer> order = Batches.applyOrder(changes, List.of(NODES, OTHER));
      assertThat(new HashSet<>(order)).as(label).hasSize(changes.size());
      Map<String, Integer> firstAt = new HashMap<>();
      Map<String, Integer> lastIndex = new HashMap<>();
      for (int pos = 0; pos < order.size(); pos++) {
        Change c = changes.get(order.get(pos));
        String id = (String) c.pk().get(0);
        if (c.table().equals("nodes") && !c.deleted()) {
          firstAt.putIfAbsent(id, pos);
          Integer before = lastIndex.put(id, order.get(pos));
          assertThat(before == null || before < order.get(pos)).as("%s: %s's changes in order", label, id).isTrue();
        }
      }
      // Parents first, except where a cycle among the batch's rows had to be cut.
      for (Map.Entry<String, Integer> e : firstAt.entrySet()) {
        String parent = parentOf.get(e.getKey());
        if (parent != null && firstAt.containsKey(parent) && !inCycle(e.getKey(), parentOf)) {
          assertThat(firstAt.get(parent)).as("%s: %s before %s", label, parent, e.getKey()).isLessThan(e.getValue());
        }
      }
      // Changes of other tables, and deletes, keep their positions.
      List<Integer> plain = Batches.applyOrder(changes, List.of(PLAIN_NODES, OTHER));
      for (int pos = 0; pos < order.size(); pos++) {
        Change c = changes.get(plain.get(pos));
        if (!c.table().equals("nodes") || c.deleted()) {
          assertThat(order.get(pos)).as("%s: position %d", label, pos).isEqualTo(plain.get(pos));
        }
      }
    }
  }

  private static boolean inCycle(String id, Map<String, String> parentOf) {
    Set<String> seen = new HashSet<>();
    for (String at = id; at != null && parentOf.containsKey(at); at = parentOf.get(at)) {
      if (!seen.add(at)) {
        return true;
      }
    }
    return false;
  }
}
