package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.core.DatasetId;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Pulling: a bootstrap (no cursor) streams the full state, tombstones included; a cursor then
 * yields exactly the rows changed after it, in version order, in pages, never a device's own
 * unmodified rows. Cursors are opaque, and one the dataset did not make is refused.
 */
public abstract class PullContract extends ContractSupport {
  private List<Long> insertRows(int n) {
    List<Change> changes = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      changes.add(upsert("dev-a", "items", String.format("i%03d", i), 0, cols("qty", (long) i)));
    }
    return push("dev-a", changes.toArray(Change[]::new)).results().stream().map(ChangeResult::version).toList();
  }

  private static void assertVersionsAscend(List<Change> changes) {
    for (int i = 1; i < changes.size(); i++) {
      assertThat(changes.get(i).version()).as("version order").isGreaterThan(changes.get(i - 1).version());
    }
  }

  @Test
  void aBootstrapComesInPagesOfAtMostTheLimitAndEndsWithoutMore() {
    insertRows(25);
    Pulled all = pullAll(store(), null, 10, "dev-b");
    assertThat(all.pages()).hasSize(3);
    assertThat(all.pages()).extracting(PullPage::hasMore).containsExactly(true, true, false);
    assertThat(all.pages()).allSatisfy(p -> {
      assertThat(p.bootstrap()).isTrue();
      assertThat(p.changes()).hasSizeLessThanOrEqualTo(10);
      assertThat(p.schema()).extracting(t -> t.name()).containsExactly("items");
    });
    assertThat(all.changes()).hasSize(25);
    assertThat(all.latest()).hasSize(25);
    assertVersionsAscend(all.changes());
  }

  @Test
  void aPageOfLargeRowsEndsAtItsByteBudgetAndTheNextPagesGoOnWithoutALossOrARepeat() {
    // 20 rows of 1 MiB: a page of up to 1000 rows would be 20 MiB in memory on both sides.
    java.util.Random r = new java.util.Random(7);
    int mib = 1 << 20;
    for (int i = 0; i < 20; i++) {
      byte[] img = new byte[mib];
      r.nextBytes(img);
      push("dev-a", upsert("dev-a", "items", String.format("big%02d", i), 0, cols("img", dev.tidesync.protocol.Bytes.of(img))));
    }
    Pulled all = pullAll(store(), null, 1000, "dev-b");
    assertThat(all.pages().size()).isBetween(3, 20);
    for (PullPage p : all.pages()) {
      long bytes = p.changes().stream().mapToLong(dev.tidesync.core.internal.Sizes::approx).sum();
      // A page stops once it reaches the budget: under it, plus the one row that crossed it.
      assertThat(bytes).isLessThan(dev.tidesync.core.internal.Sizes.PAGE_BYTES + 2L * mib);
    }
    assertThat(all.pages()).extracting(PullPage::hasMore).last().isEqualTo(false);
    assertThat(all.changes()).hasSize(20);
    assertThat(all.latest()).hasSize(20);
    assertVersionsAscend(all.changes());
    // Deltas page the same way: every row changed again arrives once.
    for (int i = 0; i < 20; i += 2) {
      byte[] img = new byte[mib];
      r.nextBytes(img);
      push("dev-a", upsert("dev-a", "items", String.format("big%02d", i), 0, cols("img", dev.tidesync.protocol.Bytes.of(img), "qty", 1L)));
    }
    Pulled delta = pullAll(store(), all.cursor(), 1000, "dev-b");
    assertThat(delta.pages().size()).isGreaterThan(1);
    assertThat(delta.changes()).hasSize(10).allSatisfy(c -> assertThat(c.cols()).containsEntry("qty", 1L));
    assertVersionsAscend(delta.changes());
  }

  /**
   * 300 small rows, then 120 rows of 256 KiB (30 MiB). Slices of values grow while rows are
   * small: the slice after 256 small rows would read every large row at once, unless reading
   * stops at the page's room. Keys: TEXT (read in bulk on both stores), NUMERIC (read key by key
   * on PostgreSQL), and TEXT whose order is the reverse of the rows' versions (a bulk read in key
   * order would fill the room with rows the page reaches last).
   */
  @ParameterizedTest
  @ValueSource(strings = {"text", "numeric", "text, keys descending"})
  void largeRowsAfterManySmallOnesAreNotAllReadAtOnceForOnePage(String keys) {
    boolean numeric = keys.equals("numeric");
    boolean descending = keys.endsWith("descending");
    TableSchema pics = table("pics", List.of("id"), col("id", numeric ? "NUMERIC" : "TEXT"), col("qty", "INTEGER"), col("img", "BLOB"));
    java.util.function.IntFunction<Object> key = i -> numeric ? (Object) (long) (descending ? 1_000 - i : i)
        : String.format("k%04d", descending ? 1_000 - i : i);
    push(store(), "dev-a", List.of(pics), java.util.stream.IntStream.range(0, 300)
        .mapToObj(i -> upsert("dev-a", "pics", key.apply(i), 0, cols("qty", (long) i))).toArray(Change[]::new));
    java.util.Random r = new java.util.Random(11);
    int kib256 = 256 * 1024;
    for (int batch = 0; batch < 6; batch++) {
      Change[] big = new Change[20];
      for (int i = 0; i < big.length; i++) {
        byte[] img = new byte[kib256];
        r.nextBytes(img);
        big[i] = upsert("dev-a", "pics", key.apply(300 + batch * 20 + i), 0, cols("img", dev.tidesync.protocol.Bytes.of(img)));
      }
      push(store(), "dev-a", List.of(pics), big);
    }
    com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    long before = mx.getCurrentThreadAllocatedBytes();
    PullPage first = store().pull(null, 1000, "dev-b");
    long allocated = mx.getCurrentThreadAllocatedBytes() - before;
    long bytes = first.changes().stream().mapToLong(dev.tidesync.core.internal.Sizes::approx).sum();
    assertThat(first.hasMore()).isTrue();
    assertThat(bytes).isLessThan(dev.tidesync.core.internal.Sizes.PAGE_BYTES + 2L * kib256);
    // About the page's 8 MiB read, twice or so in copies: 14-15 MB allocated on SQLite, 15-21 MB
    // on PostgreSQL. Reading all 30 MiB at once (before the fix) allocated over 50 MB on SQLite and
    // 63-68 MB on PostgreSQL (a bulk read in key order, with keys descending, 27 MB on SQLite).
    assertThat(allocated).as("bytes allocated to build the first page").isLessThan(30L << 20);
    Pulled all = pullAll(store(), null, 1000, "dev-b");
    assertThat(all.changes()).hasSize(420);
    assertThat(all.latest()).hasSize(420);
    assertVersionsAscend(all.changes());
  }

  @Test
  void afterABootstrapTheCursorGivesDeltasOnlyOfRowsChangedSinceAndNothingWhenNothingChanged() {
    List<Long> versions = insertRows(40);
    Pulled first = pullAll(store(), null, 7, "dev-b");
    PullPage idle = store().pull(first.cursor(), 7, "dev-b");
    assertThat(idle.changes()).isEmpty();
    assertThat(idle.hasMore()).isFalse();
    assertThat(idle.bootstrap()).isFalse();
    push("dev-a", upsert("dev-a", "items", "i005", versions.get(5), cols("qty", 500L)),
        delete("dev-a", "items", "i017", versions.get(17)));
    Pulled delta = pullAll(store(), idle.cursor(), 7, "dev-b");
    assertThat(delta.pages()).singleElement().satisfies(p -> assertThat(p.bootstrap()).isFalse());
    assertThat(delta.changes()).hasSize(2);
    assertThat(delta.row("items", "i005").cols()).containsEntry("qty", 500L).containsEntry("name", null);
    assertThat(delta.row("items", "i017").deleted()).isTrue();
    assertThat(delta.row("items", "i017").version()).isGreaterThan(first.changes().get(first.changes().size() - 1).version());
  }

  @Test
  void aBootstrapCarriesTombstonesWithTheirKeys() {
    List<Long> v = insertRows(3);
    push("dev-a", delete("dev-a", "items", "i001", v.get(1)));
    Pulled all = pullAll(null, "dev-b");
    assertThat(all.changes()).hasSize(3);
    Change tomb = all.row("items", "i001");
    assertThat(tomb.deleted()).isTrue();
    assertThat(tomb.pk()).containsExactly("i001");
    assertThat(tomb.cols()).isEmpty();
    assertThat(tomb.hlc()).isNotBlank();
    assertThat(all.row("items", "i000").deleted()).isFalse();
  }

  @Test
  void everyPulledChangeCarriesItsClockAndWholeRow() {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("name", "apple")));
    Change c = pullAll(null, "dev-b").row("items", "i1");
    assertThat(c.cols()).containsOnlyKeys("name", "qty", "price", "img");
    assertThat(c.hlc()).endsWith(".dev-a");
    assertThat(c.version()).isPositive();
  }

  @Test
  void aPulledRowListsTheClockOfEachColumnOlderThanItsNewestWrite() {
    Change insert = upsert("dev-a", "items", "i1", 0, cols("name", "apple", "qty", 1L));
    Change other = upsert("dev-a", "items", "i2", 0, cols("name", "pear", "qty", 2L, "price", 1.5, "img", null));
    long v1 = push("dev-a", insert, other).results().get(0).version();
    // A fresh row: every column it has carries the change's clock, so none is listed.
    Pulled first = pullAll(null, "dev-c");
    assertThat(first.row("items", "i1").clocks()).isEmpty();
    assertThat(first.row("items", "i2").clocks()).isEmpty();
    Change update = upsert("dev-b", "items", "i1", v1, cols("name", "apple pie"));
    push("dev-b", update);
    Change pulled = pullAll(first.cursor(), "dev-c").row("items", "i1");
    // The column dev-b wrote carries the change's clock; the one only dev-a wrote keeps dev-a's;
    // columns never written have no clock to list.
    assertThat(pulled.hlc()).isEqualTo(update.hlc());
    assertThat(pulled.clocks()).containsExactly(Map.entry("qty", insert.hlc()));
    assertThat(pulled.clockOf("name")).isEqualTo(update.hlc());
  }

  @Test
  void aRowChangedDuringABootstrapAppearsAgainLaterWithItsNewState() {
    List<Long> v = insertRows(10);
    PullPage p1 = store().pull(null, 4, "dev-b");
    assertThat(p1.changes()).extracting(c -> c.pk().get(0)).contains("i000");
    push("dev-a", upsert("dev-a", "items", "i000", v.get(0), cols("qty", 1000L)));
    Pulled rest = pullAll(store(), p1.cursor(), 4, "dev-b");
    assertThat(rest.row("items", "i000").cols()).containsEntry("qty", 1000L);
    List<Object> seen = new ArrayList<>();
    p1.changes().forEach(c -> seen.add(c.pk().get(0)));
    rest.changes().forEach(c -> seen.add(c.pk().get(0)));
    assertThat(seen).containsAll(List.of("i000", "i001", "i002", "i003", "i004", "i005", "i006", "i007", "i008", "i009"));
  }

  @Test
  void aDevicesOwnUnmodifiedRowsAreNotPulledBackButRowsOthersChangedAre() {
    PushResult mine = push("dev-a", upsert("dev-a", "items", "a1", 0, cols("qty", 1L)), upsert("dev-a", "items", "a2", 0, cols("qty", 2L)));
    push("dev-b", upsert("dev-b", "items", "b1", 0, cols("qty", 3L)));
    Pulled a = pullAll(null, "dev-a");
    assertThat(a.changes()).extracting(c -> c.pk().get(0)).containsExactly("b1");
    // dev-b edits one of dev-a's rows: dev-a must hear of it.
    push("dev-b", upsert("dev-b", "items", "a2", mine.results().get(1).version(), cols("qty", 20L)));
    Pulled delta = pullAll(a.cursor(), "dev-a");
    assertThat(delta.changes()).extracting(c -> c.pk().get(0)).containsExactly("a2");
    assertThat(delta.row("items", "a2").cols()).containsEntry("qty", 20L);
    // Every other device gets all rows.
    assertThat(pullAll(null, "dev-c").changes()).hasSize(3);
  }

  @Test
  void aRowTheServerMergedIsPulledBackByTheDeviceThatPushedIt() {
    long v1 = push("dev-a", upsert("dev-a", "items", "r1", 0, cols("name", "x", "qty", 1L))).results().get(0).version();
    String cursor = pullAll(null, "dev-a").cursor();
    push("dev-b", upsert("dev-b", "items", "r1", v1, cols("name", "from-b")));
    // dev-a's stale update conflicts; the merged row differs from what dev-a holds.
    push("dev-a", upsert("dev-a", "items", "r1", v1, cols("qty", 2L)));
    Change back = pullAll(cursor, "dev-a").row("items", "r1");
    assertThat(back).isNotNull();
    assertThat(back.cols()).containsEntry("name", "from-b").containsEntry("qty", 2L);
  }

  @ParameterizedTest
  @ValueSource(strings = {"garbage", "c1", "c1.x", "c1..5", "c1.abc.-1", "c1.abc.99999999999999999999", "b2.abc.1", "🌊", "c1.abc.1.2"})
  void aMalformedCursorIsRefused(String cursor) {
    insertRows(2);
    assertThatThrownBy(() -> store().pull(cursor, 10, "dev-b")).isInstanceOfSatisfying(ProtocolException.class,
        e -> assertThat(e.status()).isBetween(400, 499));
  }

  @Test
  void aCursorOfAnotherDatasetIsRefused() {
    insertRows(2);
    DatasetId other = DatasetId.of("other");
    push(storage.openOrCreate(other), "dev-a", List.of(ITEMS), upsert("dev-a", "items", "x", 0, cols("qty", 1L)));
    String foreign = pullAll(storage.openOrCreate(other), null, 10, "dev-b").cursor();
    assertThatThrownBy(() -> store().pull(foreign, 10, "dev-b")).isInstanceOfSatisfying(ProtocolException.class,
        e -> assertThat(e.status()).isBetween(400, 499));
  }

  @Test
  void aCursorOfADroppedAndRecreatedDatasetIsRefused() {
    insertRows(3);
    String cursor = pullAll(null, "dev-b").cursor();
    assertThat(storage.drop(ID)).isTrue();
    insertRows(3);
    assertThatThrownBy(() -> store().pull(cursor, 10, "dev-b")).isInstanceOfSatisfying(ProtocolException.class, e -> {
      assertThat(e.status()).isEqualTo(409);
      assertThat(e.code()).isEqualTo("cursor_invalid");
    });
  }
}
