package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.core.Storage;
import dev.tidesync.it.LocalTransport;
import dev.tidesync.protocol.PullPage;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A local write made while a pull is being applied is never lost: it is not overwritten by the
 * pulled change of the same row, it is pushed afterwards, and it loses only to a strictly newer
 * write by HLC.
 */
@Timeout(60)
class WriteDuringPullTest extends ReplicaTestSupport {
  // Own threads, not the common pool: on 2 cores its parallelism is 1, and a flush blocked on a
  // latch there would starve the app thread the test needs (seen on JDK 25).
  private final java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(4);

  private static final String ROW = "SELECT id, v, w FROM items";

  /** Holds the next pull, once armed, between fetching the page and handing it to the device. */
  static final class GatedTransport extends LocalTransport {
    private volatile CountDownLatch fetched;
    private volatile CountDownLatch release;

    GatedTransport(Storage storage) {
      super(storage);
    }

    void arm(CountDownLatch fetched, CountDownLatch release) {
      this.release = release;
      this.fetched = fetched;
    }

    @Override
    public PullPage pull(String dataset, String cursor, int limit, String device) {
      PullPage page = super.pull(dataset, cursor, limit, device);
      CountDownLatch f = fetched;
      CountDownLatch r = release;
      if (f != null) {
        fetched = null;
        f.countDown();
        try {
          if (!r.await(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("test gate was never released");
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException(e);
        }
      }
      return page;
    }
  }

  private GatedTransport gate;
  private TidesyncClient ca;
  private TidesyncClient cb;

  @BeforeEach
  void setUp() throws Exception {
    gate = new GatedTransport(cluster.storage);
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT, w TEXT)", "INSERT INTO items VALUES ('r1', 'base', 'base')");
    ca = cluster.device("a");
    cb = cluster.device("b", gate, c -> {});
    ca.flush();
    cb.flush();
    assertThat(rows(b, ROW)).containsExactly("r1|base|base");
    // A changes v and pushes; B's next pull carries that change
    Thread.sleep(5);
    sql(a, "UPDATE items SET v = 'from-a' WHERE id = 'r1'");
    assertThat(ca.flush().pushed()).isEqualTo(1);
    Thread.sleep(5);
  }

  /** Closes the cluster first, then stops the threads (a subclass's own @AfterEach would run first). */
  @Override
  @AfterEach
  void closeCluster() {
    try {
      super.closeCluster();
    } finally {
      threads.shutdownNow();
    }
  }

  private void settle() {
    for (int i = 0; i < 2; i++) {
      cb.flush();
      ca.flush();
    }
  }

  @Test
  void aWriteCommittedWhileThePulledPageIsInFlightIsNotOverwrittenAndReachesTheServer() throws Exception {
    CountDownLatch fetched = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    gate.arm(fetched, release);
    CompletableFuture<SyncReport> sync = CompletableFuture.supplyAsync(cb::flush, threads);
    assertThat(fetched.await(10, TimeUnit.SECONDS)).as("B's flush reached its pull").isTrue();

    // the app writes the same column of the same row while B holds A's change, not yet applied
    sql(b, "UPDATE items SET v = 'from-b' WHERE id = 'r1'");
    release.countDown();
    SyncReport r = sync.get(20, TimeUnit.SECONDS);
    assertThat(r.ok()).as(r.toString()).isTrue();
    assertThat(rows(b, ROW)).as("the local write survives the pull").containsExactly("r1|from-b|base");

    settle();
    // B's write is the newer one: it wins everywhere
    assertThat(cluster.serverRows(ROW)).containsExactly("r1|from-b|base");
    assertThat(rows(a, ROW)).containsExactly("r1|from-b|base");
    assertThat(rows(b, ROW)).containsExactly("r1|from-b|base");
    assertThat(cb.status().pendingTotal()).isZero();
    // the overwritten value of A is not dropped silently: the conflict log keeps both versions
    assertThat(cluster.dataset().conflicts(0, 10)).singleElement().satisfies(c -> {
      assertThat(c.table()).isEqualTo("items");
      assertThat(c.stored()).contains("from-a");
      assertThat(c.incoming()).contains("from-b");
    });
  }

  @Test
  void aWriteTransactionOpenWhenThePageIsAppliedIsNotLost() throws Exception {
    CountDownLatch fetched = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch written = new CountDownLatch(1);
    CountDownLatch commit = new CountDownLatch(1);
    gate.arm(fetched, release);
    CompletableFuture<SyncReport> sync = CompletableFuture.supplyAsync(cb::flush, threads);
    assertThat(fetched.await(10, TimeUnit.SECONDS)).as("B's flush reached its pull").isTrue();

    // an app transaction on another connection: begins, writes, waits, commits
    CompletableFuture<Void> app = CompletableFuture.runAsync(() -> {
      try (Connection c = Db.connect(b); Statement s = c.createStatement()) {
        s.execute("BEGIN IMMEDIATE");
        s.executeUpdate("UPDATE items SET w = 'from-b' WHERE id = 'r1'");
        s.executeUpdate("UPDATE items SET v = 'from-b' WHERE id = 'r1'");
        written.countDown();
        if (!commit.await(20, TimeUnit.SECONDS)) {
          throw new IllegalStateException("never told to commit");
        }
        s.execute("COMMIT");
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    }, threads);
    assertThat(written.await(10, TimeUnit.SECONDS)).isTrue();
    release.countDown(); // B now applies A's change of the same row; it must wait for the app's commit
    Thread.sleep(300);
    assertThat(sync).as("the apply cannot finish while the app holds the write lock").isNotDone();
    commit.countDown();
    app.get(20, TimeUnit.SECONDS);
    SyncReport r = sync.get(30, TimeUnit.SECONDS);
    assertThat(r.ok()).as(r.toString()).isTrue();
    assertThat(rows(b, ROW)).as("the local write survives the pull").containsExactly("r1|from-b|from-b");

    settle();
    assertThat(cluster.serverRows(ROW)).containsExactly("r1|from-b|from-b");
    assertThat(rows(a, ROW)).containsExactly("r1|from-b|from-b");
    assertThat(rows(b, ROW)).containsExactly("r1|from-b|from-b");
  }

  @Test
  void aWriteOfAnotherColumnDuringThePullIsMergedWithThePulledChange() throws Exception {
    CountDownLatch fetched = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    gate.arm(fetched, release);
    CompletableFuture<SyncReport> sync = CompletableFuture.supplyAsync(cb::flush, threads);
    assertThat(fetched.await(10, TimeUnit.SECONDS)).isTrue();
    sql(b, "UPDATE items SET w = 'from-b' WHERE id = 'r1'");
    release.countDown();
    assertThat(sync.get(20, TimeUnit.SECONDS).ok()).isTrue();

    settle();
    for (Path db : List.of(a, b)) {
      assertThat(rows(db, ROW)).as("in %s: both the pulled and the local edit", db.getFileName()).containsExactly("r1|from-a|from-b");
    }
    assertThat(cluster.serverRows(ROW)).as("on the server: both edits").containsExactly("r1|from-a|from-b");
  }
}
