package dev.tidesync.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.client.HttpTransport;
import dev.tidesync.client.RetryAfterException;
import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetStatus;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.Checksums;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.Wire;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The HTTP API end to end on 127.0.0.1, over a fake storage. */
class HttpApiTest {
  private static final int MAX_CHANGES = 100;
  private static final long MAX_BYTES = 1024 * 1024;
  private static final TableSchema NOTES = new TableSchema("notes",
      List.of(new ColumnSchema("id", "TEXT", true, null), new ColumnSchema("body", "TEXT", false, null)),
      List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);

  private FakeStorage storage;
  private TidesyncServer server;
  private HttpTransport transport;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeEach
  void start() {
    storage = new FakeStorage();
    ServerConfig config = ServerConfig.defaults().withInsecure(true).withPort(0).withMaxBatchChanges(MAX_CHANGES)
        .withMaxRequestBytes(MAX_BYTES).withMaxPullLimit(500).withDefaultPullLimit(100);
    server = TidesyncServer.start(storage, config);
    transport = new HttpTransport(server.url(), Duration.ofSeconds(10));
  }

  @AfterEach
  void stop() throws Exception {
    try {
      // Whatever the test sent, the server is still serving.
      HttpResponse<byte[]> health = get("/health", false);
      assertThat(health.statusCode()).isEqualTo(200);
      assertThat(text(health)).isEqualTo("{\"status\":\"ok\"}");
    } finally {
      transport.close();
      server.close();
    }
  }

  // ---------------------------------------------------------------- push

  @Test
  void pushThroughHttpTransportWithLargeGzippedBody() throws Exception {
    PushRequest request = batch("alpha", "b1", 90, 4000);
    assertThat(Wire.writePush(request).length).isGreaterThan(300_000);

    PushResult result = transport.push("alpha", request);

    assertThat(result.batch()).isEqualTo("b1");
    assertThat(result.results()).hasSize(90);
    assertThat(result.cursor()).isEqualTo("c1");
    FakeStorage.Store store = storage.stores.get("alpha");
    assertThat(store.pushes).hasSize(1);
    assertThat(store.pushes.get(0).changes()).isEqualTo(request.changes());
    assertThat(store.pushes.get(0).dataset()).isEqualTo("alpha");
  }

  @Test
  void pushAnswerIsGzippedWhenAsked() throws Exception {
    byte[] body = Wire.writePush(batch("alpha", "b1", 60, 10));
    HttpResponse<byte[]> r = send(post("/v1/datasets/alpha/push", gzip(body))
        .header(Wire.CHECKSUM_HEADER, Checksums.sha256(body))
        .header("Content-Encoding", "gzip")
        .header("Accept-Encoding", "gzip"));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Encoding")).contains("gzip");
    PushResult result = Wire.readPushResult(new ByteArrayInputStream(gunzip(r.body())));
    assertThat(result.results()).hasSize(60);
  }

  @Test
  void pushWithoutGzipAndWithoutDatasetInTheBodyWorks() throws Exception {
    HttpResponse<byte[]> r = pushRaw("alpha", changeWithBody("\"plain\""));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Encoding")).isEmpty();
    PushRequest seen = storage.stores.get("alpha").pushes.get(0);
    assertThat(seen.dataset()).isEqualTo("alpha");
    assertThat(seen.changes().get(0).cols()).containsEntry("body", "plain");
  }

  @Test
  void checksumMissingOrMismatchedIsRefusedAndNothingIsStored() throws Exception {
    byte[] body = Wire.writePush(batch("alpha", "b1", 2, 10));
    assertError(send(post("/v1/datasets/alpha/push", body)), 400, "checksum_missing");
    assertError(send(post("/v1/datasets/alpha/push", body).header(Wire.CHECKSUM_HEADER, Checksums.sha256(new byte[] {1}))),
        400, "checksum_mismatch");
    assertError(send(post("/v1/datasets/alpha/push", body).header(Wire.CHECKSUM_HEADER, "xyz")), 400, "checksum_mismatch");
    // A body damaged in transit that no longer parses is reported as damaged, not as bad JSON.
    byte[] damaged = new String(body, StandardCharsets.UTF_8).replace("\"changes\":[", "\"changes\":").getBytes(StandardCharsets.UTF_8);
    assertError(send(post("/v1/datasets/alpha/push", damaged).header(Wire.CHECKSUM_HEADER, Checksums.sha256(body))),
        400, "checksum_mismatch");
    assertThat(storage.stores).isEmpty();
  }

  @Test
  void malformedJsonIsBadJson() throws Exception {
    assertError(pushRaw("alpha", "{\"v\":1,\"device\":\"d1\",\"batch\":"), 400, "bad_json");
    assertError(pushRaw("alpha", "[1,2,3]"), 400, "bad_json");
    assertError(pushRaw("alpha", ""), 400, "bad_json");
    assertThat(storage.stores).isEmpty();
  }

  @Test
  void wrongValueTypesAreBadValue() throws Exception {
    assertError(pushRaw("alpha", changeWithBody("true")), 400, "bad_value");
    assertError(pushRaw("alpha", changeWithBody("[1,2]")), 400, "bad_value");
    assertError(pushRaw("alpha", changeWithBody("{\"$nope\":\"x\"}")), 400, "bad_value");
    assertThat(storage.stores).isEmpty();
  }

  @Test
  void datasetInBodyMustMatchThePath() throws Exception {
    byte[] body = Wire.writePush(batch("beta", "b1", 1, 10));
    assertError(send(post("/v1/datasets/alpha/push", body).header(Wire.CHECKSUM_HEADER, Checksums.sha256(body))),
        400, "dataset_mismatch");
    assertError(pushRaw("Not%20Valid", changeWithBody("\"x\"")), 400, "bad_dataset");
    assertThat(storage.stores).isEmpty();
  }

  @Test
  void batchOverMaxChangesIs413() {
    assertThatThrownBy(() -> transport.push("alpha", batch("alpha", "b1", MAX_CHANGES + 1, 1)))
        .isInstanceOfSatisfying(ProtocolException.class, e -> {
          assertThat(e.status()).isEqualTo(413);
          assertThat(e.code()).isEqualTo("batch_too_large");
          assertThat(e.retriable()).isFalse();
        });
    assertThat(storage.stores).isEmpty();
  }

  @Test
  void bodyOverMaxRequestBytesIs413() throws Exception {
    byte[] body = Wire.writePush(batch("alpha", "b1", 50, 30_000));
    assertThat((long) body.length).isGreaterThan(MAX_BYTES);
    assertError(send(post("/v1/datasets/alpha/push", body).header(Wire.CHECKSUM_HEADER, Checksums.sha256(body))),
        413, "too_large");
    // Far over the limit, declared up front and sent without a length (chunked).
    byte[] huge = new byte[24 * 1024 * 1024];
    java.util.Arrays.fill(huge, (byte) ' ');
    // The server refuses on the declared length and closes; a client still sending may see the
    // close before the answer. Either way the body was refused.
    try {
      assertError(send(post("/v1/datasets/alpha/push", huge).header(Wire.CHECKSUM_HEADER, Checksums.sha256(huge))),
          413, "too_large");
    } catch (java.io.IOException closedEarly) {
      assertThat(closedEarly.getMessage()).isNotBlank();
    }
    // Chunked: the server answers 413 as soon as the limit is passed and closes the connection;
    // a client still sending may see the close before it reads the answer. Either is a refusal.
    try {
      assertError(send(HttpRequest.newBuilder(uri("/v1/datasets/alpha/push"))
          .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(huge)))
          .header(Wire.CHECKSUM_HEADER, Checksums.sha256(huge))), 413, "too_large");
    } catch (java.io.IOException closedEarly) {
      assertThat(closedEarly.getMessage()).isNotBlank();
    }
    assertThat(storage.stores).isEmpty();
  }

  @Test
  void gzipBombIsStoppedAtMaxRequestBytes() throws Exception {
    String json = "{\"v\":1,\"device\":\"d1\",\"batch\":\"b1\",\"changes\":[],\"pad\":\"" + "a".repeat(8 * 1024 * 1024) + "\"}";
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    byte[] packed = gzip(body);
    assertThat(packed.length).isLessThan(64 * 1024);
    assertError(send(post("/v1/datasets/alpha/push", packed)
        .header(Wire.CHECKSUM_HEADER, Checksums.sha256(body)).header("Content-Encoding", "gzip")), 413, "too_large");
    assertThat(storage.stores).isEmpty();
  }

  @Test
  void aGzippedBodyJustOverTheLimitOnceInflatedIs413NotAChecksumMismatch() throws Exception {
    // The limit stops the reading part-way through the inflated body, so its digest cannot
    // match; the answer must still say "too large", or the client cannot know to send less
    // (found by review: it said 400 checksum_mismatch).
    // Highly compressible, so that the inflater has taken in the whole gzip body by the time the
    // inflated bytes pass the limit.
    List<Change> changes = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      changes.add(new Change("notes", List.of("n" + i), false, Map.of("id", "n" + i, "body", "x".repeat((int) (MAX_BYTES / 40))),
          hlc(i), null, 0, 0));
    }
    byte[] body = Wire.writePush(new PushRequest("alpha", "d1", "b1", batch("alpha", "b0", 1, 1).schema(), changes));
    assertThat((long) body.length).isGreaterThan(MAX_BYTES).isLessThan(MAX_BYTES + MAX_BYTES / 5);
    byte[] packed = gzip(body);
    assertThat((long) packed.length).isLessThan(64 * 1024);
    assertError(send(post("/v1/datasets/alpha/push", packed)
        .header(Wire.CHECKSUM_HEADER, Checksums.sha256(body)).header("Content-Encoding", "gzip")), 413, "too_large");
    assertThat(storage.stores).isEmpty();
  }

  @Test
  void badGzipIs400() throws Exception {
    byte[] body = Wire.writePush(batch("alpha", "b1", 1, 10));
    HttpRequest.Builder notGzip = post("/v1/datasets/alpha/push", body)
        .header(Wire.CHECKSUM_HEADER, Checksums.sha256(body)).header("Content-Encoding", "gzip");
    assertError(send(notGzip), 400, "bad_gzip");
    byte[] packed = gzip(body);
    byte[] truncated = java.util.Arrays.copyOf(packed, packed.length / 2);
    assertError(send(post("/v1/datasets/alpha/push", truncated)
        .header(Wire.CHECKSUM_HEADER, Checksums.sha256(body)).header("Content-Encoding", "gzip")), 400, "bad_gzip");
    assertError(send(post("/v1/datasets/alpha/push", body)
        .header(Wire.CHECKSUM_HEADER, Checksums.sha256(body)).header("Content-Encoding", "br")), 415, "unsupported_encoding");
    assertThat(storage.stores).isEmpty();
  }

  // ---------------------------------------------------------------- pull

  @Test
  void pullThroughHttpTransportWithGzippedAnswer() throws Exception {
    FakeStorage.Store store = storage.add("alpha");
    List<Change> changes = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      changes.add(new Change("notes", List.of("n" + i), false, Map.of("id", "n" + i, "body", "text " + i), hlc(i), null, 0, i + 1));
    }
    store.page = new PullPage("c200", true, false, List.of(NOTES), changes);

    String cursor = "a b&c=d/é+%";
    PullPage page = transport.pull("alpha", cursor, 200, "dev 1");
    assertThat(page).isEqualTo(store.page);
    assertThat(store.pulls).containsExactly(cursor + "|200|dev 1");

    HttpResponse<byte[]> r = send(HttpRequest.newBuilder(uri("/v1/datasets/alpha/pull?device=d1")).header("Accept-Encoding", "gzip"));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Content-Encoding")).contains("gzip");
    assertThat(Wire.readPull(new ByteArrayInputStream(gunzip(r.body())))).isEqualTo(store.page);
    // No cursor (or an empty one) is a bootstrap; no limit is the default limit.
    assertThat(store.pulls).last().isEqualTo("null|100|d1");
    get("/v1/datasets/alpha/pull?device=d1&cursor=", false);
    assertThat(store.pulls).last().isEqualTo("null|100|d1");
  }

  @Test
  void pullParametersAreChecked() throws Exception {
    storage.add("alpha");
    assertError(get("/v1/datasets/alpha/pull?limit=10", false), 400, "missing_device");
    assertError(get("/v1/datasets/alpha/pull?device=d1&limit=0", false), 400, "bad_limit");
    assertError(get("/v1/datasets/alpha/pull?device=d1&limit=501", false), 400, "bad_limit");
    assertError(get("/v1/datasets/alpha/pull?device=d1&limit=ten", false), 400, "bad_limit");
    assertError(get("/v1/datasets/alpha/pull?device=d1&limit=99999999999999", false), 400, "bad_limit");
    assertError(get("/v1/datasets/alpha/pull?device=" + "d".repeat(129), false), 400, "bad_device");
    assertError(get("/v1/datasets/ALPHA/pull?device=d1", false), 400, "bad_dataset");
    assertThat(storage.stores.get("alpha").pulls).isEmpty();
  }

  @Test
  void pullOfUnknownDatasetIs404() throws Exception {
    assertError(get("/v1/datasets/nope/pull?device=d1", false), 404, "dataset_not_found");
    assertThatThrownBy(() -> transport.pull("nope", null, 10, "d1"))
        .isInstanceOfSatisfying(ProtocolException.class, e -> assertThat(e.status()).isEqualTo(404));
    assertThat(storage.stores).isEmpty();
  }

  // ---------------------------------------------------------------- discovery, status, conflicts

  @Test
  void datasetsListsTablesWithRowCounts() throws Exception {
    FakeStorage.Store a = storage.add("alpha");
    a.schema = List.of(NOTES);
    a.status = new DatasetStatus("alpha", 42, Map.of("notes", 7L), List.of(), 0);
    storage.add("beta");
    assertThat(text(get("/v1/datasets", false))).isEqualTo(
        "{\"datasets\":[{\"name\":\"alpha\",\"tables\":[{\"name\":\"notes\",\"rows\":7}],\"version\":42},"
            + "{\"name\":\"beta\",\"tables\":[],\"version\":0}]}");
  }

  @Test
  void statusListsDatasetsAndDevices() throws Exception {
    FakeStorage.Store a = storage.add("alpha");
    a.status = new DatasetStatus("alpha", 42, Map.of("notes", 7L), List.of(FakeStorage.device("d1")), 3);
    assertThat(text(get("/v1/status", false))).isEqualTo(
        "{\"server\":\"tidesync\",\"version\":\"0.1.0\",\"datasets\":[{\"name\":\"alpha\",\"version\":42,\"conflicts\":3,"
            + "\"rows\":{\"notes\":7},\"devices\":[{\"device\":\"d1\",\"lastPush\":1000,\"lastPull\":2000,"
            + "\"pushes\":3,\"pulls\":4,\"changes\":5}]}]}");
  }

  @Test
  void conflictsEmbedRowImagesAsJson() throws Exception {
    FakeStorage.Store a = storage.add("alpha");
    a.conflicts = List.of(
        new ConflictRecord(1, "notes", "[\"n1\"]", "field-merge", "merged", "d1", 5000, 3, 4,
            "{\"body\":\"old\"}", "{\"body\":\"new\"}", "{\"body\":\"new\"}"),
        new ConflictRecord(2, "notes", "[\"n2\"]", "last-write-wins", "stored", "d2", 6000, 0, 9, null, "{\"n\":1}", null));
    assertThat(text(get("/v1/datasets/alpha/conflicts?after=1&limit=5", false))).isEqualTo(
        "{\"conflicts\":[{\"id\":2,\"table\":\"notes\",\"pk\":\"[\\\"n2\\\"]\",\"policy\":\"last-write-wins\","
            + "\"outcome\":\"stored\",\"device\":\"d2\",\"at\":6000,\"baseVersion\":0,\"storedVersion\":9,"
            + "\"stored\":null,\"incoming\":{\"n\":1},\"result\":null}]}");
    assertThat(text(get("/v1/datasets/alpha/conflicts", false))).contains("\"incoming\":{\"body\":\"new\"}");
    assertError(get("/v1/datasets/alpha/conflicts?after=x", false), 400, "bad_after");
    assertError(get("/v1/datasets/nope/conflicts", false), 404, "dataset_not_found");
  }

  // ---------------------------------------------------------------- errors and lifecycle

  @Test
  void unknownRouteIs404AndWrongMethodIs405() throws Exception {
    assertError(get("/v2/nothing", false), 404, "not_found");
    assertError(get("/v1/datasets/alpha/push", false), 405, "method_not_allowed");
    assertError(send(post("/health", new byte[0])), 405, "method_not_allowed");
  }

  @Test
  void requestsJettyRefusesStillGetJsonErrors() throws Exception {
    assertThat(rawExchange("GARBAGE\r\n\r\n")).startsWith("HTTP/1.1 400").contains("\r\n\r\n{\"error\":\"bad_request\"");
    assertThat(rawExchange("GET /v1/datasets/%zz/pull HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        .startsWith("HTTP/1.1 400").contains("application/json").contains("{\"error\":\"bad_request\"");
    assertThat(rawExchange("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(20_000) + "\r\n\r\n"))
        .startsWith("HTTP/1.1 431").contains("{\"error\":\"headers_too_large\"");
  }

  @Test
  void storeFailuresMapTo503Or500() throws Exception {
    FakeStorage.Store a = storage.add("alpha");
    a.failure = () -> new TidesyncException("database is locked", true);
    HttpResponse<byte[]> busy = get("/v1/datasets/alpha/pull?device=d1", false);
    assertError(busy, 503, "unavailable");
    assertThat(busy.headers().firstValue("Retry-After")).contains("1");
    assertThatThrownBy(() -> transport.pull("alpha", null, 10, "d1"))
        .isInstanceOfSatisfying(RetryAfterException.class, e -> {
          assertThat(e.retriable()).isTrue();
          assertThat(e.retryAfter()).isEqualTo(Duration.ofSeconds(1));
          assertThat(e.getMessage()).contains("database is locked");
        });

    a.failure = () -> new IllegalStateException("x".repeat(10_000));
    HttpResponse<byte[]> broken = get("/v1/datasets/alpha/pull?device=d1", false);
    assertError(broken, 500, "internal");
    assertThat(broken.body().length).isLessThan(400);
  }

  @Test
  void longInputIsNotEchoedInFull() throws Exception {
    HttpResponse<byte[]> r = get("/v1/datasets/alpha/pull?device=d1&limit=" + "9".repeat(3000), false);
    assertError(r, 400, "bad_limit");
    assertThat(Wire.readError(r.body())[1].length()).isLessThanOrEqualTo(200);
  }

  @Test
  void closeIsIdempotentAndLeavesStorageOpenUnlessOwned() {
    TidesyncServer other = TidesyncServer.start(storage, ServerConfig.defaults().withInsecure(true).withPort(0));
    assertThat(other.port()).isPositive().isNotEqualTo(server.port());
    other.close();
    other.close();
    assertThat(storage.closed).isFalse();
    assertThatThrownBy(() -> new HttpTransport(other.url()).pull("alpha", null, 1, "d1"))
        .isInstanceOfSatisfying(TidesyncException.class, e -> assertThat(e.retriable()).isTrue());

    FakeStorage owned = new FakeStorage();
    TidesyncServer owner = TidesyncServer.start(owned, ServerConfig.defaults().withInsecure(true).withPort(0), true);
    owner.close();
    owner.close();
    assertThat(owned.closed).isTrue();
  }

  @Test
  void aPortInUseIsAClearStartFailure() {
    assertThatThrownBy(() -> TidesyncServer.start(storage, ServerConfig.defaults().withInsecure(true).withPort(server.port())))
        .isInstanceOfSatisfying(TidesyncException.class, e -> {
          assertThat(e.retriable()).isFalse();
          assertThat(e.getMessage()).contains("cannot start the server on 127.0.0.1:" + server.port());
        });
  }

  // ---------------------------------------------------------------- helpers

  private static PushRequest batch(String dataset, String batchId, int n, int bodySize) {
    Random random = new Random(n * 31L + bodySize);
    List<Change> changes = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      StringBuilder body = new StringBuilder(bodySize);
      for (int k = 0; k < bodySize; k++) {
        body.append((char) ('a' + random.nextInt(26)));
      }
      Map<String, Object> cols = new LinkedHashMap<>();
      cols.put("id", "n" + i);
      cols.put("body", body.toString());
      changes.add(new Change("notes", List.of("n" + i), false, cols, hlc(i), null, 0, 0));
    }
    return new PushRequest(dataset, "d1", batchId, List.of(NOTES), changes);
  }

  private static String hlc(int i) {
    return String.format("%016d.%05d.d1", 1_700_000_000_000L + i, 0);
  }

  private static String changeWithBody(String bodyJson) {
    return "{\"v\":1,\"device\":\"d1\",\"batch\":\"b1\",\"changes\":[{\"table\":\"notes\",\"pk\":[\"n1\"],"
        + "\"op\":\"upsert\",\"cols\":{\"id\":\"n1\",\"body\":" + bodyJson + "},\"hlc\":\"" + hlc(1) + "\"}]}";
  }

  private HttpResponse<byte[]> pushRaw(String dataset, String json) throws Exception {
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    return send(post("/v1/datasets/" + dataset + "/push", body).header(Wire.CHECKSUM_HEADER, Checksums.sha256(body)));
  }

  /** One request written by hand on a fresh socket; the whole answer as text. */
  private String rawExchange(String request) throws IOException {
    try (java.net.Socket socket = new java.net.Socket("127.0.0.1", server.port())) {
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
      return new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
    }
  }

  private URI uri(String path) {
    return URI.create(server.url() + path);
  }

  private HttpRequest.Builder post(String path, byte[] body) {
    return HttpRequest.newBuilder(uri(path)).POST(HttpRequest.BodyPublishers.ofByteArray(body));
  }

  private HttpResponse<byte[]> get(String path, boolean gzip) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri(path));
    if (gzip) {
      b.header("Accept-Encoding", "gzip");
    }
    return send(b);
  }

  private HttpResponse<byte[]> send(HttpRequest.Builder b) throws Exception {
    return http.send(b.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  private static void assertError(HttpResponse<byte[]> r, int status, String code) {
    assertThat(r.statusCode()).as("status of %s", r.uri()).isEqualTo(status);
    assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(t -> assertThat(t).startsWith("application/json"));
    String[] error = Wire.readError(r.body());
    assertThat(error).as("error body %s", new String(r.body(), StandardCharsets.UTF_8)).isNotNull();
    assertThat(error[0]).isEqualTo(code);
    assertThat(error[1]).isNotBlank();
  }

  private static String text(HttpResponse<byte[]> r) {
    assertThat(r.statusCode()).as("status of %s", r.uri()).isEqualTo(200);
    return new String(r.body(), StandardCharsets.UTF_8);
  }

  private static byte[] gzip(byte[] data) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(data);
    }
    return out.toByteArray();
  }

  private static byte[] gunzip(byte[] data) throws IOException {
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(data))) {
      return in.readAllBytes();
    }
  }
}
