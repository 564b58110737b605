package dev.tidesync.server.internal;

import dev.tidesync.core.Storage;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TokenClaims;
import dev.tidesync.server.Tokens;
import io.javalin.http.Context;
import java.time.Instant;
import java.util.OptionalLong;

/**
 * Authenticates a request: the bearer token's signature and window, then the rate limits, then
 * revocation. In that order because each step is dearer than the one before: a flood of forged
 * tokens costs one HMAC each, and a flood of valid ones is refused before it reaches the storage.
 */
public final class Auth {
  private final Storage storage;
  private final Tokens tokens;
  private final RateLimiter perDevice;
  private final RateLimiter perTenant;

  /** {@code tokens} is null in insecure mode. */
  public Auth(Storage storage, Tokens tokens, ServerConfig config) {
    this.storage = storage;
    this.tokens = tokens;
    this.perDevice = new RateLimiter(config.deviceLimit());
    this.perTenant = new RateLimiter(config.tenantLimit());
  }

  Caller caller(Context ctx) {
    if (tokens == null) {
      limit(perTenant, Storage.DEFAULT_TENANT, "tenant");
      return new Caller(Storage.DEFAULT_TENANT, null);
    }
    String header = ctx.header("Authorization");
    if (header == null || header.isBlank()) {
      throw new ProtocolException("token_missing", 401, "no token: send the header 'Authorization: Bearer <token>'");
    }
    String h = header.strip();
    if (h.length() < 7 || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw new ProtocolException("token_invalid", 401, "the Authorization header must be 'Bearer <token>'");
    }
    TokenClaims claims = tokens.verify(h.substring(7), Instant.now());
    // The device's own bucket first: one noisy device is stopped before it uses up its tenant's.
    limit(perDevice, claims.tenant() + "\u0000" + claims.device(), "device");
    limit(perTenant, claims.tenant(), "tenant");
    OptionalLong revoked = storage.state().revokedAt(claims.tenant(), claims.device());
    if (revoked.isPresent() && claims.issuedAt().toEpochMilli() <= revoked.getAsLong()) {
      throw new ProtocolException("token_revoked", 401, "device '" + claims.device() + "' was revoked at "
          + Instant.ofEpochMilli(revoked.getAsLong()) + "; tokens issued until then are refused, ask for a new one");
    }
    return new Caller(claims.tenant(), claims);
  }

  private static void limit(RateLimiter limiter, String key, String what) {
    long wait = limiter.acquire(key, System.nanoTime());
    if (wait > 0) {
      throw new RateLimitedException("too many requests for this " + what + "; retry in " + wait + " ms", wait);
    }
  }
}
