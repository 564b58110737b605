package dev.tidesync.server.internal;

import dev.tidesync.protocol.TidesyncException;

/** 429: over a rate limit. Retriable after {@link #retryAfterSeconds()}, which the answer's Retry-After carries. */
final class RateLimitedException extends TidesyncException {
  private final long retryAfterSeconds;

  RateLimitedException(String message, long retryAfterMillis) {
    super(message, true);
    this.retryAfterSeconds = Math.max(1, (retryAfterMillis + 999) / 1000);
  }

  long retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
