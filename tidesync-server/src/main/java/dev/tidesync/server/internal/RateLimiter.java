package dev.tidesync.server.internal;

import dev.tidesync.server.RateLimit;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Token buckets by key (a tenant, or a tenant's device). In memory and per process: a limit is a
 * guard against floods, not an accounting, so several server processes each apply it on their own.
 */
final class RateLimiter {
  /** Past this many buckets, full (idle) ones are dropped so that many devices cannot grow the map forever. */
  private static final int PRUNE_AT = 50_000;

  private final RateLimit limit;
  private final Map<String, Bucket> buckets = new ConcurrentHashMap<>();

  RateLimiter(RateLimit limit) {
    this.limit = limit;
  }

  /** 0 when the request may go ahead (and is counted), else the milliseconds until it could. */
  long acquire(String key, long nowNanos) {
    if (limit.off()) {
      return 0;
    }
    if (buckets.size() > PRUNE_AT) {
      buckets.values().removeIf(b -> b.full(nowNanos));
    }
    return buckets.computeIfAbsent(key, k -> new Bucket(limit, nowNanos)).take(nowNanos);
  }

  private static final class Bucket {
    private final double perNano;
    private final double burst;
    private double tokens;
    private long last;

    Bucket(RateLimit l, long now) {
      this.perNano = l.perSecond() / 1e9;
      this.burst = l.burst();
      this.tokens = l.burst();
      this.last = now;
    }

    synchronized long take(long now) {
      refill(now);
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      return (long) Math.ceil((1 - tokens) / perNano / 1e6);
    }

    synchronized boolean full(long now) {
      refill(now);
      return tokens >= burst;
    }

    private void refill(long now) {
      tokens = Math.min(burst, tokens + (now - last) * perNano);
      last = now;
    }
  }
}
