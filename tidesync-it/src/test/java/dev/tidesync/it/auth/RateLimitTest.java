package dev.tidesync.it.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.client.HttpTransport;
import dev.tidesync.client.RetryAfterException;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.it.replica.Db;
import dev.tidesync.server.RateLimit;
import dev.tidesync.server.Role;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.server.Tokens;
import dev.tidesync.sqlite.SqliteStorage;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Per-device and per-tenant rate limits: 429 with Retry-After, and the device client waits as told. */
class RateLimitTest {
  @TempDir Path dir;
  SqliteStorage storage;
  TidesyncServer server;
  Tokens tokens;
  Api api;

  void start(RateLimit device, RateLimit tenant) {
    storage = SqliteStorage.open(dir.resolve("data"));
    server = TidesyncServer.start(storage, ServerConfig.defaults().withPort(0).withDeviceLimit(device).withTenantLimit(tenant));
    tokens = Tokens.of(storage);
    api = new Api(server.url());
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.close();
      storage.close();
    }
  }

  String token(String tenant, String device) {
    return tokens.create(tenant, List.of("*"), device, Role.ADMIN, Duration.ofHours(1));
  }

  /** Requests until the first 429 (at most {@code max}); returns how many went through. */
  int untilLimited(String token, int max) throws Exception {
    return api.untilLimited(token, max);
  }

  @Test
  void aDeviceOverItsLimitGets429WithRetryAfterAndOtherDevicesGoOn() throws Exception {
    start(new RateLimit(1, 5), RateLimit.OFF);
    String noisy = token("acme", "noisy");
    assertThat(untilLimited(noisy, 20)).as("the burst, then 429").isBetween(5, 6);
    assertThat(untilLimited(token("acme", "quiet"), 3)).as("another device of the same tenant").isEqualTo(3);
  }

  @Test
  void aTenantOverItsLimitGets429AndOtherTenantsGoOn() throws Exception {
    start(RateLimit.OFF, new RateLimit(1, 6));
    assertThat(untilLimited(token("acme", "d1"), 3)).isEqualTo(3);
    assertThat(untilLimited(token("acme", "d2"), 20)).as("the tenant's burst is shared by its devices").isBetween(3, 4);
    assertThat(untilLimited(token("other", "d1"), 5)).as("another tenant").isEqualTo(5);
  }

  @Test
  void theClientHonoursRetryAfter() throws Exception {
    start(new RateLimit(1, 3), RateLimit.OFF);
    String t = token("acme", "phone");
    Path db = dir.resolve("phone.db");
    Db.sql(db, "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)", "INSERT INTO notes VALUES ('n1', 'x')");
    untilLimited(t, 10);

    HttpTransport transport = new HttpTransport(server.url(), Duration.ofSeconds(10), t);
    assertThatThrownBy(() -> transport.pull("notes", null, 10, "phone"))
        .isInstanceOfSatisfying(RetryAfterException.class, e -> {
          assertThat(e.retriable()).isTrue();
          assertThat(e.retryAfter()).isEqualTo(Duration.ofSeconds(1));
          assertThat(e.getMessage()).contains("429").contains("rate_limited");
        });
    try (TidesyncClient client = TidesyncClient.create(c -> c.database(db).server(server.url()).dataset("notes").deviceId("phone").token(t))) {
      untilLimited(t, 10);
      // flush() gives up at once with the retriable error, keeping the change pending ...
      assertThatThrownBy(client::flush).isInstanceOf(RetryAfterException.class);
      assertThat(client.status().pendingTotal()).isEqualTo(1);
      // ... and the background loop waits as told, then gets through.
      client.start();
      Awaitility.await().atMost(30, TimeUnit.SECONDS).until(() -> storage.find(new dev.tidesync.core.DatasetId("acme", "notes")).isPresent()
          && storage.find(new dev.tidesync.core.DatasetId("acme", "notes")).get().status().rows().getOrDefault("notes", 0L) == 1L);
      // The server commits before the client records its answer: wait for that too.
      Awaitility.await().atMost(10, TimeUnit.SECONDS).until(() -> client.status().pendingTotal() == 0);
    }
  }
}
