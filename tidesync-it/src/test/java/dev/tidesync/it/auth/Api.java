package dev.tidesync.it.auth;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Checksums;
import dev.tidesync.protocol.Wire;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/** Raw HTTP to a real server on 127.0.0.1, so that tests can send what no well-behaved client would. */
public final class Api {
  /** A finished exchange: status, Retry-After / WWW-Authenticate headers, body text. */
  public record Answer(int status, String retryAfter, String wwwAuthenticate, String body) {
    @Override
    public String toString() {
      return status + " " + body;
    }
  }

  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  private final String url;

  public Api(String url) {
    this.url = url;
  }

  public Answer get(String path, String token, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).GET();
    return send(b, token, headers);
  }

  /**
   * Lists datasets with {@code token} until the first 429 (at most {@code max} requests), checking
   * that the 429 says when to come back; returns how many went through.
   */
  public int untilLimited(String token, int max) throws Exception {
    for (int i = 0; i < max; i++) {
      Answer r = get("/v1/datasets", token);
      if (r.status() == 429) {
        assertThat(r.retryAfter()).as("Retry-After in whole seconds").matches("[1-9][0-9]*");
        assertThat(r.body()).contains("\"error\":\"rate_limited\"");
        return i;
      }
      assertThat(r.status()).as("%s", r).isEqualTo(200);
    }
    return max;
  }

  Answer push(String dataset, String body, String token) throws Exception {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + "/v1/datasets/" + dataset + "/push"))
        .header(Wire.CHECKSUM_HEADER, Checksums.sha256(bytes))
        .POST(HttpRequest.BodyPublishers.ofByteArray(bytes));
    return send(b, token);
  }

  Answer pull(String dataset, String device, String token) throws Exception {
    return get("/v1/datasets/" + dataset + "/pull?device=" + URLEncoder.encode(device, StandardCharsets.UTF_8), token);
  }

  private Answer send(HttpRequest.Builder b, String token, String... headers) throws Exception {
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    return new Answer(r.statusCode(), r.headers().firstValue("Retry-After").orElse(null),
        r.headers().firstValue("WWW-Authenticate").orElse(null), r.body());
  }

  static final String TABLE = "{\"name\":\"notes\",\"policy\":\"field-merge\",\"columns\":[{\"name\":\"id\",\"type\":\"TEXT\",\"notNull\":false},"
      + "{\"name\":\"body\",\"type\":\"TEXT\",\"notNull\":false}],\"primaryKey\":[\"id\"],\"foreignKeys\":[]}";

  /** A push body of one {@code notes} row. */
  static String pushBody(String device, String batch, String id, String body) {
    String changes = change(id, body, "");
    return "{\"v\":1,\"device\":\"" + device + "\",\"batch\":\"" + batch + "\",\"schema\":[" + TABLE + "],\"changes\":[" + changes + "]}";
  }

  /** One change; {@code extra} is spliced into the change object (e.g. {@code ,"version":999}). */
  static String change(String id, String body, String extra) {
    return "{\"table\":\"notes\",\"pk\":[\"" + id + "\"],\"op\":\"upsert\",\"cols\":{\"body\":\"" + body + "\"},"
        + "\"hlc\":\"0001700000000000.00000.d\"" + extra + "}";
  }
}
