package dev.tidesync.pg;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.TidesyncException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The gap-free cursor under load: protocol pushers and backend SQL writers (slow transactions,
 * rollbacks, updates and deletes of shared rows) race while a reader pulls with its cursor the
 * whole time. After the writers stop and the reader catches up, what the reader assembled from
 * its pulls must equal the table row for row: a change skipped by the cursor would leave a row
 * missing or stale. Seeded: {@code -Dtidesync.seed=S} replays, {@code -Dtidesync.gapfree.txs=N}
 * sets the number of writing transactions (default 2000).
 */
class GapFreeCursorTest {
  private static final int KEYS = 60;

  @Test
  void aReaderPullingDuringConcurrentWritesEndsWithEveryCommittedChange() throws Exception {
    long seed = Long.getLong("tidesync.seed", System.nanoTime());
    int total = Integer.getInteger("tidesync.gapfree.txs", 2000);
    try (PgTestDatabase db = PgTestDatabase.create(); PgStorage storage = PgStorage.open(db.url())) {
      DatasetStore store = storage.openOrCreate(DatasetId.of("d"));
      store.push(new PushRequest("d", "setup", "schema", List.of(PgStoreTest.ITEMS), List.of()));
      String schema = storage.schemaOf(DatasetId.of("d")).orElseThrow();
      AtomicInteger left = new AtomicInteger(total);
      AtomicInteger committed = new AtomicInteger();
      AtomicInteger rolledBack = new AtomicInteger();
      AtomicInteger retries = new AtomicInteger();
      List<Long> pullNanos = java.util.Collections.synchronizedList(new ArrayList<>());
      long started = System.nanoTime();
      AtomicBoolean writing = new AtomicBoolean(true);
      ExecutorService pool = Executors.newFixedThreadPool(5);
      try {
        List<Future<?>> writers = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
          Random rnd = new Random(seed * 31 + w);
          String device = "pusher-" + w;
          writers.add(pool.submit(() -> {
            int n = 0;
            while (left.getAndDecrement() > 0) {
              List<Change> changes = new ArrayList<>();
              for (int k = 0, m = 1 + rnd.nextInt(4); k < m; k++) {
                String id = "k" + rnd.nextInt(KEYS);
                if (rnd.nextInt(5) == 0) {
                  changes.add(new Change("items", List.of(id), true, Map.of(), hlc(), null, Long.MAX_VALUE / 2, 0));
                } else {
                  Map<String, Object> cols = new LinkedHashMap<>();
                  cols.put("id", id);
                  cols.put("n", (long) rnd.nextInt(1000));
                  cols.put("t", device + "#" + n);
                  changes.add(new Change("items", List.of(id), false, cols, hlc(), null, Long.MAX_VALUE / 2, 0));
                }
              }
              PushRequest req = new PushRequest("d", device, device + "-" + (n++), List.of(), changes);
              for (int attempt = 0; ; attempt++) {
                try {
                  var r = store.push(req);
                  assertThat(r.results()).noneMatch(x -> x.status().equals(ChangeResult.REJECTED));
                  break;
                } catch (TidesyncException e) {
                  // A deadlock with a backend transaction (PostgreSQL aborts one of the two):
                  // retriable, and retried as a device would.
                  assertThat(e.retriable()).as(e.getMessage()).isTrue();
                  assertThat(attempt).isLessThan(20);
                  retries.incrementAndGet();
                }
              }
              committed.incrementAndGet();
            }
            return null;
          }));
        }
        for (int w = 0; w < 2; w++) {
          Random rnd = new Random(seed * 17 + w);
          writers.add(pool.submit(() -> {
            try (Connection c = db.connect()) {
              c.setAutoCommit(false);
              try (Statement st = c.createStatement()) {
                st.execute("SET search_path TO " + schema);
              }
              c.commit();
              while (left.getAndDecrement() > 0) {
                try {
                  // Keys in one order, as a careful backend writes them: fewer deadlocks, more interleavings.
                  java.util.SortedSet<String> ids = new java.util.TreeSet<>();
                  for (int k = 0, m = 1 + rnd.nextInt(3); k < m; k++) {
                    ids.add("k" + rnd.nextInt(KEYS));
                  }
                  for (String id : ids) {
                    int op = rnd.nextInt(6);
                    try (PreparedStatement ps = c.prepareStatement(op == 0 ? "DELETE FROM items WHERE id = ?"
                        : op == 1 ? "UPDATE items SET n = n + 1 WHERE id = ?"
                        : "INSERT INTO items (id, n, t) VALUES (?, ?, 'sql') ON CONFLICT (id) DO UPDATE SET n = excluded.n, t = 'sql'")) {
                      ps.setString(1, id);
                      if (op > 1) {
                        ps.setLong(2, rnd.nextInt(1000));
                      }
                      ps.executeUpdate();
                    }
                    if (rnd.nextInt(4) == 0) {
                      Thread.sleep(rnd.nextInt(5)); // a slow transaction: others commit past it
                    }
                  }
                  if (rnd.nextInt(5) == 0) {
                    c.rollback();
                    rolledBack.incrementAndGet();
                  } else {
                    c.commit();
                    committed.incrementAndGet();
                  }
                } catch (java.sql.SQLException e) {
                  c.rollback(); // a deadlock with another writer: PostgreSQL picked us
                  rolledBack.incrementAndGet();
                }
              }
            }
            return null;
          }));
        }
        Map<String, Map<String, Object>> seen = new HashMap<>();
        String[] cursor = {null};
        Future<Integer> reader = pool.submit(() -> {
          int pulls = 0;
          while (writing.get()) {
            long t0 = System.nanoTime();
            PullPage p = store.pull(cursor[0], 50, "reader");
            pullNanos.add(System.nanoTime() - t0);
            apply(p, seen);
            cursor[0] = p.cursor();
            pulls++;
          }
          return pulls;
        });
        for (Future<?> f : writers) {
          f.get(5, TimeUnit.MINUTES);
        }
        writing.set(false);
        int pulls = reader.get(1, TimeUnit.MINUTES);
        cursor[0] = drain(store, cursor[0], seen);

        Map<String, Map<String, Object>> actual = new TreeMap<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
            ResultSet rs = st.executeQuery("SELECT id, n, t FROM " + schema + ".items")) {
          while (rs.next()) {
            Map<String, Object> row = new HashMap<>();
            row.put("n", rs.getObject(2) == null ? null : rs.getLong(2));
            row.put("t", rs.getString(3));
            actual.put(rs.getString(1), row);
          }
        }
        List<Long> sorted = new ArrayList<>(pullNanos);
        java.util.Collections.sort(sorted);
        System.out.printf("gap-free: seed=%d, %d transactions committed, %d rolled back, %d pushes retried, %d pulls during %d ms of writes "
            + "(pull p50 %.1f ms, max %.1f ms)%n", seed, committed.get(), rolledBack.get(), retries.get(), pulls,
            (System.nanoTime() - started) / 1_000_000, sorted.get(sorted.size() / 2) / 1e6, sorted.get(sorted.size() - 1) / 1e6);
        assertThat(new TreeMap<>(seen)).as("what the reader pulled vs the table (seed %d)", seed).isEqualTo(actual);
        assertThat(pulls).as("the reader pulled while writers wrote (seed %d)", seed).isGreaterThan(1);
      } finally {
        pool.shutdownNow();
      }
    }
  }

  private static String hlc() {
    return String.format("%016d.%05d.dev", System.currentTimeMillis(), 0);
  }

  /** Pulls until no more pages, applying each change to {@code seen}; returns the new cursor. */
  private static String drain(DatasetStore store, String cursor, Map<String, Map<String, Object>> seen) {
    PullPage p;
    String c = cursor;
    do {
      p = store.pull(c, 50, "reader");
      apply(p, seen);
      c = p.cursor();
    } while (p.hasMore());
    return c;
  }

  private static void apply(PullPage p, Map<String, Map<String, Object>> seen) {
    {
      for (Change ch : p.changes()) {
        String id = (String) ch.pk().get(0);
        if (ch.deleted()) {
          seen.remove(id);
        } else {
          Map<String, Object> row = new HashMap<>();
          row.put("n", ch.cols().get("n"));
          row.put("t", ch.cols().get("t"));
          seen.put(id, row);
        }
      }
    }
  }
}
