package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * A change whose base is older than the row's version is a conflict: resolved by the table's
 * policy (newest clock wins, per column or per row) and written to the conflict log with both
 * versions, whatever the order in which the changes arrive.
 */
public abstract class ConflictContract extends ContractSupport {
  static final TableSchema LWW = ITEMS.withPolicy(ConflictPolicy.LAST_WRITE_WINS);

  private long insert(TableSchema t, Map<String, Object> cols) {
    return push(store(), "dev-a", List.of(t), upsert("dev-a", t.name(), "r1", 0, cols)).results().get(0).version();
  }

  private Map<String, Object> row() {
    return pullAll(null, "observer").row("items", "r1").cols();
  }

  @Test
  void fieldMergeKeepsEditsToDifferentColumnsAndLogsTheConflict() {
    long v1 = insert(ITEMS, cols("name", "apple", "qty", 1L));
    PushResult b = push("dev-b", upsert("dev-b", "items", "r1", v1, cols("name", "from-b")));
    long v2 = b.results().get(0).version();
    PushResult a = push("dev-a", upsert("dev-a", "items", "r1", v1, cols("qty", 7L)));
    assertThat(a.results().get(0).status()).isEqualTo(ChangeResult.CONFLICT);
    assertThat(row()).containsEntry("name", "from-b").containsEntry("qty", 7L);
    assertThat(store().conflicts(0, 10)).singleElement().satisfies(c -> {
      assertThat(c.id()).isPositive();
      assertThat(c.table()).isEqualTo("items");
      assertThat(c.pk()).contains("r1");
      assertThat(c.policy()).isEqualTo("field-merge");
      assertThat(c.outcome()).isEqualTo("incoming");
      assertThat(c.device()).isEqualTo("dev-a");
      assertThat(c.at()).isPositive();
      assertThat(c.baseVersion()).isEqualTo(v1);
      assertThat(c.storedVersion()).isEqualTo(v2);
      assertThat(c.stored()).contains("from-b").doesNotContain("7");
      assertThat(c.incoming()).contains("\"qty\"").contains("7").doesNotContain("from-b");
      assertThat(c.result()).contains("from-b").contains("7");
    });
  }

  @Test
  void fieldMergeSameColumnTheNewerClockWinsEvenWhenItArrivesFirst() {
    long v1 = insert(ITEMS, cols("name", "apple"));
    Change older = upsert("dev-a", "items", "r1", v1, cols("name", "older"));
    Change newer = upsert("dev-b", "items", "r1", v1, cols("name", "newer"));
    push("dev-b", newer);
    PushResult late = push("dev-a", older);
    assertThat(late.results().get(0).status()).isEqualTo(ChangeResult.CONFLICT);
    assertThat(row()).containsEntry("name", "newer");
    ConflictRecord c = store().conflicts(0, 10).get(0);
    assertThat(c.outcome()).isEqualTo("stored");
    assertThat(c.stored()).contains("newer");
    assertThat(c.incoming()).contains("older");
    assertThat(c.result()).contains("newer");
  }

  @Test
  void fieldMergeSameColumnTheNewerClockWinsWhenItArrivesLast() {
    long v1 = insert(ITEMS, cols("name", "apple"));
    Change older = upsert("dev-a", "items", "r1", v1, cols("name", "older"));
    Change newer = upsert("dev-b", "items", "r1", v1, cols("name", "newer"));
    push("dev-a", older);
    assertThat(push("dev-b", newer).results().get(0).status()).isEqualTo(ChangeResult.CONFLICT);
    assertThat(row()).containsEntry("name", "newer");
    assertThat(store().conflicts(0, 10)).singleElement().satisfies(c -> assertThat(c.outcome()).isEqualTo("incoming"));
  }

  @Test
  void lastWriteWinsTheWholeNewerRowWinsWhateverThePushOrder() {
    long v1 = insert(LWW, cols("name", "apple", "qty", 1L, "price", 1.0));
    Change older = upsert("dev-a", "items", "r1", v1, cols("name", "a-name", "qty", 2L, "price", 2.0));
    Change newer = upsert("dev-b", "items", "r1", v1, cols("name", "b-name", "qty", 3L, "price", 3.0));
    push(store(), "dev-b", List.of(LWW), newer);
    PushResult late = push(store(), "dev-a", List.of(LWW), older);
    assertThat(late.results().get(0).status()).isEqualTo(ChangeResult.CONFLICT);
    assertThat(row()).containsEntry("name", "b-name").containsEntry("qty", 3L).containsEntry("price", 3.0);
    assertThat(store().conflicts(0, 10)).singleElement().satisfies(c -> {
      assertThat(c.policy()).isEqualTo("last-write-wins");
      assertThat(c.outcome()).isEqualTo("stored");
    });
  }

  @Test
  void lastWriteWinsAnOlderPartialRowDoesNotMixIntoTheNewerOne() {
    long v1 = insert(LWW, cols("name", "apple", "qty", 1L));
    Change older = upsert("dev-a", "items", "r1", v1, cols("name", "a-name", "qty", 2L, "price", 9.5));
    Change newer = upsert("dev-b", "items", "r1", v1, cols("name", "b-name", "qty", 3L));
    push(store(), "dev-a", List.of(LWW), older);
    push(store(), "dev-b", List.of(LWW), newer);
    assertThat(row()).containsEntry("name", "b-name").containsEntry("qty", 3L);
  }

  @Test
  void aDeleteAndAConcurrentNewerUpdateTheUpdateWins() {
    long v1 = insert(ITEMS, cols("name", "apple", "qty", 1L));
    Change del = delete("dev-a", "items", "r1", v1);
    Change upd = upsert("dev-b", "items", "r1", v1, cols("qty", 2L));
    push("dev-b", upd);
    assertThat(push("dev-a", del).results().get(0).status()).isEqualTo(ChangeResult.CONFLICT);
    assertThat(row()).containsEntry("name", "apple").containsEntry("qty", 2L);
    assertThat(store().conflicts(0, 10)).hasSize(1);
  }

  @Test
  void aNewerDeleteBeatsAnOlderConcurrentUpdateArrivingLater() {
    long v1 = insert(ITEMS, cols("name", "apple", "qty", 1L));
    Change upd = upsert("dev-b", "items", "r1", v1, cols("qty", 2L));
    Change del = delete("dev-a", "items", "r1", v1);
    push("dev-a", del);
    assertThat(push("dev-b", upd).results().get(0).status()).isEqualTo(ChangeResult.CONFLICT);
    assertThat(pullAll(null, "observer").row("items", "r1").deleted()).isTrue();
    assertThat(backendQuery(ID, "SELECT count(*) FROM items")).containsExactly(List.of(0L));
    ConflictRecord c = store().conflicts(0, 10).get(0);
    assertThat(c.stored()).isNull();
    assertThat(c.result()).isNull();
  }

  @Test
  void aChangeOnTheCurrentBaseIsNoConflict() {
    long v1 = insert(ITEMS, cols("name", "apple"));
    PushResult r = push("dev-b", upsert("dev-b", "items", "r1", v1, cols("name", "pear")));
    assertThat(r.results().get(0).status()).isEqualTo(ChangeResult.APPLIED);
    assertThat(store().conflicts(0, 10)).isEmpty();
  }

  @Test
  void aClockBeyondTheMaximumDriftIsRestampedAndLosesToALaterWrite() {
    AtomicLong now = new AtomicLong(1_800_000_000_000L);
    try (Storage skewed = factory().open(dir.resolve("skewed"), now::get, 60_000)) {
      DatasetStore s = skewed.openOrCreate(ID);
      // Six hours fast: far beyond the one-minute drift allowed here.
      PushResult fast = push(s, "fast", List.of(ITEMS), at("fast", "from the future", new Hlc(now.get() + 6 * 3_600_000L, 0, "fast"), 0));
      assertThat(fast.results().get(0).status()).isEqualTo(ChangeResult.MERGED);
      PullPage page = s.pull(null, 100, "observer");
      assertThat(Hlc.parse(page.changes().get(0).hlc()).millis()).as("restamped with the server's clock").isLessThanOrEqualTo(now.get());
      // Ten seconds later an honest device writes the same column: it wins.
      now.addAndGet(10_000);
      long base = page.changes().get(0).version();
      push(s, "honest", List.of(ITEMS), at("honest", "from now", new Hlc(now.get(), 0, "honest"), base));
      PullPage after = s.pull(null, 100, "observer");
      assertThat(after.changes().get(0).cols()).containsEntry("name", "from now");
      // A clock within the drift is taken as it is.
      Hlc slightlyAhead = new Hlc(now.get() + 30_000, 0, "near");
      PushResult near = push(s, "near", List.of(ITEMS), at("near", "slightly ahead", slightlyAhead, after.changes().get(0).version()));
      assertThat(near.results().get(0).status()).isEqualTo(ChangeResult.APPLIED);
      assertThat(s.pull(null, 100, "observer").changes().get(0).hlc()).isEqualTo(slightlyAhead.toString());
    }
  }

  private static Change at(String device, String name, Hlc hlc, long base) {
    return new Change("items", List.of("k"), false, Map.of("name", name), hlc.toString(), null, base, 0);
  }
}
