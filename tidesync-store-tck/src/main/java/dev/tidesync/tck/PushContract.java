package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Pushing a batch: applied once per (device, batch id), each change on its own (a bad record does
 * not fail the batch), in foreign-key order whatever order the batch lists them in.
 */
public abstract class PushContract extends ContractSupport {
  static final TableSchema SESSIONS = SchemaContract.SESSIONS;
  static final TableSchema EVENTS = SchemaContract.EVENTS;
  static final TableSchema STRICT = table("strict", List.of("id"), col("id", "TEXT"), notNull("must", "TEXT"));
  static final TableSchema NODES = child("nodes", "parent", "nodes", "NO ACTION", col("id", "TEXT"), col("parent", "TEXT"));

  static List<String> statuses(PushResult r) {
    return r.results().stream().map(ChangeResult::status).toList();
  }

  @Test
  void aNewRowIsAppliedAtAVersionAndTheAnswerCarriesACursor() {
    PushResult r = push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "apple", "qty", 1L)));
    assertThat(r.replayed()).isFalse();
    assertThat(r.cursor()).isNotBlank();
    assertThat(r.results()).singleElement().satisfies(c -> {
      assertThat(c.index()).isZero();
      assertThat(c.status()).isEqualTo(ChangeResult.APPLIED);
      assertThat(c.version()).isPositive();
    });
    assertThat(store().status().version()).isGreaterThanOrEqualTo(r.results().get(0).version());
    assertThat(pullAll(null, "dev-b").row("items", "i1").version()).isEqualTo(r.results().get(0).version());
  }

  @Test
  void versionsGrowWithEveryChangeOfARow() {
    long v1 = push("dev-a", upsert("dev-a", "items", "i1", 0, cols("qty", 1L))).results().get(0).version();
    long v2 = push("dev-a", upsert("dev-a", "items", "i1", v1, cols("qty", 2L))).results().get(0).version();
    long v3 = push("dev-a", delete("dev-a", "items", "i1", v2)).results().get(0).version();
    assertThat(v2).isGreaterThan(v1);
    assertThat(v3).isGreaterThan(v2);
  }

  @Test
  void aReplayedBatchGetsTheRecordedAnswerAndIsAppliedOnce() {
    PushRequest first = request("dev-a", "batch-1", List.of(ITEMS), List.of(upsert("dev-a", "items", "i1", 0, cols("qty", 1L)),
        upsert("dev-a", "items", "i2", 0, cols("qty", 2L))));
    PushResult answer = store().push(first);
    long v = answer.results().get(0).version();
    // Another device changes the row; then the first batch arrives again (a retry).
    push("dev-b", upsert("dev-b", "items", "i1", v, cols("qty", 10L)));
    long version = store().status().version();
    PushResult again = store().push(first);
    assertThat(again.replayed()).isTrue();
    assertThat(again.results()).isEqualTo(answer.results());
    assertThat(again.cursor()).isEqualTo(answer.cursor());
    assertThat(store().status().version()).isEqualTo(version);
    assertThat(backendQuery(ID, "SELECT id, qty FROM items ORDER BY id")).containsExactly(List.of("i1", 10L), List.of("i2", 2L));
    assertThat(store().conflicts(0, 10)).isEmpty();
  }

  @Test
  void theSameBatchIdFromAnotherDeviceIsAnotherBatch() {
    store().push(request("dev-a", "batch-1", List.of(ITEMS), List.of(upsert("dev-a", "items", "i1", 0, cols("qty", 1L)))));
    PushResult b = store().push(request("dev-b", "batch-1", List.of(ITEMS), List.of(upsert("dev-b", "items", "i2", 0, cols("qty", 2L)))));
    assertThat(b.replayed()).isFalse();
    assertThat(statuses(b)).containsExactly(ChangeResult.APPLIED);
    assertThat(backendQuery(ID, "SELECT count(*) FROM items")).containsExactly(List.of(2L));
  }

  @Test
  void theSameChangeDeliveredTwiceInTwoBatchesChangesNothingTheSecondTime() {
    Change c = upsert("dev-a", "items", "i1", 0, cols("qty", 1L));
    long v = push("dev-a", c).results().get(0).version();
    PushResult twice = push("dev-a", c);
    assertThat(statuses(twice)).containsExactly(ChangeResult.APPLIED);
    assertThat(twice.results().get(0).version()).isEqualTo(v);
    assertThat(store().status().version()).isEqualTo(v);
    assertThat(store().conflicts(0, 10)).isEmpty();
  }

  @Test
  void aConstraintViolationRejectsThatChangeAloneAsPermanent() {
    PushResult r = push(store(), "dev-a", List.of(STRICT), upsert("dev-a", "strict", "ok1", 0, cols("must", "x")),
        upsert("dev-a", "strict", "bad", 0, cols("must", null)), upsert("dev-a", "strict", "ok2", 0, cols("must", "y")));
    assertThat(statuses(r)).containsExactly(ChangeResult.APPLIED, ChangeResult.REJECTED, ChangeResult.APPLIED);
    ChangeResult bad = r.results().get(1);
    assertThat(bad.retriable()).isFalse();
    assertThat(bad.reason()).isNotBlank();
    assertThat(bad.version()).isZero();
    assertThat(backendQuery(ID, "SELECT id FROM strict ORDER BY id")).containsExactly(List.of("ok1"), List.of("ok2"));
    assertThat(pullAll(null, "dev-b").changes()).extracting(c -> c.pk().get(0)).containsExactlyInAnyOrder("ok1", "ok2");
  }

  @Test
  void aBatchThatFailsAsAWholeGivesEachWriteOneVersionAndABackendWriteWaitingForOneGetsItOnce() {
    // The whole batch is tried at once first; a change that fails sends it change by change (on
    // SQLite in a new transaction). A backend write waiting to be versioned is versioned in
    // whichever attempt commits, once, and the rows of the failed attempt are not left behind.
    push(store(), "dev-a", List.of(ITEMS, STRICT), upsert("dev-a", "items", "i1", 0, cols("name", "apple")));
    Pulled before = pullAll(null, "dev-b");
    long last = before.changes().stream().mapToLong(Change::version).max().orElseThrow();
    backendSql(ID, "UPDATE items SET qty = 5 WHERE id = 'i1'");
    PushResult r = push(store(), "dev-a", List.of(ITEMS, STRICT), upsert("dev-a", "strict", "ok1", 0, cols("must", "x")),
        upsert("dev-a", "strict", "bad", 0, cols("must", null)), upsert("dev-a", "items", "i2", 0, cols("name", "pear")));
    assertThat(statuses(r)).containsExactly(ChangeResult.APPLIED, ChangeResult.REJECTED, ChangeResult.APPLIED);
    Pulled delta = pullAll(before.cursor(), "dev-b");
    assertThat(delta.changes()).extracting(c -> c.pk().get(0)).containsExactlyInAnyOrder("i1", "ok1", "i2");
    assertThat(delta.changes()).extracting(Change::version).doesNotHaveDuplicates().allSatisfy(v -> assertThat(v).isGreaterThan(last));
    assertThat(delta.row("items", "i1").cols()).containsEntry("name", "apple").containsEntry("qty", 5L);
    assertThat(delta.row("strict", "ok1").version()).isEqualTo(r.results().get(0).version());
    assertThat(delta.row("items", "i2").version()).isEqualTo(r.results().get(2).version());
    assertThat(backendQuery(ID, "SELECT id FROM strict ORDER BY id")).containsExactly(List.of("ok1"));
    assertThat(pullAll(delta.cursor(), "dev-b").changes()).isEmpty();
  }

  @Test
  void aChildWhoseParentIsMissingIsRejectedAsRetriableAndTheRestApplies() {
    PushResult r = push(store(), "dev-a", List.of(SESSIONS, EVENTS), upsert("dev-a", "sessions", "s1", 0, cols("name", "x")),
        upsert("dev-a", "events", "orphan", 0, cols("session_id", "missing", "v", 1.0)),
        upsert("dev-a", "events", "e1", 0, cols("session_id", "s1", "v", 2.0)));
    assertThat(statuses(r)).containsExactly(ChangeResult.APPLIED, ChangeResult.REJECTED, ChangeResult.APPLIED);
    assertThat(r.results().get(1).retriable()).isTrue();
    assertThat(backendQuery(ID, "SELECT id FROM events")).containsExactly(List.of("e1"));
  }

  @Test
  void childrenListedBeforeTheirParentsAreApplied() {
    PushResult r = push(store(), "dev-a", List.of(SESSIONS, EVENTS), upsert("dev-a", "events", "e1", 0, cols("session_id", "s1", "v", 1.0)),
        upsert("dev-a", "events", "e2", 0, cols("session_id", "s2", "v", 2.0)), upsert("dev-a", "sessions", "s1", 0, cols("name", "one")),
        upsert("dev-a", "sessions", "s2", 0, cols("name", "two")));
    assertThat(statuses(r)).containsOnly(ChangeResult.APPLIED);
    assertThat(backendQuery(ID, "SELECT count(*) FROM events")).containsExactly(List.of(2L));
  }

  @Test
  void parentDeletesListedBeforeTheirChildrensAreApplied() {
    PushResult made = push(store(), "dev-a", List.of(SESSIONS, EVENTS), upsert("dev-a", "sessions", "s1", 0, cols("name", "one")),
        upsert("dev-a", "events", "e1", 0, cols("session_id", "s1", "v", 1.0)));
    long vs = made.results().get(0).version();
    long ve = made.results().get(1).version();
    PushResult r = push(store(), "dev-a", List.of(SESSIONS, EVENTS), delete("dev-a", "sessions", "s1", vs), delete("dev-a", "events", "e1", ve));
    assertThat(statuses(r)).containsOnly(ChangeResult.APPLIED);
    assertThat(backendQuery(ID, "SELECT count(*) FROM sessions")).containsExactly(List.of(0L));
    Pulled all = pullAll(null, "dev-b");
    assertThat(all.row("sessions", "s1").deleted()).isTrue();
    assertThat(all.row("events", "e1").deleted()).isTrue();
  }

  @Test
  void aSelfReferencingChainArrivesInAnyOrderAndIsDeletedRootFirst() {
    // c -> b -> a, listed leaf first.
    PushResult made = push(store(), "dev-a", List.of(NODES), upsert("dev-a", "nodes", "c", 0, cols("parent", "b")),
        upsert("dev-a", "nodes", "b", 0, cols("parent", "a")), upsert("dev-a", "nodes", "a", 0, cols("parent", null)));
    assertThat(statuses(made)).containsOnly(ChangeResult.APPLIED);
    PushResult gone = push(store(), "dev-a", List.of(NODES), delete("dev-a", "nodes", "a", made.results().get(2).version()),
        delete("dev-a", "nodes", "b", made.results().get(1).version()), delete("dev-a", "nodes", "c", made.results().get(0).version()));
    assertThat(statuses(gone)).containsOnly(ChangeResult.APPLIED);
    assertThat(backendQuery(ID, "SELECT count(*) FROM nodes")).containsExactly(List.of(0L));
  }

  @Test
  void aCycleOfRowsInOneBatchGoesInAndOutAsOneGroup() {
    // a -> b -> a (a row moved under its own descendant): neither can go first, one at a time.
    PushResult made = push(store(), "dev-a", List.of(NODES), upsert("dev-a", "nodes", "a", 0, cols("parent", "b")),
        upsert("dev-a", "nodes", "b", 0, cols("parent", "a")), upsert("dev-a", "nodes", "c", 0, cols("parent", "a")));
    assertThat(statuses(made)).containsOnly(ChangeResult.APPLIED);
    assertThat(made.results()).extracting(ChangeResult::version).doesNotHaveDuplicates().doesNotContain(0L);
    assertThat(backendQuery(ID, "SELECT id, parent FROM nodes ORDER BY id"))
        .containsExactly(List.of("a", "b"), List.of("b", "a"), List.of("c", "a"));
    assertThat(pullAll(null, "dev-b").changes()).extracting(c -> c.pk().get(0)).containsExactlyInAnyOrder("a", "b", "c");
    PushResult gone = push(store(), "dev-a", List.of(NODES), delete("dev-a", "nodes", "a", made.results().get(0).version()),
        delete("dev-a", "nodes", "b", made.results().get(1).version()), delete("dev-a", "nodes", "c", made.results().get(2).version()));
    assertThat(statuses(gone)).containsOnly(ChangeResult.APPLIED);
    assertThat(backendQuery(ID, "SELECT count(*) FROM nodes")).containsExactly(List.of(0L));
  }

  @Test
  void rowsWhoseParentIsMissingDoNotHoldACycleBackWithThem() {
    // o1 refers to a row that exists nowhere, o2 to o1: refused for now, while the cycle goes in.
    PushResult r = push(store(), "dev-a", List.of(NODES), upsert("dev-a", "nodes", "o2", 0, cols("parent", "o1")),
        upsert("dev-a", "nodes", "a", 0, cols("parent", "b")), upsert("dev-a", "nodes", "o1", 0, cols("parent", "missing")),
        upsert("dev-a", "nodes", "b", 0, cols("parent", "a")));
    assertThat(statuses(r)).containsExactly(ChangeResult.REJECTED, ChangeResult.APPLIED, ChangeResult.REJECTED, ChangeResult.APPLIED);
    assertThat(r.results().get(0).retriable()).isTrue();
    assertThat(r.results().get(2).retriable()).isTrue();
    assertThat(backendQuery(ID, "SELECT id FROM nodes ORDER BY id")).containsExactly(List.of("a"), List.of("b"));

    // c stays and refers to a: a cannot go, nor b, which a refers to; both refused for now.
    PushResult c = push(store(), "dev-a", List.of(NODES), upsert("dev-a", "nodes", "c", 0, cols("parent", "a")));
    PushResult gone = push(store(), "dev-a", List.of(NODES), delete("dev-a", "nodes", "a", r.results().get(1).version()),
        delete("dev-a", "nodes", "b", r.results().get(3).version()));
    assertThat(statuses(c)).containsOnly(ChangeResult.APPLIED);
    assertThat(statuses(gone)).containsOnly(ChangeResult.REJECTED);
    assertThat(gone.results()).allMatch(ChangeResult::retriable);
    assertThat(backendQuery(ID, "SELECT id FROM nodes ORDER BY id")).containsExactly(List.of("a"), List.of("b"), List.of("c"));
  }

  @Test
  void aRowThatFailedItsKeyBeforeThePushDoesNotHoldACycleBack() {
    push(store(), "dev-a", List.of(NODES));
    backendSql(ID, factory().foreignKeysOff(), "INSERT INTO nodes (id, parent) VALUES ('z', 'ghost')");
    // o fails the batch's fast path, so the cycle goes as a group, whose check meets z.
    PushResult r = push(store(), "dev-a", List.of(NODES), upsert("dev-a", "nodes", "a", 0, cols("parent", "b")),
        upsert("dev-a", "nodes", "b", 0, cols("parent", "a")), upsert("dev-a", "nodes", "o", 0, cols("parent", "missing")));
    assertThat(statuses(r)).containsExactly(ChangeResult.APPLIED, ChangeResult.APPLIED, ChangeResult.REJECTED);
    assertThat(backendQuery(ID, "SELECT id FROM nodes ORDER BY id")).containsExactly(List.of("a"), List.of("b"), List.of("z"));
  }

  @Test
  void aCycleWhoseDeleteWouldCascadeIntoARowStillReferredToIsRefusedAndLeavesNoOrphan() {
    TableSchema notes = child("notes", "node", "nodes", "CASCADE", col("id", "TEXT"), col("node", "TEXT"));
    TableSchema tags = child("tags", "note", "notes", "NO ACTION", col("id", "TEXT"), col("note", "TEXT"));
    List<TableSchema> schema = List.of(NODES, notes, tags);
    PushResult made = push(store(), "dev-a", schema, upsert("dev-a", "nodes", "a", 0, cols("parent", "b")),
        upsert("dev-a", "nodes", "b", 0, cols("parent", "a")));
    push(store(), "dev-b", schema, upsert("dev-b", "notes", "n1", 0, cols("node", "a")), upsert("dev-b", "tags", "t1", 0, cols("note", "n1")));
    // Deleting a cascades to n1, which t1 still refers to: no order, and no group, may do it.
    PushResult gone = push(store(), "dev-a", schema, delete("dev-a", "nodes", "a", made.results().get(0).version()),
        delete("dev-a", "nodes", "b", made.results().get(1).version()));
    assertThat(statuses(gone)).containsOnly(ChangeResult.REJECTED);
    assertThat(gone.results()).allMatch(ChangeResult::retriable);
    assertThat(backendQuery(ID, "SELECT count(*) FROM nodes")).containsExactly(List.of(2L));
    assertThat(backendQuery(ID, "SELECT count(*) FROM tags WHERE note NOT IN (SELECT id FROM notes)")).containsExactly(List.of(0L));
  }

  @Test
  void aParentDeleteCascadesAndTheCascadedDeletesArePulled() {
    PushResult made = push(store(), "dev-a", List.of(SESSIONS, EVENTS), upsert("dev-a", "sessions", "s1", 0, cols("name", "one")),
        upsert("dev-a", "events", "e1", 0, cols("session_id", "s1", "v", 1.0)));
    String cursor = pullAll(null, "dev-b").cursor();
    push(store(), "dev-a", List.of(SESSIONS, EVENTS), delete("dev-a", "sessions", "s1", made.results().get(0).version()));
    Pulled delta = pullAll(cursor, "dev-b");
    assertThat(delta.row("sessions", "s1").deleted()).isTrue();
    assertThat(delta.row("events", "e1")).as("the cascaded delete of e1").isNotNull();
    assertThat(delta.row("events", "e1").deleted()).isTrue();
  }

  @Test
  void oneRowTwiceInOneBatchIsAppliedInOrderAndTheSecondSeesTheFirst() {
    // A store may queue its writes; the second change of i1 must still merge with the first.
    PushResult r = push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "apple", "qty", 1L)),
        upsert("dev-a", "items", "i2", 0, cols("name", "pear", "qty", 2L)), upsert("dev-a", "items", "i1", 0, cols("qty", 3L)));
    assertThat(r.results()).extracting(ChangeResult::rejected).containsOnly(false);
    assertThat(r.results().get(2).version()).isGreaterThan(r.results().get(1).version());
    assertThat(backendQuery(ID, "SELECT id, name, qty FROM items ORDER BY id"))
        .containsExactly(List.of("i1", "apple", 3L), List.of("i2", "pear", 2L));
    Change i1 = pullAll(null, "dev-b").row("items", "i1");
    assertThat(i1.version()).isEqualTo(r.results().get(2).version());
    assertThat(i1.cols()).containsEntry("name", "apple").containsEntry("qty", 3L);
  }

  @Test
  void rowsWrittenBeforeACascadingDeleteInTheSameBatchAreTheDevicesOwnAndNotEchoed() {
    PushResult made = push(store(), "dev-a", List.of(SESSIONS, EVENTS), upsert("dev-a", "sessions", "s1", 0, cols("name", "one")),
        upsert("dev-a", "sessions", "s2", 0, cols("name", "two")), upsert("dev-a", "events", "e1", 0, cols("session_id", "s1", "v", 1.0)));
    String cursorA = pullAll(null, "dev-a").cursor();
    // e2 and e3 are written before the delete of s1 cascades to e1 (the store may still hold
    // their writes queued when the cascade lets triggers fire): they must stay dev-a's own writes.
    PushResult r = push(store(), "dev-a", List.of(SESSIONS, EVENTS), upsert("dev-a", "events", "e2", 0, cols("session_id", "s2", "v", 2.0)),
        upsert("dev-a", "events", "e3", 0, cols("session_id", "s2", "v", 3.0)), delete("dev-a", "sessions", "s1", made.results().get(0).version()));
    assertThat(statuses(r)).containsOnly(ChangeResult.APPLIED);
    Pulled own = pullAll(cursorA, "dev-a");
    assertThat(own.row("events", "e1")).as("the cascaded delete of e1").isNotNull();
    assertThat(own.row("events", "e1").deleted()).isTrue();
    assertThat(own.row("events", "e2")).as("dev-a's own write, not echoed").isNull();
    assertThat(own.row("events", "e3")).as("dev-a's own write, not echoed").isNull();
    Pulled other = pullAll(null, "dev-b");
    assertThat(other.row("events", "e2").version()).isEqualTo(r.results().get(0).version());
    assertThat(other.row("events", "e3").version()).isEqualTo(r.results().get(1).version());
    assertThat(backendQuery(ID, "SELECT id FROM events ORDER BY id")).containsExactly(List.of("e2"), List.of("e3"));
  }

  /** The whole batch is checked before anything is written: a malformed batch changes nothing. */
  @ParameterizedTest
  @ValueSource(strings = {"unknown_table", "unknown_column", "bad_key:arity", "bad_key:null"})
  void aMalformedChangeRefusesTheWholeBatchAndChangesNothing(String variant) {
    push("dev-a", upsert("dev-a", "items", "i0", 0, cols("qty", 0L)));
    long version = store().status().version();
    Change bad = switch (variant) {
      case "unknown_table" -> upsert("dev-a", "nope", "x", 0, cols("qty", 1L));
      case "unknown_column" -> upsert("dev-a", "items", "x", 0, cols("nope", 1L));
      case "bad_key:arity" -> upsert("dev-a", "items", List.of("x", "y"), 0, cols("qty", 1L));
      case "bad_key:null" -> new Change("items", Arrays.asList((Object) null), false, cols("qty", 1L), hlc("dev-a"), null, 0, 0);
      default -> throw new IllegalArgumentException(variant);
    };
    PushRequest req = request("dev-a", "batch-x", List.of(ITEMS), List.of(upsert("dev-a", "items", "i1", 0, cols("qty", 1L)), bad));
    assertThatThrownBy(() -> store().push(req)).isInstanceOfSatisfying(ProtocolException.class, e -> {
      assertThat(e.code()).isEqualTo(variant.split(":")[0]);
      assertThat(e.status()).isBetween(400, 499);
    });
    assertThat(store().status().version()).isEqualTo(version);
    assertThat(backendQuery(ID, "SELECT id FROM items")).containsExactly(List.of("i0"));
    // The refused batch id was not recorded: the corrected batch under the same id applies.
    PushResult fixed = store().push(request("dev-a", "batch-x", List.of(ITEMS), List.of(upsert("dev-a", "items", "i1", 0, cols("qty", 1L)))));
    assertThat(fixed.replayed()).isFalse();
    assertThat(statuses(fixed)).containsExactly(ChangeResult.APPLIED);
  }
}
