package dev.tidesync.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.internal.ForeignKeyGroups.Violation;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.TableSchema;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ForeignKeyGroupsTest {
  static final ForeignKey TO_SELF = new ForeignKey(List.of("parent"), "nodes", List.of(), "NO ACTION");
  static final TableSchema NODES = new TableSchema("nodes", List.of(new ColumnSchema("id", "INTEGER", true, null),
      new ColumnSchema("parent", "INTEGER", false, null)), List.of("id"), List.of(TO_SELF), ConflictPolicy.FIELD_MERGE);
  /** A composite key, referred to with its columns in another order. */
  static final TableSchema SITES = new TableSchema("sites", List.of(new ColumnSchema("region", "TEXT", true, null),
      new ColumnSchema("code", "INTEGER", true, null)), List.of("region", "code"), List.of(), ConflictPolicy.FIELD_MERGE);
  static final ForeignKey TO_SITE = new ForeignKey(List.of("c", "r"), "sites", List.of("code", "region"), "NO ACTION");
  static final TableSchema VISITS = new TableSchema("visits", List.of(new ColumnSchema("id", "TEXT", true, null),
      new ColumnSchema("r", "TEXT", false, null), new ColumnSchema("c", "INTEGER", false, null)), List.of("id"), List.of(TO_SITE),
      ConflictPolicy.FIELD_MERGE);
  static final Map<String, TableSchema> SCHEMA = Map.of("nodes", NODES, "sites", SITES, "visits", VISITS);

  static Change upsert(String table, List<Object> pk, Object... nameValue) {
    Map<String, Object> cols = new HashMap<>();
    for (int i = 0; i < nameValue.length; i += 2) {
      cols.put((String) nameValue[i], nameValue[i + 1]);
    }
    return new Change(table, pk, false, cols, "0000001700000000.00000.dev", null, 0, 0);
  }

  static Change delete(String table, List<Object> pk) {
    return new Change(table, pk, true, Map.of(), "0000001700000000.00000.dev", null, 1, 0);
  }

  @Test
  void aRowReferringToNothingGoesOutWithEveryRowOfTheGroupUnderIt() {
    // 1 <-> 2 a cycle; 3 refers to a row that is nowhere; 4 under 3, 5 under 4; 6 under 1.
    List<Change> changes = List.of(upsert("nodes", List.of(1L), "parent", 2L), upsert("nodes", List.of(2L), "parent", 1L),
        upsert("nodes", List.of(3L), "parent", 99L), upsert("nodes", List.of(4L), "parent", 3L), upsert("nodes", List.of(5L), "parent", 4L),
        upsert("nodes", List.of(6L), "parent", 1L));
    // The driver reads the key as an Integer: the same row as the change's Long.
    Set<Integer> out = ForeignKeyGroups.culprits(List.of(0, 1, 2, 3, 4, 5), changes, SCHEMA,
        List.of(new Violation("nodes", List.of(3), TO_SELF, List.of(99))));
    assertThat(out).containsExactlyInAnyOrder(2, 3, 4);
  }

  @Test
  void aDeletedRowStillReferredToByARowTheGroupDoesNotWriteIsItsDelete() {
    List<Change> changes = List.of(delete("sites", List.of("north", 7L)), delete("sites", List.of("south", 7L)));
    // A visit the group does not touch still refers to (north, 7), its columns in the other order.
    Set<Integer> out = ForeignKeyGroups.culprits(List.of(0, 1), changes, SCHEMA,
        List.of(new Violation("visits", List.of("v1"), TO_SITE, List.of(7L, "north"))));
    assertThat(out).containsExactly(0);
  }

  @Test
  void aViolationNoChangeOfTheGroupAnswersForLeavesNothingOut() {
    List<Change> changes = List.of(upsert("nodes", List.of(1L), "parent", 2L), upsert("nodes", List.of(2L), "parent", 1L));
    assertThat(ForeignKeyGroups.culprits(List.of(0, 1), changes, SCHEMA,
        List.of(new Violation("nodes", List.of(40L), TO_SELF, List.of(41L))))).isEmpty();
  }

  @Test
  void aGroupIsTriedOnlyWhenItsRowsReferToEachOtherInACycle() {
    List<Change> changes = List.of(upsert("nodes", List.of(1L), "parent", 2L), upsert("nodes", List.of(2L), "parent", 3L),
        upsert("nodes", List.of(3L), "parent", 1L), delete("nodes", List.of(4L)), delete("nodes", List.of(5L)));
    Map<String, Object> to1 = new HashMap<>(Map.of("parent", 1L));
    Map<String, Object> to2 = new HashMap<>(Map.of("parent", 2L));
    Map<String, Object> to3 = new HashMap<>(Map.of("parent", 3L));
    Map<String, Object> to4 = new HashMap<>(Map.of("parent", 4L));
    Map<String, Object> to5 = new HashMap<>(Map.of("parent", 5L));
    Map<String, Object> toNothing = new HashMap<>(Map.of("parent", 99L));
    // 1 -> 2 -> 3 -> 1: a cycle of upserts.
    assertThat(ForeignKeyGroups.hasCycle(List.of(0, 1, 2), changes, SCHEMA, List.of(to2, to3, to1))).isTrue();
    // A chain is no cycle: the passes had its order.
    assertThat(ForeignKeyGroups.hasCycle(List.of(0, 1, 2), changes, SCHEMA, List.of(to2, to3, toNothing))).isFalse();
    // Deletes by their stored rows: 4 -> 5 -> 4.
    assertThat(ForeignKeyGroups.hasCycle(List.of(3, 4), changes, SCHEMA, List.of(to5, to4))).isTrue();
    // A row that refers to itself is no cycle of the group.
    assertThat(ForeignKeyGroups.hasCycle(List.of(3, 4), changes, SCHEMA, List.of(to4, toNothing))).isFalse();
  }

  @Test
  void theTablesToCheckAreTheGroupsAndThoseReferringToThem() {
    assertThat(ForeignKeyGroups.tablesToCheck(Set.of("sites"), SCHEMA.values())).containsExactly("sites", "visits");
    assertThat(ForeignKeyGroups.tablesToCheck(Set.of("nodes"), SCHEMA.values())).containsExactly("nodes");
  }

  @Test
  void theViolationsQueryMatchesEveryColumnOfTheKeyAndSkipsNulls() {
    String sql = ForeignKeyGroups.violationsSql(VISITS, TO_SITE, SITES, t -> "s." + t, c -> "\"" + c + "\"", 10);
    assertThat(sql).isEqualTo("SELECT c.\"id\", c.\"c\", c.\"r\" FROM s.visits c WHERE c.\"c\" IS NOT NULL AND c.\"r\" IS NOT NULL AND "
        + "NOT EXISTS (SELECT 1 FROM s.sites p WHERE p.\"code\" = c.\"c\" AND p.\"region\" = c.\"r\") LIMIT 10");
  }
}
