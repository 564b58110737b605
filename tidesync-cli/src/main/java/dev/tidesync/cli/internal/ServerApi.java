package dev.tidesync.cli.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tidesync.protocol.Wire;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** Reads the server's JSON endpoints ({@code /v1/status}, {@code /v1/datasets/{ds}/conflicts}). */
public final class ServerApi {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private final String baseUrl;
  private final String token;
  private final HttpClient http = HttpClient.newBuilder()
      .version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10))
      .build();

  /** {@code baseUrl} must have passed {@link Checks#serverUrl}; {@code token} may be null (insecure server). */
  public ServerApi(String baseUrl, String token) {
    this.baseUrl = Checks.trimSlashes(baseUrl);
    this.token = token;
  }

  public String baseUrl() {
    return baseUrl;
  }

  /**
   * GETs {@code path} (with its query) and parses the JSON answer.
   *
   * @throws CliException with a one-line reason when the server cannot be reached or answers with
   *     an error
   */
  public JsonNode get(String path) {
    URI uri = URI.create(baseUrl + path);
    HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(TIMEOUT).header("Accept", "application/json").GET();
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    HttpRequest request = b.build();
    HttpResponse<byte[]> response;
    try {
      response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
    } catch (HttpTimeoutException e) {
      throw new CliException("the server at " + baseUrl + " did not answer within " + Durations.human(TIMEOUT), e);
    } catch (IOException e) {
      throw new CliException(unreachable(baseUrl, e), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CliException("interrupted", e);
    }
    byte[] body = response.body();
    if (response.statusCode() / 100 != 2) {
      String[] error = Wire.readError(body);
      String reason = error != null ? error[0] + (error[1] == null ? "" : ": " + error[1])
          : Checks.oneLine(new String(body, StandardCharsets.UTF_8));
      String hint = response.statusCode() == 401 && token == null ? " (give --token, or set TIDESYNC_TOKEN)" : "";
      throw new CliException("GET " + uri.getPath() + " answered HTTP " + response.statusCode() + (reason.isEmpty() ? "" : " " + reason) + hint);
    }
    try {
      return JSON.readTree(body);
    } catch (IOException e) {
      throw new CliException("GET " + uri.getPath() + " answered with something that is not JSON (is " + baseUrl + " a Tidesync server?)", e);
    }
  }

  /** "cannot reach the server at URL (connection refused)" and the like. */
  public static String unreachable(String baseUrl, Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ConnectException) {
        return "cannot reach the server at " + baseUrl + " (connection refused)";
      }
    }
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + e.getMessage();
    return "cannot reach the server at " + baseUrl + " (" + Checks.oneLine(m) + ")";
  }
}
