package dev.tidesync.client;

import dev.tidesync.protocol.TidesyncException;
import java.time.Duration;
import java.util.Objects;

/**
 * The server asked the client to come back later (429, or a 5xx with {@code Retry-After}).
 * Always retriable; {@link #retryAfter()} is the server's wish, which a backoff should not undercut.
 */
public class RetryAfterException extends TidesyncException {
  private final Duration retryAfter;

  public RetryAfterException(String message, Duration retryAfter) {
    super(message, true);
    this.retryAfter = Objects.requireNonNull(retryAfter, "retryAfter");
  }

  public Duration retryAfter() {
    return retryAfter;
  }
}
