package dev.tidesync.cli.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Base64;
import picocli.CommandLine.Option;

/**
 * {@code --token}, as every command that talks to a server takes it; {@code TIDESYNC_TOKEN} when
 * the option is absent (keeps the token out of the process list and shell history).
 */
public final class TokenOption {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--token", paramLabel = "TOKEN", defaultValue = "${env:TIDESYNC_TOKEN}",
      description = "The device's token from 'tidesync token create' (default: $TIDESYNC_TOKEN). Not needed for a server run with --insecure.")
  String token;

  /** The token, or null when none was given. */
  public String token() {
    return token == null || token.isBlank() ? null : token.strip();
  }

  /**
   * The device the token was issued to (its {@code sub}), read without verifying it: only the
   * server can verify, and it refuses a device that is not the token's anyway. Null when there is
   * no token or it cannot be read.
   */
  public String device() {
    String t = token();
    if (t == null) {
      return null;
    }
    String[] parts = t.split("\\.");
    if (parts.length != 3) {
      return null;
    }
    try {
      JsonNode claims = JSON.readTree(Base64.getUrlDecoder().decode(parts[1]));
      JsonNode sub = claims.path("sub");
      return sub.isTextual() ? sub.asText() : null;
    } catch (IOException | IllegalArgumentException e) {
      return null;
    }
  }
}
