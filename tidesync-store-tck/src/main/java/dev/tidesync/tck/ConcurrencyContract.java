package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetStore;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushResult;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Several writers (devices pushing, a backend writing SQL) and readers on one dataset at once:
 * nothing is lost, no version is handed out twice, and a reader following its cursor sees every
 * committed change: the last state of every row it pulled is the final state.
 */
public abstract class ConcurrencyContract extends ContractSupport {
  static final int PUSHERS = 4;
  static final int BATCHES = 15;
  static final int ROWS = 4;
  static final int BACKEND_ROWS = 30;

  @Test
  void concurrentPushesBackendWritesAndPullsLoseNothingAndThePulledStreamHasNoGap() throws Exception {
    DatasetStore s = store();
    push("setup", upsert("setup", "items", "hot", 0, cols("qty", 0L)));
    ExecutorService pool = Executors.newFixedThreadPool(PUSHERS + 3);
    CountDownLatch go = new CountDownLatch(1);
    AtomicBoolean writing = new AtomicBoolean(true);
    ConcurrentLinkedQueue<Long> versions = new ConcurrentLinkedQueue<>();
    try {
      List<Future<?>> writers = new ArrayList<>();
      for (int p = 0; p < PUSHERS; p++) {
        String device = "dev-" + p;
        writers.add(pool.submit(() -> {
          go.await();
          for (int b = 0; b < BATCHES; b++) {
            List<Change> changes = new ArrayList<>();
            for (int r = 0; r < ROWS; r++) {
              changes.add(upsert(device, "items", device + "-" + b + "-" + r, 0, cols("qty", (long) b, "name", device)));
            }
            // Every device also edits one shared row, always on a stale base: conflicts under load.
            changes.add(upsert(device, "items", "hot", 0, cols("name", device + "-" + b)));
            PushResult res = push(s, device, List.of(ITEMS), changes.toArray(Change[]::new));
            for (ChangeResult c : res.results()) {
              assertThat(c.status()).isNotEqualTo(ChangeResult.REJECTED);
              if (c.index() < ROWS) {
                versions.add(c.version());
              }
            }
          }
          return null;
        }));
      }
      writers.add(pool.submit(() -> {
        go.await();
        for (int i = 0; i < BACKEND_ROWS; i++) {
          backendSql(ID, "INSERT INTO items (id, name, qty) VALUES ('backend-" + i + "', 'backend', " + i + ")");
        }
        return null;
      }));
      List<Future<Map<String, Change>>> readers = new ArrayList<>();
      for (String reader : List.of("reader-1", "reader-2")) {
        readers.add(pool.submit(() -> follow(s, reader, go, writing)));
      }
      go.countDown();
      for (Future<?> f : writers) {
        f.get(5, TimeUnit.MINUTES);
      }
      writing.set(false);
      Map<String, Change> finalState = pullAll(s, null, 1000, "final").latest();
      int expected = PUSHERS * BATCHES * ROWS + BACKEND_ROWS + 1;
      assertThat(finalState).hasSize(expected);
      assertThat(s.status().rows()).containsEntry("items", (long) expected);
      assertThat(new HashSet<>(versions)).as("no version handed out twice").hasSize(versions.size());
      for (Future<Map<String, Change>> f : readers) {
        Map<String, Change> seen = f.get(5, TimeUnit.MINUTES);
        assertThat(seen.keySet()).isEqualTo(finalState.keySet());
        for (Map.Entry<String, Change> e : finalState.entrySet()) {
          assertThat(seen.get(e.getKey()).version()).as("last version of %s", e.getKey()).isEqualTo(e.getValue().version());
          assertThat(seen.get(e.getKey()).cols()).isEqualTo(e.getValue().cols());
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Pulls with small pages while the writers run, then once more after; every page's versions ascend past the cursor. */
  private static Map<String, Change> follow(DatasetStore s, String reader, CountDownLatch go, AtomicBoolean writing) throws Exception {
    go.await();
    Map<String, Change> seen = new HashMap<>();
    String cursor = null;
    long last = 0;
    boolean more = true;
    for (boolean finalRound = false; ; ) {
      PullPage p = s.pull(cursor, 7, reader);
      for (Change c : p.changes()) {
        assertThat(c.version()).as("%s: versions ascend across pages", reader).isGreaterThan(last);
        last = c.version();
        seen.put(c.table() + " " + c.pk(), c);
      }
      cursor = p.cursor();
      more = p.hasMore();
      if (!more) {
        if (finalRound) {
          return seen;
        }
        finalRound = !writing.get();
        if (!finalRound) {
          Thread.sleep(2);
        }
      }
    }
  }

  @Test
  void openOrCreateFromManyThreadsGivesOneDataset() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(8);
    CountDownLatch go = new CountDownLatch(1);
    try {
      List<Future<?>> all = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        String device = "dev-" + i;
        all.add(pool.submit(() -> {
          go.await();
          push(storage.openOrCreate(ID), device, List.of(ITEMS), upsert(device, "items", device, 0, cols("qty", 1L)));
          return null;
        }));
      }
      go.countDown();
      for (Future<?> f : all) {
        f.get(2, TimeUnit.MINUTES);
      }
      assertThat(storage.datasets()).containsExactly(ID);
      Set<Object> rows = new HashSet<>();
      pullAll(null, "reader").changes().forEach(c -> rows.add(c.pk().get(0)));
      assertThat(rows).hasSize(8);
    } finally {
      pool.shutdownNow();
    }
  }
}
