package dev.tidesync.it.auth;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.it.ServerStores;
import dev.tidesync.server.Role;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.server.TokenClaims;
import dev.tidesync.server.Tokens;
import dev.tidesync.tck.StorageFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

/** Tokens against the real server and each real store: validity, revocation, roles, devices, dataset creation. */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class AuthTest {
  static final DatasetId NOTES = new DatasetId("acme", "notes");

  @Parameter StorageFactory store;
  @TempDir Path dir;
  Storage storage;
  TidesyncServer server;
  Tokens tokens;
  Api api;

  @BeforeEach
  void start() {
    storage = store.open(dir.resolve("data"));
    server = TidesyncServer.start(storage, ServerConfig.defaults().withPort(0));
    tokens = Tokens.of(storage);
    api = new Api(server.url());
  }

  @AfterEach
  void stop() {
    server.close();
    storage.close();
  }

  String token(String device, Role role, String... datasets) {
    return tokens.create("acme", List.of(datasets), device, role, Duration.ofHours(1));
  }

  Api.Answer push(String dataset, String device, String batch, String token) throws Exception {
    return api.push(dataset, Api.pushBody(device, batch, "r-" + batch, "v"), token);
  }

  @Test
  void missingMalformedExpiredAndNotYetValidTokensAre401() throws Exception {
    Instant now = Instant.now();
    String expired = tokens.sign(new TokenClaims("acme", List.of("*"), "d", Role.ADMIN, now.minusSeconds(7200), now.minusSeconds(7200),
        now.minusSeconds(3600)));
    String early = tokens.sign(new TokenClaims("acme", List.of("*"), "d", Role.ADMIN, now, now.plusSeconds(3600), now.plusSeconds(7200)));
    record Case(String token, String code) {}
    for (Case c : List.of(new Case(null, "token_missing"), new Case("not-a-jwt", "token_invalid"), new Case(expired, "token_expired"),
        new Case(early, "token_not_yet_valid"))) {
      Api.Answer r = api.get("/v1/datasets", c.token());
      assertThat(r.status()).as("%s", r).isEqualTo(401);
      assertThat(r.body()).contains("\"error\":\"" + c.code() + "\"");
      assertThat(r.wwwAuthenticate()).startsWith("Bearer");
    }
    Api.Answer basic = api.get("/v1/datasets", null, "Authorization", "Basic dXNlcjpwYXNz");
    assertThat(basic.status()).isEqualTo(401);
    assertThat(api.get("/health", null).status()).as("health needs no token").isEqualTo(200);
  }

  @Test
  void revocationRefusesTheDevicesTokensFromItsNextRequestAndANewerTokenWorks() throws Exception {
    String old = token("phone", Role.WRITE, "notes");
    String other = token("laptop", Role.WRITE, "notes");
    assertThat(push("notes", "phone", "b1", old).status()).isEqualTo(200);

    storage.state().revokeDevice("acme", "phone", System.currentTimeMillis()); // what 'tidesync device revoke' does

    Api.Answer refused = api.pull("notes", "phone", old);
    assertThat(refused.status()).as("%s", refused).isEqualTo(401);
    assertThat(refused.body()).contains("token_revoked");
    assertThat(push("notes", "phone", "b2", old).status()).isEqualTo(401);
    assertThat(api.pull("notes", "laptop", other).status()).as("other devices are not affected").isEqualTo(200);
    // Same device id in another tenant: a different device.
    String elsewhere = tokens.create("other", List.of("*"), "phone", Role.READ, Duration.ofHours(1));
    assertThat(api.get("/v1/datasets", elsewhere).status()).isEqualTo(200);

    String renewed = token("phone", Role.WRITE, "notes"); // issued after the revocation
    assertThat(api.pull("notes", "phone", renewed).status()).isEqualTo(200);
    assertThat(push("notes", "phone", "b3", renewed).status()).isEqualTo(200);
  }

  @Test
  void rolesReadWriteAdmin() throws Exception {
    String admin = token("ops", Role.ADMIN, "*");
    assertThat(push("notes", "ops", "seed", admin).status()).isEqualTo(200);
    String read = token("viewer", Role.READ, "notes");
    String write = token("phone", Role.WRITE, "notes");

    assertThat(api.pull("notes", "viewer", read).status()).isEqualTo(200);
    assertThat(api.get("/v1/datasets", read).body()).contains("\"name\":\"notes\"");
    assertThat(api.get("/v1/status", read).status()).isEqualTo(200);
    Api.Answer readPush = push("notes", "viewer", "r1", read);
    assertThat(readPush.status()).as("%s", readPush).isEqualTo(403);
    assertThat(readPush.body()).contains("role read");
    assertThat(api.get("/v1/datasets/notes/conflicts", read).status()).isEqualTo(403);

    assertThat(push("notes", "phone", "w1", write).status()).isEqualTo(200);
    assertThat(api.pull("notes", "phone", write).status()).isEqualTo(200);
    assertThat(api.get("/v1/datasets/notes/conflicts", write).status()).as("conflicts are for admins").isEqualTo(403);

    assertThat(api.get("/v1/datasets/notes/conflicts", admin).status()).isEqualTo(200);
    assertThat(ServerStores.rows(store, storage, NOTES, "SELECT id FROM notes ORDER BY 1")).containsExactly("r-seed", "r-w1");
  }

  @Test
  void discoveryAndStatusListOnlyTheDatasetsTheTokenGrants() throws Exception {
    String admin = token("ops", Role.ADMIN, "*");
    for (String ds : List.of("notes", "payroll")) {
      assertThat(push(ds, "ops", "seed-" + ds, admin).status()).isEqualTo(200);
    }
    String notesOnly = token("phone", Role.READ, "notes");
    for (String path : List.of("/v1/datasets", "/v1/status")) {
      assertThat(api.get(path, notesOnly).body()).as(path).contains("\"name\":\"notes\"").doesNotContain("payroll");
      assertThat(api.get(path, admin).body()).as(path).contains("\"name\":\"notes\"").contains("\"name\":\"payroll\"");
    }
    assertThat(api.get("/v1/datasets", notesOnly).body()).contains("{\"name\":\"notes\",\"rows\":1}");
    assertThat(api.pull("payroll", "phone", notesOnly).status()).isEqualTo(403);
  }

  @Test
  void aConfiguredKeyReplacesTheStoragesKey() throws Exception {
    String key = Tokens.newKey();
    try (TidesyncServer keyed = TidesyncServer.start(storage, ServerConfig.defaults().withPort(0).withSigningKey(key))) {
      Api other = new Api(keyed.url());
      String good = Tokens.withKey(key).create("acme", List.of("*"), "d", Role.READ, Duration.ofHours(1));
      assertThat(other.get("/v1/datasets", good).status()).isEqualTo(200);
      Api.Answer storageKey = other.get("/v1/datasets", token("d", Role.READ, "*"));
      assertThat(storageKey.status()).isEqualTo(401);
      assertThat(storageKey.body()).contains("signature does not match");
    }
    assertThat(ServerConfigs.refuses("c2hvcnQ=")).as("a 5-byte key").contains("at least 32");
  }

  /** What ServerConfig says about a key it refuses. */
  static final class ServerConfigs {
    static String refuses(String key) {
      try {
        ServerConfig.defaults().withSigningKey(key);
        return "accepted";
      } catch (RuntimeException e) {
        return e.getMessage();
      }
    }
  }

  @Test
  void aDeviceCannotActAsAnotherDevice() throws Exception {
    String phone = token("phone", Role.ADMIN, "notes");
    assertThat(push("notes", "phone", "b1", phone).status()).isEqualTo(200);
    Api.Answer asLaptop = push("notes", "laptop", "b2", phone);
    assertThat(asLaptop.status()).as("%s", asLaptop).isEqualTo(403);
    assertThat(asLaptop.body()).contains("device 'phone', not 'laptop'");
    assertThat(api.pull("notes", "laptop", phone).status()).isEqualTo(403);
    assertThat(ServerStores.rows(store, storage, NOTES, "SELECT device FROM _tidesync_devices")).containsExactly("phone");
  }

  @Test
  void aPushCreatesADatasetOnlyForAdminsOrAWriteTokenNamingIt() throws Exception {
    Api.Answer wildcardWriter = push("typo", "w", "b1", token("w", Role.WRITE, "*"));
    assertThat(wildcardWriter.status()).as("%s", wildcardWriter).isEqualTo(404);
    Api.Answer reader = push("named", "r", "b1", token("r", Role.READ, "named"));
    assertThat(reader.status()).isEqualTo(403);
    Api.Answer otherDataset = push("named", "w2", "b1", token("w2", Role.WRITE, "something-else"));
    assertThat(otherDataset.status()).isEqualTo(403);
    assertThat(storage.datasets("acme")).isEmpty();

    assertThat(push("named", "w3", "b1", token("w3", Role.WRITE, "named")).status()).isEqualTo(200);
    assertThat(push("anything", "ops", "b1", token("ops", Role.ADMIN, "*")).status()).isEqualTo(200);
    assertThat(storage.datasets("acme")).extracting(d -> d.name()).containsExactly("anything", "named");
    // Once it exists, the wildcard writer may push to it.
    assertThat(push("named", "w", "b2", token("w", Role.WRITE, "*")).status()).isEqualTo(200);
  }

  @Test
  void serverOwnedFieldsInAChangeAreIgnoredOrRefused() throws Exception {
    String t = token("phone", Role.WRITE, "notes");
    String body = "{\"v\":1,\"device\":\"phone\",\"batch\":\"b1\",\"schema\":[" + Api.TABLE + "],\"changes\":["
        + Api.change("r1", "v", ",\"version\":999999,\"base\":0") + "]}";
    Api.Answer r = api.push("notes", body, t);
    assertThat(r.status()).as("%s", r).isEqualTo(200);
    assertThat(r.body()).contains("\"version\":1").doesNotContain("999999");
    assertThat(ServerStores.rows(store, storage, NOTES, "SELECT ver, origin FROM _tidesync_rows")).as("version and origin are the server's").containsExactly("1|phone");

    for (String extra : List.of(",\"origin\":\"laptop\"", ",\"tenant\":\"other\"", ",\"device\":\"laptop\"")) {
      String bad = body.replace("\"b1\"", "\"b2\"").replace(",\"version\":999999,\"base\":0", extra);
      Api.Answer refused = api.push("notes", bad, t);
      assertThat(refused.status()).as("%s", refused).isEqualTo(400);
      assertThat(refused.body()).contains("unknown field");
    }
    String reserved = body.replace("\"b1\"", "\"b3\"").replace("\"cols\":{\"body\":\"v\"}", "\"cols\":{\"_tidesync_origin\":\"laptop\"}");
    assertThat(api.push("notes", reserved, t).status()).isEqualTo(400);
    assertThat(ServerStores.rows(store, storage, NOTES, "SELECT ver, origin FROM _tidesync_rows")).containsExactly("1|phone");
  }
}
