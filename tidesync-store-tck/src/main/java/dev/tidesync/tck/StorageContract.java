package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.ServerState;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The storage as a whole: datasets scoped by tenant, created, listed and dropped; the data and the
 * server-wide state (signing key, revocations) surviving a restart.
 */
public abstract class StorageContract extends ContractSupport {
  private static final DatasetId A = new DatasetId("tenant-a", "field");
  private static final DatasetId B = new DatasetId("tenant-b", "field");

  private void insert(DatasetId id, String row) {
    push(storage.openOrCreate(id), "dev-1", List.of(ITEMS), upsert("dev-1", "items", row, 0, cols("name", row)));
  }

  @Test
  void aFreshStorageIsEmpty() {
    assertThat(storage.datasets()).isEmpty();
    assertThat(storage.datasets("default")).isEmpty();
    assertThat(storage.find(ID)).isEmpty();
    assertThat(storage.drop(ID)).isFalse();
  }

  @Test
  void openOrCreateCreatesAnEmptyDatasetThatFindAndDatasetsThenSee() {
    DatasetStore s = storage.openOrCreate(ID);
    assertThat(s.name()).isEqualTo("ds");
    assertThat(s.schema()).isEmpty();
    assertThat(storage.find(ID)).isPresent();
    assertThat(storage.datasets()).containsExactly(ID);
    assertThat(storage.openOrCreate(ID).schema()).isEmpty();
  }

  @Test
  void theSameNameInTwoTenantsIsTwoDatasets() {
    insert(A, "only-in-a");
    insert(B, "only-in-b");
    assertThat(pullAll(storage.find(A).orElseThrow(), null, 100, "dev-2").changes()).extracting(c -> c.pk().get(0))
        .containsExactly("only-in-a");
    assertThat(pullAll(storage.find(B).orElseThrow(), null, 100, "dev-2").changes()).extracting(c -> c.pk().get(0))
        .containsExactly("only-in-b");
    assertThat(backendQuery(A, "SELECT id FROM items")).containsExactly(List.of("only-in-a"));
    assertThat(storage.find(new DatasetId("tenant-c", "field"))).isEmpty();
    assertThat(storage.find(DatasetId.of("field"))).isEmpty();
  }

  @Test
  void datasetsAreListedByTenantThenNameAndPerTenant() {
    DatasetId bx = new DatasetId("b", "x");
    DatasetId ay = new DatasetId("a", "y");
    DatasetId ax = new DatasetId("a", "x");
    for (DatasetId id : List.of(bx, ay, ax)) {
      storage.openOrCreate(id);
    }
    assertThat(storage.datasets()).containsExactly(ax, ay, bx);
    assertThat(storage.datasets("a")).containsExactly(ax, ay);
    assertThat(storage.datasets("b")).containsExactly(bx);
    assertThat(storage.datasets("c")).isEmpty();
  }

  @Test
  void dropDeletesOneDatasetAndItsDataOnly() {
    insert(A, "a1");
    insert(B, "b1");
    assertThat(storage.drop(A)).isTrue();
    assertThat(storage.find(A)).isEmpty();
    assertThat(storage.datasets()).containsExactly(B);
    assertThat(storage.drop(A)).isFalse();
    assertThat(pullAll(storage.find(B).orElseThrow(), null, 100, "dev-2").changes()).hasSize(1);
    DatasetStore again = storage.openOrCreate(A);
    assertThat(again.schema()).isEmpty();
    assertThat(again.pull(null, 100, "dev-2").changes()).isEmpty();
    assertThat(again.status().version()).isZero();
  }

  @Test
  void dataRowsBatchesAndConflictsSurviveARestart() {
    PushRequest req = request("dev-1", "batch-1", List.of(ITEMS), List.of(upsert("dev-1", "items", "r1", 0, cols("name", "kept"))));
    PushResult first = store().push(req);
    push("dev-2", upsert("dev-2", "items", "r1", 0, cols("qty", 5L)));
    String cursor = pullAll(null, "dev-3").cursor();
    storage.close();
    storage = factory().open(dir.resolve("storage"));
    assertThat(storage.datasets()).containsExactly(ID);
    DatasetStore s = storage.find(ID).orElseThrow();
    assertThat(s.schema()).extracting(t -> t.name()).containsExactly("items");
    PushResult replay = s.push(req);
    assertThat(replay.replayed()).isTrue();
    assertThat(replay.results()).isEqualTo(first.results());
    assertThat(s.conflicts(0, 10)).hasSize(1);
    assertThat(s.pull(cursor, 100, "dev-3").changes()).isEmpty();
    assertThat(pullAll(s, null, 100, "dev-3").row("items", "r1").cols()).containsEntry("name", "kept").containsEntry("qty", 5L);
    push("dev-1", upsert("dev-1", "items", "r2", 0, cols("name", "after restart")));
    assertThat(pullAll(s, cursor, 100, "dev-3").changes()).extracting(c -> c.pk().get(0)).containsExactly("r2");
  }

  @Test
  void theSigningKeyIsTheFirstGeneratedOneEvenWhenManyThreadsRaceForIt() throws Exception {
    int threads = 8;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch go = new CountDownLatch(1);
    AtomicInteger generated = new AtomicInteger();
    List<Future<String>> got = new ArrayList<>();
    try {
      for (int i = 0; i < threads; i++) {
        int n = i;
        Callable<String> call = () -> {
          go.await();
          return storage.state().signingKey(() -> {
            generated.incrementAndGet();
            return "key-" + n;
          });
        };
        got.add(pool.submit(call));
      }
      go.countDown();
      Set<String> keys = new HashSet<>();
      for (Future<String> f : got) {
        keys.add(f.get(60, TimeUnit.SECONDS));
      }
      assertThat(keys).hasSize(1);
      String key = keys.iterator().next();
      assertThat(key).startsWith("key-");
      assertThat(generated.get()).isPositive();
      assertThat(storage.state().signingKey(() -> "later")).isEqualTo(key);
      storage.close();
      storage = factory().open(dir.resolve("storage"));
      assertThat(storage.state().signingKey(() -> "after restart")).isEqualTo(key);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void twoStoragesOnTheSameDataShareOneSigningKey() {
    String key = storage.state().signingKey(() -> "first");
    try (Storage second = factory().open(dir.resolve("storage"))) {
      assertThat(second.state().signingKey(() -> "second")).isEqualTo(key);
      second.state().revokeDevice("t", "d", 42);
      assertThat(storage.state().revokedAt("t", "d")).hasValue(42);
    }
  }

  @Test
  void revocationsArePerTenantAndDeviceAndNeverMoveBackInTime() {
    ServerState state = storage.state();
    assertThat(state.revokedAt("tenant-a", "dev-1")).isEqualTo(OptionalLong.empty());
    state.revokeDevice("tenant-a", "dev-1", 1_000);
    assertThat(state.revokedAt("tenant-a", "dev-1")).hasValue(1_000);
    assertThat(state.revokedAt("tenant-b", "dev-1")).isEmpty();
    assertThat(state.revokedAt("tenant-a", "dev-2")).isEmpty();
    state.revokeDevice("tenant-a", "dev-1", 2_000);
    assertThat(state.revokedAt("tenant-a", "dev-1")).hasValue(2_000);
    // An older revocation arriving late must not let tokens issued before the newer one back in.
    state.revokeDevice("tenant-a", "dev-1", 1_500);
    assertThat(state.revokedAt("tenant-a", "dev-1")).hasValue(2_000);
    storage.close();
    storage = factory().open(dir.resolve("storage"));
    assertThat(storage.state().revokedAt("tenant-a", "dev-1")).hasValue(2_000);
  }
}
