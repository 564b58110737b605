package dev.tidesync.it;

import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tidesync.client.SyncListener;
import dev.tidesync.client.SyncReport;
import dev.tidesync.client.SyncStatus;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.tck.StorageFactory;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The device engine's background mode, status and failure reporting, over real HTTP. */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class BackgroundSyncTest {
  @Parameter StorageFactory store;
  @TempDir Path dir;

  @Test
  void backgroundModeSyncsSoonAfterALocalCommitAndStopsGracefully() throws Exception {
    Path a = dir.resolve("a.db");
    Path b = dir.resolve("b.db");
    sql(a, "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)");
    AtomicInteger syncs = new AtomicInteger();
    Storage storage = store.open(dir.resolve("data"));
    try (TidesyncServer server = TidesyncServer.start(storage, ServerConfig.defaults().withInsecure(true).withPort(0), true);
        TidesyncClient ca = TidesyncClient.create(c -> c.database(a).server(server.url()).dataset("notes").deviceId("a")
            .interval(Duration.ofMinutes(10)).debounce(Duration.ofMillis(100)).listener(new SyncListener() {
              @Override
              public void syncFinished(SyncReport report) {
                syncs.incrementAndGet();
              }
            }));
        TidesyncClient cb = TidesyncClient.create(c -> c.database(b).server(server.url()).dataset("notes").deviceId("b")
            .interval(Duration.ofMillis(200)))) {
      ca.start();
      cb.start();
      await().atMost(Duration.ofSeconds(10)).until(() -> syncs.get() >= 1);
      // A commit from the app's own connection wakes the loop (interval is 10 minutes).
      sql(a, "INSERT INTO notes VALUES ('n1', 'written offline')");
      await().atMost(Duration.ofSeconds(10)).until(() -> storage.find(DatasetId.of("notes"))
          .map(s -> s.status().rows().getOrDefault("notes", 0L)).orElse(0L) == 1);
      await().atMost(Duration.ofSeconds(10)).until(() -> count(b, "SELECT count(*) FROM notes") == 1);
      SyncStatus st = ca.status();
      assertThat(st.background()).isTrue();
      assertThat(st.lastSuccess()).isNotNull();
      assertThat(st.pendingTotal()).isZero();
      assertThat(st.cursor()).isNotNull();
      long start = System.nanoTime();
      ca.stop(Duration.ofSeconds(10));
      cb.stop(Duration.ofSeconds(10));
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
      assertThat(ca.status().background()).isFalse();
      int before = syncs.get();
      sql(a, "INSERT INTO notes VALUES ('n2', 'after stop')");
      Thread.sleep(500);
      assertThat(syncs.get()).as("no sync after stop").isEqualTo(before);
      assertThat(ca.status().pending()).containsEntry("notes", 1L);
    }
    // The clients' threads (background loop, push sender) are gone once they are closed. Only
    // theirs: the server's storage has threads of its own (a PostgreSQL pool's closer, say).
    java.util.Set<String> clientThreads = java.util.Set.of("tidesync-a", "tidesync-b", "tidesync-push-a", "tidesync-push-b");
    assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> clientThreads.contains(t.getName()) && t.isAlive());
  }

  @Test
  void statusReportsPendingChangesAndTheLastErrorWhenTheServerIsDown() throws Exception {
    Path a = dir.resolve("a.db");
    sql(a, "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)", "INSERT INTO notes VALUES ('n1', 'x')", "INSERT INTO notes VALUES ('n2', 'y')");
    try (TidesyncClient ca = TidesyncClient.create(c -> c.database(a).server("http://127.0.0.1:9").dataset("notes").deviceId("a"))) {
      try {
        ca.flush();
      } catch (dev.tidesync.protocol.TidesyncException e) {
        assertThat(e.retriable()).isTrue();
      }
      SyncStatus st = ca.status();
      assertThat(st.pending()).containsEntry("notes", 2L);
      assertThat(st.lastError()).contains("127.0.0.1:9");
      assertThat(st.lastSuccess()).isNull();
    }
  }
}
