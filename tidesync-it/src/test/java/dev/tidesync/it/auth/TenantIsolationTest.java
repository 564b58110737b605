package dev.tidesync.it.auth;

import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.jwk.OctetSequenceKey;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.it.ServerStores;
import dev.tidesync.server.Role;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.server.TokenClaims;
import dev.tidesync.server.Tokens;
import dev.tidesync.tck.StorageFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A device of tenant A tries every route the API has to read, write, list, guess or enumerate
 * tenant B's datasets and rows. Every attempt is a 401, 403 or 404; the answer for a dataset that
 * exists in B is the same as for one that exists nowhere; B's datasets are unchanged; and no answer
 * carries a byte of B's data or names. On every store: tenants are directories of SQLite files in
 * one, rows of one catalog (and schemas) in the other.
 */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class TenantIsolationTest {
  /** In every row of B, so that any leak of B's data shows up in an answer. */
  static final String MARK = "b-private-7f3a";

  @Parameter StorageFactory store;
  @TempDir Path dir;
  Storage storage;
  TidesyncServer server;
  Tokens tokens;
  Api api;
  String bAdmin;

  @BeforeEach
  void start() throws Exception {
    storage = store.open(dir.resolve("data"));
    server = TidesyncServer.start(storage, ServerConfig.defaults().withPort(0));
    tokens = Tokens.of(storage);
    api = new Api(server.url());
    bAdmin = tokens.create("tenant-b", List.of("*"), "b-admin", Role.ADMIN, Duration.ofHours(1));
    // B: "ledger" exists only in B; "shared" exists in both tenants under the same name.
    for (String ds : List.of("ledger", "shared")) {
      Api.Answer r = api.push(ds, Api.pushBody("b-admin", "b-" + ds, "r1", MARK + "-" + ds), bAdmin);
      assertThat(r.status()).as("%s", r).isEqualTo(200);
    }
    String aAdmin = tokens.create("tenant-a", List.of("*"), "a-admin", Role.ADMIN, Duration.ofHours(1));
    assertThat(api.push("shared", Api.pushBody("a-admin", "a-1", "a1", "tenant a's row"), aAdmin).status()).isEqualTo(200);
  }

  @AfterEach
  void stop() {
    server.close();
    storage.close();
  }

  /** B's datasets as a backend reads them: rows, sequence, batches, conflicts, devices. */
  String bState() throws Exception {
    StringBuilder sb = new StringBuilder();
    for (String ds : List.of("ledger", "shared")) {
      DatasetId id = new DatasetId("tenant-b", ds);
      sb.append(ds).append(ServerStores.rows(store, storage, id, "SELECT * FROM notes ORDER BY 1"))
          .append(ServerStores.rows(store, storage, id, "SELECT v FROM _tidesync_meta WHERE k = 'seq'"))
          .append(ServerStores.rows(store, storage, id, "SELECT device, batch FROM _tidesync_batches ORDER BY 1, 2"))
          .append(ServerStores.rows(store, storage, id, "SELECT count(*) FROM _tidesync_conflicts"))
          .append(ServerStores.rows(store, storage, id, "SELECT device, pushes, pulls FROM _tidesync_devices ORDER BY 1"));
    }
    return sb.toString();
  }

  @Test
  void aDeviceOfTenantAReachesNothingOfTenantB() throws Exception {
    String before = bState();
    List<String> answers = new ArrayList<>();
    // Every role and scope A could hold, including the widest: admin over every dataset of A.
    for (Role role : Role.values()) {
      for (List<String> scope : List.of(List.of("*"), List.of("ledger", "nowhere", "shared"))) {
        String device = "a-" + role.wireName() + "-" + scope.size();
        String t = tokens.create("tenant-a", scope, device, role, Duration.ofHours(1));
        for (String probe : List.of("ledger", "nowhere")) {
          answers.addAll(probe(probe, device, t, role, scope));
        }
        // Discovery and status list only A's datasets, never B's.
        for (String path : List.of("/v1/datasets", "/v1/status", "/v1/status?tenant=tenant-b", "/v1/datasets?tenant=tenant-b")) {
          Api.Answer r = api.get(path, t, "X-Tenant", "tenant-b");
          assertThat(r.status()).as("%s %s", path, r).isEqualTo(200);
          assertThat(r.body()).doesNotContain("ledger").doesNotContain("b-admin").doesNotContain("tenant-b");
          answers.add(r.body());
        }
      }
    }
    // Paths that try to step out of the tenant.
    String a = tokens.create("tenant-a", List.of("*"), "a-admin", Role.ADMIN, Duration.ofHours(1));
    for (String path : List.of("/v1/datasets/..%2Ftenant-b%2Fledger/pull?device=a-admin", "/v1/datasets/tenant-b%2Fledger/pull?device=a-admin",
        "/v1/datasets/tenant-b/ledger/pull?device=a-admin", "/v1/datasets/tenant-b:ledger/pull?device=a-admin",
        "/v1/datasets/ledger/pull?device=a-admin&tenant=tenant-b", "/v1/datasets/LEDGER/pull?device=a-admin")) {
      Api.Answer r = api.get(path, a, "X-Tenant", "tenant-b");
      assertThat(r.status()).as("%s %s", path, r).isBetween(400, 404);
      answers.add(r.body());
    }
    // A body that names B's dataset: the URL's dataset (in the token's tenant) is the only one.
    Api.Answer named = api.push("shared", Api.pushBody("a-admin", "a-2", "a2", "x")
        .replace("{\"v\":1,", "{\"v\":1,\"dataset\":\"tenant-b/ledger\",\"tenant\":\"tenant-b\","), a);
    assertThat(named.status()).as("%s", named).isEqualTo(400);
    answers.add(named.body());

    for (String body : answers) {
      assertThat(body).as("no byte of B in any answer").doesNotContain(MARK).doesNotContain("b-admin");
    }
    assertThat(bState()).as("B unchanged").isEqualTo(before);
    // The same name in two tenants is two datasets: A's "shared" holds only A's row.
    String aReader = tokens.create("tenant-a", List.of("shared"), "a-reader", Role.READ, Duration.ofHours(1));
    Api.Answer aShared = api.pull("shared", "a-reader", aReader);
    assertThat(aShared.body()).contains("tenant a's row").doesNotContain(MARK);
  }

  /**
   * Pull, push and conflicts on {@code name} with A's token: 403 or 404, and the same answer as for
   * a name that exists nowhere.
   */
  private List<String> probe(String name, String device, String token, Role role, List<String> scope) throws Exception {
    List<String> out = new ArrayList<>();
    Api.Answer pull = api.pull(name, device, token);
    Api.Answer pullNowhere = api.pull("nowhere", device, token);
    Api.Answer conflicts = api.get("/v1/datasets/" + name + "/conflicts", token);
    Api.Answer conflictsNowhere = api.get("/v1/datasets/nowhere/conflicts", token);
    for (Api.Answer[] pair : List.of(new Api.Answer[] {pull, pullNowhere}, new Api.Answer[] {conflicts, conflictsNowhere})) {
      assertThat(pair[0].status()).as("%s %s %s", name, role, pair[0]).isIn(403, 404);
      assertThat(pair[0].status()).isEqualTo(pair[1].status());
      assertThat(pair[0].body().replace(name, "NAME")).as("no hint of existence").isEqualTo(pair[1].body().replace("nowhere", "NAME"));
      out.add(pair[0].body());
    }
    // A push that may not create: the same 403/404 for "exists in B" and "exists nowhere".
    boolean mayCreate = role == Role.ADMIN || (role == Role.WRITE && scope.contains(name));
    if (!mayCreate) {
      Api.Answer push = api.push(name, Api.pushBody(device, "p-" + name, "r1", "overwrite"), token);
      Api.Answer pushNowhere = api.push("nowhere", Api.pushBody(device, "p-nowhere", "r1", "overwrite"), token);
      assertThat(push.status()).as("%s %s %s", name, role, push).isIn(403, 404).isEqualTo(pushNowhere.status());
      assertThat(push.body().replace(name, "NAME")).isEqualTo(pushNowhere.body().replace("nowhere", "NAME"));
      out.add(push.body());
    }
    return out;
  }

  @Test
  void forgedTokensNamingTenantBAreRefusedWith401() throws Exception {
    String before = bState();
    Instant now = Instant.now();
    TokenClaims claims = new TokenClaims("tenant-b", List.of("*"), "b-admin", Role.ADMIN, now, now, now.plusSeconds(3600));
    JWTClaimsSet set = new JWTClaimsSet.Builder().issuer(Tokens.ISSUER).subject("b-admin").claim("tenant", "tenant-b")
        .claim("datasets", List.of("*")).claim("role", "admin").issueTime(Date.from(now)).expirationTime(Date.from(now.plusSeconds(3600))).build();
    List<String> forged = new ArrayList<>();
    forged.add(new PlainJWT(set).serialize()); // alg=none
    forged.add(Tokens.withKey(Tokens.newKey()).sign(claims)); // someone else's key
    // A's genuine token with its claims edited to name tenant B (signature no longer matches).
    String aToken = tokens.create("tenant-a", List.of("*"), "b-admin", Role.ADMIN, Duration.ofHours(1));
    String[] parts = aToken.split("\\.");
    String payload = new String(Base64.getUrlDecoder().decode(parts[1]), StandardCharsets.UTF_8).replace("tenant-a", "tenant-b");
    forged.add(parts[0] + "." + Base64.getUrlEncoder().withoutPadding().encodeToString(payload.getBytes(StandardCharsets.UTF_8)) + "." + parts[2]);
    // The right key, another algorithm (HS512): refused because the algorithm is pinned.
    OctetSequenceKey key = OctetSequenceKey.parse(storage.state().signingKey(Tokens::newKey));
    SignedJWT hs512 = new SignedJWT(new JWSHeader(JWSAlgorithm.HS512), set);
    hs512.sign(new MACSigner(key.toByteArray().length >= 64 ? key.toByteArray() : concat(key.toByteArray())));
    forged.add(hs512.serialize());
    // The signature stripped off.
    forged.add(parts[0] + "." + parts[1] + ".");
    for (String t : forged) {
      for (String path : List.of("/v1/datasets/ledger/pull?device=b-admin", "/v1/datasets", "/v1/status", "/v1/datasets/ledger/conflicts")) {
        Api.Answer r = api.get(path, t);
        assertThat(r.status()).as("%s with %s: %s", path, t, r).isEqualTo(401);
        assertThat(r.wwwAuthenticate()).startsWith("Bearer");
        assertThat(r.body()).doesNotContain(MARK).doesNotContain("ledger");
      }
      Api.Answer push = api.push("ledger", Api.pushBody("b-admin", "forged", "r1", "forged"), t);
      assertThat(push.status()).as("%s", push).isEqualTo(401);
    }
    assertThat(bState()).isEqualTo(before);
  }

  /** HS512 needs a 512-bit key: the real key doubled still proves the point (the algorithm, not the key, is refused). */
  private static byte[] concat(byte[] k) {
    byte[] out = new byte[k.length * 2];
    System.arraycopy(k, 0, out, 0, k.length);
    System.arraycopy(k, 0, out, k.length, k.length);
    return out;
  }
}
