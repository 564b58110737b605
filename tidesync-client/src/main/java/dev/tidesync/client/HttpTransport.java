package dev.tidesync.client;

import dev.tidesync.protocol.Checksums;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.Wire;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * {@link Transport} over protocol v1 HTTP/JSON with the JDK {@link HttpClient} (HTTP/1.1).
 *
 * <p>Push bodies carry {@value Wire#CHECKSUM_HEADER} (SHA-256 of the uncompressed JSON) and are
 * gzipped above {@value #GZIP_THRESHOLD} bytes; responses are requested gzipped and gunzipped
 * here. Failures: network errors, timeouts and 5xx are retriable {@link TidesyncException}s, 429
 * (and a 5xx with {@code Retry-After}) a {@link RetryAfterException}, any other 4xx a
 * {@link ProtocolException} with the server's code and message.
 *
 * <p>Thread-safe; one instance can be shared. {@link #close()} drops the client, after which
 * every call fails.
 */
public final class HttpTransport implements Transport {
  public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
  /** Push bodies larger than this many bytes are sent gzipped. */
  public static final int GZIP_THRESHOLD = 1024;
  private static final Duration DEFAULT_RETRY_AFTER = Duration.ofSeconds(1);
  private static final int MAX_MESSAGE = 200;

  private final String baseUrl;
  private final Duration timeout;
  private final String token;
  private volatile HttpClient client;

  public HttpTransport(String baseUrl) {
    this(baseUrl, DEFAULT_TIMEOUT, null);
  }

  public HttpTransport(String baseUrl, Duration timeout) {
    this(baseUrl, timeout, null);
  }

  /**
   * @param baseUrl the server, e.g. {@code http://127.0.0.1:8787} (a trailing slash is ignored)
   * @param timeout the whole-request timeout (until the response body has arrived)
   * @param token bearer token for every request, or null (a server in insecure mode)
   */
  public HttpTransport(String baseUrl, Duration timeout, String token) {
    Objects.requireNonNull(baseUrl, "baseUrl");
    this.token = token;
    this.timeout = Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive, got " + timeout);
    }
    String url = baseUrl.strip();
    while (url.endsWith("/")) {
      url = url.substring(0, url.length() - 1);
    }
    URI uri;
    try {
      uri = URI.create(url);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("not a URL: '" + baseUrl + "'", e);
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
      throw new IllegalArgumentException("base URL must be http(s)://host[:port][/path], got '" + baseUrl + "'");
    }
    this.baseUrl = url;
    this.client = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(CONNECT_TIMEOUT)
        .followRedirects(HttpClient.Redirect.NEVER)
        .build();
  }

  public String baseUrl() {
    return baseUrl;
  }

  @Override
  public PushResult push(String dataset, PushRequest request) {
    return push(dataset, request, Wire.writePush(request));
  }

  @Override
  public PushResult push(String dataset, PushRequest request, byte[] json) {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri(dataset, "push", null))
        .header("Content-Type", "application/json")
        // The checksum is of the uncompressed JSON, so it also covers the gzip step.
        .header(Wire.CHECKSUM_HEADER, Checksums.sha256(json));
    byte[] body = json;
    if (json.length > GZIP_THRESHOLD) {
      body = gzip(json);
      b.header("Content-Encoding", "gzip");
    }
    byte[] answer = send("push", b.POST(HttpRequest.BodyPublishers.ofByteArray(body)));
    return Wire.readPushResult(new ByteArrayInputStream(answer));
  }

  @Override
  public PullPage pull(String dataset, String cursor, int limit, String device) {
    Objects.requireNonNull(device, "device");
    StringBuilder q = new StringBuilder("device=").append(encode(device)).append("&limit=").append(limit);
    if (cursor != null) {
      q.append("&cursor=").append(encode(cursor));
    }
    byte[] answer = send("pull", HttpRequest.newBuilder(uri(dataset, "pull", q.toString())).GET());
    return Wire.readPull(new ByteArrayInputStream(answer));
  }

  /** Drops the HTTP client; later calls fail with a permanent error. Idempotent. */
  @Override
  public void close() {
    // JDK 17's HttpClient has no close(): its threads end once it is unreachable.
    client = null;
  }

  // ---------------------------------------------------------------- exchange

  /** Sends and returns the (gunzipped) body of a 2xx answer; anything else throws. */
  private byte[] send(String what, HttpRequest.Builder builder) {
    HttpClient c = client;
    builder.timeout(timeout)
        .header("Accept-Encoding", "gzip")
        .header("Accept", "application/json");
    if (token != null) {
      builder.header("Authorization", "Bearer " + token);
    }
    HttpRequest request = builder.build();
    String where = what + " to " + withoutQuery(request.uri());
    if (c == null) {
      throw new TidesyncException(where + ": the transport is closed", false);
    }
    HttpResponse<byte[]> response;
    try {
      response = exchange(c, request);
    } catch (HttpTimeoutException e) {
      throw new TidesyncException(where + ": timed out (" + reason(e) + ")", true, e);
    } catch (IOException e) {
      throw new TidesyncException(where + ": " + reason(e), true, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TidesyncException(where + ": interrupted", true, e);
    }
    int status = response.statusCode();
    byte[] body = decode(where, response);
    if (status >= 200 && status < 300) {
      return body;
    }
    throw failure(where, status, response.headers(), body);
  }

  /**
   * One exchange, tried a second time at once when the connection dropped without an answer. The
   * usual cause is a pooled keep-alive connection that the server closed as idle just as this
   * request went out on it (the JDK client then reports "header parser received no bytes" or a
   * reset); a fresh connection works. Every request of the protocol is idempotent (a push is
   * applied once per batch id, the rest are reads), so the retry cannot do anything twice. A
   * refused connection or a timeout is not retried here: trying again at once would not help.
   * The JDK client already retries a GET once by itself, so only a POST (a push) is retried here.
   */
  private static HttpResponse<byte[]> exchange(HttpClient c, HttpRequest request) throws IOException, InterruptedException {
    try {
      return c.send(request, HttpResponse.BodyHandlers.ofByteArray());
    } catch (HttpTimeoutException | java.net.ConnectException e) {
      throw e;
    } catch (IOException e) {
      if (!request.method().equals("POST")) {
        throw e;
      }
      return retry(c, request, e);
    }
  }

  private static HttpResponse<byte[]> retry(HttpClient c, HttpRequest request, IOException first) throws IOException, InterruptedException {
    try {
      return c.send(request, HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException second) {
      second.addSuppressed(first);
      throw second;
    }
  }

  private static TidesyncException failure(String where, int status, HttpHeaders headers, byte[] body) {
    String[] error = Wire.readError(body);
    String code = error != null ? error[0] : "http_" + status;
    String message = error != null && error[1] != null ? error[1] : cut(new String(body, StandardCharsets.UTF_8).strip());
    String text = where + ": HTTP " + status + " " + code + (message.isEmpty() ? "" : ": " + message);
    Optional<Duration> retryAfter = retryAfter(headers);
    if (status == 429) {
      return new RetryAfterException(text, retryAfter.orElse(DEFAULT_RETRY_AFTER));
    }
    if (status >= 500) {
      return retryAfter.<TidesyncException>map(d -> new RetryAfterException(text, d))
          .orElseGet(() -> new TidesyncException(text, true));
    }
    // 4xx (and unexpected 1xx/3xx): the same request will fail the same way.
    return new ProtocolException(code, status, text);
  }

  /** Retry-After as delta-seconds or an HTTP date; empty when absent or unreadable. */
  static Optional<Duration> retryAfter(HttpHeaders headers) {
    Optional<String> v = headers.firstValue("Retry-After").map(String::strip);
    if (v.isEmpty() || v.get().isEmpty()) {
      return Optional.empty();
    }
    try {
      return Optional.of(Duration.ofSeconds(Math.max(0, Long.parseLong(v.get()))));
    } catch (NumberFormatException e) {
      // not seconds: try the date form
    }
    try {
      ZonedDateTime at = ZonedDateTime.parse(v.get(), DateTimeFormatter.RFC_1123_DATE_TIME);
      Duration d = Duration.between(ZonedDateTime.now(at.getZone()), at);
      return Optional.of(d.isNegative() ? Duration.ZERO : d);
    } catch (DateTimeParseException e) {
      return Optional.empty();
    }
  }

  private static byte[] decode(String where, HttpResponse<byte[]> response) {
    byte[] body = response.body() == null ? new byte[0] : response.body();
    String encoding = response.headers().firstValue("Content-Encoding").orElse("").strip().toLowerCase(Locale.ROOT);
    if (!encoding.equals("gzip") && !encoding.equals("x-gzip")) {
      return body;
    }
    try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(body))) {
      return in.readAllBytes();
    } catch (IOException e) {
      // A damaged answer is a transport problem: asking again may well work.
      throw new TidesyncException(where + ": response is not valid gzip: " + reason(e), true, e);
    }
  }

  // ---------------------------------------------------------------- helpers

  private URI uri(String dataset, String action, String query) {
    Objects.requireNonNull(dataset, "dataset");
    String s = baseUrl + "/v1/datasets/" + encode(dataset) + "/" + action;
    return URI.create(query == null ? s : s + "?" + query);
  }

  private static String encode(String s) {
    // URLEncoder is form encoding; %20 is right in both a path segment and a query.
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }

  private static String withoutQuery(URI uri) {
    String s = uri.toString();
    int q = s.indexOf('?');
    return q < 0 ? s : s.substring(0, q);
  }

  private static byte[] gzip(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, data.length / 4));
    // The fastest level: JSON of rows compresses about 4x even so, and at the default level
    // compressing a batch cost more CPU than sending it.
    try (GZIPOutputStream gz = new GZIPOutputStream(out, 8192) {
      {
        def.setLevel(java.util.zip.Deflater.BEST_SPEED);
      }
    }) {
      gz.write(data);
    } catch (IOException e) {
      throw new IllegalStateException("gzip into memory failed", e);
    }
    return out.toByteArray();
  }

  private static String reason(Throwable e) {
    // JDK HttpClient often throws ConnectException with a null message: name the type then.
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t.getMessage() != null && !t.getMessage().isBlank()) {
        return t.getClass().getSimpleName() + ": " + cut(t.getMessage());
      }
    }
    return e.getClass().getSimpleName();
  }

  private static String cut(String s) {
    return s.length() <= MAX_MESSAGE ? s : s.substring(0, MAX_MESSAGE - 3) + "...";
  }
}
