package dev.tidesync.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.Checksums;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.Wire;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** HttpTransport against the JDK's little HTTP server: encoding, headers and failure mapping. */
class HttpTransportTest {
  private HttpServer server;
  private HttpTransport transport;
  /** What the next request is answered with. */
  private final AtomicReference<Responder> responder = new AtomicReference<>();
  private final AtomicReference<Seen> seen = new AtomicReference<>();

  interface Responder {
    void respond(HttpExchange ex) throws IOException;
  }

  record Seen(String method, String uri, Map<String, List<String>> headers, byte[] body) {
    String header(String name) {
      return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name))
          .map(e -> e.getValue().get(0)).findFirst().orElse(null);
    }
  }

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", ex -> {
      try (ex) {
        seen.set(new Seen(ex.getRequestMethod(), ex.getRequestURI().toString(), Map.copyOf(ex.getRequestHeaders()),
            ex.getRequestBody().readAllBytes()));
        responder.get().respond(ex);
      }
    });
    server.start();
    transport = new HttpTransport("http://127.0.0.1:" + server.getAddress().getPort() + "/", Duration.ofSeconds(5));
  }

  @AfterEach
  void stop() {
    transport.close();
    server.stop(0);
  }

  @Test
  void smallPushIsPlainLargePushIsGzippedAndBothCarryTheChecksum() throws IOException {
    responder.set(ex -> reply(ex, 200, Wire.writePushResult(new PushResult("b1",
        List.of(new ChangeResult(0, ChangeResult.APPLIED, 7, null, false)), "c7", false)), false));

    PushRequest small = batch(1, 10);
    PushResult result = transport.push("alpha", small);
    assertThat(result.cursor()).isEqualTo("c7");
    Seen s = seen.get();
    assertThat(s.method()).isEqualTo("POST");
    assertThat(s.uri()).isEqualTo("/v1/datasets/alpha/push");
    assertThat(s.header("Content-Encoding")).isNull();
    assertThat(s.header("Accept-Encoding")).isEqualTo("gzip");
    assertThat(s.body()).isEqualTo(Wire.writePush(small));
    assertThat(s.header(Wire.CHECKSUM_HEADER)).isEqualTo(Checksums.sha256(s.body()));

    PushRequest large = batch(20, 500);
    transport.push("alpha", large);
    s = seen.get();
    assertThat(s.header("Content-Encoding")).isEqualTo("gzip");
    byte[] plain = gunzip(s.body());
    assertThat(plain).isEqualTo(Wire.writePush(large));
    assertThat(s.header(Wire.CHECKSUM_HEADER)).isEqualTo(Checksums.sha256(plain));
    assertThat(s.body().length).isLessThan(plain.length);
  }

  @Test
  void pullEncodesQueryAndGunzipsTheAnswer() {
    PullPage page = new PullPage("c9", true, false, List.of(),
        List.of(new Change("notes", List.of("n1"), true, null, "0001700000000000.00000.d1", null, 0, 9)));
    responder.set(ex -> reply(ex, 200, Wire.writePull(page), true));

    assertThat(transport.pull("alpha", "x y&z=é", 50, "dev/1")).isEqualTo(page);
    assertThat(seen.get().method()).isEqualTo("GET");
    assertThat(seen.get().uri()).isEqualTo("/v1/datasets/alpha/pull?device=dev%2F1&limit=50&cursor=x%20y%26z%3D%C3%A9");

    transport.pull("alpha", null, 10, "d1");
    assertThat(seen.get().uri()).isEqualTo("/v1/datasets/alpha/pull?device=d1&limit=10");
  }

  @Test
  void clientErrorsAreProtocolExceptionsWithTheServersReason() {
    responder.set(ex -> reply(ex, 400, Wire.writeError("bad_value", "changes[0].cols.x: booleans are not SQLite values"), false));
    assertThatThrownBy(() -> transport.pull("alpha", null, 10, "d1"))
        .isInstanceOfSatisfying(ProtocolException.class, e -> {
          assertThat(e.code()).isEqualTo("bad_value");
          assertThat(e.status()).isEqualTo(400);
          assertThat(e.retriable()).isFalse();
          assertThat(e.getMessage()).contains("booleans are not SQLite values").contains("/v1/datasets/alpha/pull");
        });

    responder.set(ex -> reply(ex, 404, "<html>nope</html>".getBytes(), false));
    assertThatThrownBy(() -> transport.pull("alpha", null, 10, "d1"))
        .isInstanceOfSatisfying(ProtocolException.class, e -> {
          assertThat(e.code()).isEqualTo("http_404");
          assertThat(e.getMessage()).contains("nope");
        });
  }

  @Test
  void tooManyRequestsCarriesRetryAfter() {
    responder.set(ex -> {
      ex.getResponseHeaders().add("Retry-After", "7");
      reply(ex, 429, Wire.writeError("rate_limited", "slow down"), false);
    });
    assertThatThrownBy(() -> transport.push("alpha", batch(1, 1)))
        .isInstanceOfSatisfying(RetryAfterException.class, e -> {
          assertThat(e.retriable()).isTrue();
          assertThat(e.retryAfter()).isEqualTo(Duration.ofSeconds(7));
          assertThat(e.getMessage()).contains("slow down");
        });

    responder.set(ex -> reply(ex, 429, new byte[0], false));
    assertThatThrownBy(() -> transport.push("alpha", batch(1, 1)))
        .isInstanceOfSatisfying(RetryAfterException.class, e -> assertThat(e.retryAfter()).isEqualTo(Duration.ofSeconds(1)));
  }

  @Test
  void serverErrorsAreRetriable() {
    responder.set(ex -> reply(ex, 500, Wire.writeError("internal", "boom"), false));
    assertThatThrownBy(() -> transport.pull("alpha", null, 10, "d1"))
        .isInstanceOfSatisfying(TidesyncException.class, e -> {
          assertThat(e).isNotInstanceOf(ProtocolException.class).isNotInstanceOf(RetryAfterException.class);
          assertThat(e.retriable()).isTrue();
          assertThat(e.getMessage()).contains("HTTP 500 internal: boom");
        });

    responder.set(ex -> {
      ex.getResponseHeaders().add("Retry-After", "1");
      reply(ex, 503, Wire.writeError("unavailable", "database is locked"), true);
    });
    assertThatThrownBy(() -> transport.pull("alpha", null, 10, "d1"))
        .isInstanceOfSatisfying(RetryAfterException.class, e -> {
          assertThat(e.retryAfter()).isEqualTo(Duration.ofSeconds(1));
          assertThat(e.getMessage()).contains("database is locked");
        });
  }

  @Test
  void timeoutsAndRefusedConnectionsAreRetriable() throws IOException {
    responder.set(ex -> {
      try {
        Thread.sleep(1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      reply(ex, 200, new byte[0], false);
    });
    HttpTransport impatient = new HttpTransport("http://127.0.0.1:" + server.getAddress().getPort(), Duration.ofMillis(200));
    assertThatThrownBy(() -> impatient.pull("alpha", null, 10, "d1"))
        .isInstanceOfSatisfying(TidesyncException.class, e -> {
          assertThat(e.retriable()).isTrue();
          assertThat(e.getMessage()).contains("timed out").contains("127.0.0.1");
        });

    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    HttpTransport nowhere = new HttpTransport("http://127.0.0.1:" + closedPort);
    assertThatThrownBy(() -> nowhere.push("alpha", batch(1, 1)))
        .isInstanceOfSatisfying(TidesyncException.class, e -> {
          assertThat(e.retriable()).isTrue();
          assertThat(e.getMessage()).startsWith("push to http://127.0.0.1:" + closedPort + "/v1/datasets/alpha/push: ");
        });
  }

  /**
   * A server that reads each whole request and closes the first {@code drops} connections without
   * a byte of answer (what a client sees when it reuses a keep-alive connection the server has
   * just closed as idle), then answers pushes.
   */
  private static void flakyServer(ServerSocket s, int drops, java.util.concurrent.atomic.AtomicInteger connections) {
    Thread t = new Thread(() -> {
      try {
        while (!s.isClosed()) {
          try (java.net.Socket sock = s.accept()) {
            int n = connections.incrementAndGet();
            java.io.DataInputStream in = new java.io.DataInputStream(sock.getInputStream());
            int length = 0;
            for (String line = readLine(in); !line.isEmpty(); line = readLine(in)) {
              if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).strip());
              }
            }
            in.readFully(new byte[length]);
            if (n > drops) {
              byte[] body = Wire.writePushResult(new PushResult("b1", List.of(), "c1", false));
              sock.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                  + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
              sock.getOutputStream().write(body);
              sock.getOutputStream().flush();
            }
          }
        }
      } catch (IOException e) {
        // socket closed: the test is over
      }
    }, "flaky-server");
    t.setDaemon(true);
    t.start();
  }

  private static String readLine(java.io.DataInputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int b = in.read(); b != -1 && b != '\n'; b = in.read()) {
      if (b != '\r') {
        sb.append((char) b);
      }
    }
    return sb.toString();
  }

  @Test
  void aPushWhoseConnectionDropsWithoutAnAnswerIsSentOnceMore() throws Exception {
    java.util.concurrent.atomic.AtomicInteger connections = new java.util.concurrent.atomic.AtomicInteger();
    try (ServerSocket s = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      flakyServer(s, 1, connections);
      HttpTransport t = new HttpTransport("http://127.0.0.1:" + s.getLocalPort(), Duration.ofSeconds(5));
      assertThat(t.push("alpha", batch(1, 1)).cursor()).isEqualTo("c1");
      assertThat(connections.get()).as("the dropped connection and the retry").isEqualTo(2);
    }
    connections.set(0);
    try (ServerSocket s = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      flakyServer(s, Integer.MAX_VALUE, connections);
      HttpTransport t = new HttpTransport("http://127.0.0.1:" + s.getLocalPort(), Duration.ofSeconds(5));
      assertThatThrownBy(() -> t.push("alpha", batch(1, 1)))
          .isInstanceOfSatisfying(TidesyncException.class, e -> assertThat(e.retriable()).isTrue());
      assertThat(connections.get()).as("one retry, not a loop").isEqualTo(2);
    }
  }

  @Test
  void closedTransportAndBadUrlsFailClearly() {
    transport.close();
    transport.close();
    assertThatThrownBy(() -> transport.pull("alpha", null, 10, "d1"))
        .isInstanceOfSatisfying(TidesyncException.class, e -> assertThat(e.retriable()).isFalse());
    assertThatThrownBy(() -> new HttpTransport("ftp://example.org")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new HttpTransport("not a url")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new HttpTransport("http://h", Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
  }

  // ---------------------------------------------------------------- helpers

  private static PushRequest batch(int n, int size) {
    List<Change> changes = new java.util.ArrayList<>();
    for (int i = 0; i < n; i++) {
      changes.add(new Change("notes", List.of("n" + i), false, Map.of("body", "x".repeat(size)),
          "0001700000000000.00000.d1", null, 0, 0));
    }
    return new PushRequest("alpha", "d1", "b1", List.of(), changes);
  }

  private static void reply(HttpExchange ex, int status, byte[] body, boolean gzip) throws IOException {
    ex.getResponseHeaders().add("Content-Type", "application/json");
    if (gzip) {
      ex.getResponseHeaders().add("Content-Encoding", "gzip");
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
        gz.write(body);
      }
      body = out.toByteArray();
    }
    ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    try (OutputStream os = ex.getResponseBody()) {
      os.write(body);
    }
  }

  private static byte[] gunzip(byte[] data) throws IOException {
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(data))) {
      return in.readAllBytes();
    }
  }
}
