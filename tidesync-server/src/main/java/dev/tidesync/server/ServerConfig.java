package dev.tidesync.server;

/**
 * Settings of the HTTP server. Immutable: start from {@link #defaults()} and change fields with
 * the {@code with...} methods.
 *
 * @param host interface to bind (default {@code 127.0.0.1}; {@code 0.0.0.0} for all)
 * @param port TCP port (default 8787; 0 picks a free port, see {@link TidesyncServer#port()})
 * @param maxRequestBytes largest request body, counted both as sent and after gunzip, so that a
 *     small gzip bomb cannot expand past it (default 64 MiB)
 * @param maxBatchChanges most changes in one push (default 10,000)
 * @param maxPullLimit largest {@code limit} a pull or conflicts request may ask for (default 5,000)
 * @param defaultPullLimit {@code limit} of a pull that names none (default 1,000)
 * @param insecure no auth: every request acts in tenant {@code default} with full rights (local
 *     development only; off by default)
 * @param signingKey the token key (JWK or base64, see {@link Tokens#withKey(String)}), or null to
 *     use the storage's, generated on first start
 * @param deviceLimit requests per device (default 100/s, burst 200)
 * @param tenantLimit requests per tenant, all its devices together (default 1000/s, burst 2000)
 */
public record ServerConfig(
    String host,
    int port,
    long maxRequestBytes,
    int maxBatchChanges,
    int maxPullLimit,
    int defaultPullLimit,
    boolean insecure,
    String signingKey,
    RateLimit deviceLimit,
    RateLimit tenantLimit) {

  public static final String DEFAULT_HOST = "127.0.0.1";
  public static final int DEFAULT_PORT = 8787;
  public static final long DEFAULT_MAX_REQUEST_BYTES = 64L * 1024 * 1024;
  public static final int DEFAULT_MAX_BATCH_CHANGES = 10_000;
  public static final int DEFAULT_MAX_PULL_LIMIT = 5_000;
  public static final int DEFAULT_PULL_LIMIT = 1_000;
  public static final RateLimit DEFAULT_DEVICE_LIMIT = new RateLimit(100, 200);
  public static final RateLimit DEFAULT_TENANT_LIMIT = new RateLimit(1000, 2000);

  public ServerConfig {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("host is empty");
    }
    if (port < 0 || port > 65_535) {
      throw new IllegalArgumentException("port must be 0..65535, got " + port);
    }
    if (maxRequestBytes < 1024) {
      throw new IllegalArgumentException("maxRequestBytes must be at least 1024, got " + maxRequestBytes);
    }
    if (maxBatchChanges < 1) {
      throw new IllegalArgumentException("maxBatchChanges must be positive, got " + maxBatchChanges);
    }
    if (maxPullLimit < 1) {
      throw new IllegalArgumentException("maxPullLimit must be positive, got " + maxPullLimit);
    }
    if (defaultPullLimit < 1 || defaultPullLimit > maxPullLimit) {
      throw new IllegalArgumentException("defaultPullLimit must be 1.." + maxPullLimit + ", got " + defaultPullLimit);
    }
    if (deviceLimit == null || tenantLimit == null) {
      throw new IllegalArgumentException("rate limits must not be null (RateLimit.OFF turns one off)");
    }
    if (signingKey != null) {
      Tokens.withKey(signingKey); // refuses a key that is too short or unreadable, here and not at the first request
    }
  }

  public static ServerConfig defaults() {
    return new ServerConfig(DEFAULT_HOST, DEFAULT_PORT, DEFAULT_MAX_REQUEST_BYTES,
        DEFAULT_MAX_BATCH_CHANGES, DEFAULT_MAX_PULL_LIMIT, DEFAULT_PULL_LIMIT, false, null, DEFAULT_DEVICE_LIMIT, DEFAULT_TENANT_LIMIT);
  }

  public ServerConfig withHost(String h) {
    return new ServerConfig(h, port, maxRequestBytes, maxBatchChanges, maxPullLimit, defaultPullLimit, insecure, signingKey, deviceLimit, tenantLimit);
  }

  public ServerConfig withPort(int p) {
    return new ServerConfig(host, p, maxRequestBytes, maxBatchChanges, maxPullLimit, defaultPullLimit, insecure, signingKey, deviceLimit, tenantLimit);
  }

  public ServerConfig withMaxRequestBytes(long n) {
    return new ServerConfig(host, port, n, maxBatchChanges, maxPullLimit, defaultPullLimit, insecure, signingKey, deviceLimit, tenantLimit);
  }

  public ServerConfig withMaxBatchChanges(int n) {
    return new ServerConfig(host, port, maxRequestBytes, n, maxPullLimit, defaultPullLimit, insecure, signingKey, deviceLimit, tenantLimit);
  }

  /** Also lowers {@link #defaultPullLimit()} to {@code n} when it was larger. */
  public ServerConfig withMaxPullLimit(int n) {
    return new ServerConfig(host, port, maxRequestBytes, maxBatchChanges, n, Math.min(defaultPullLimit, Math.max(n, 1)), insecure,
        signingKey, deviceLimit, tenantLimit);
  }

  public ServerConfig withDefaultPullLimit(int n) {
    return new ServerConfig(host, port, maxRequestBytes, maxBatchChanges, maxPullLimit, n, insecure, signingKey, deviceLimit, tenantLimit);
  }

  /** No auth (tenant {@code default}, full rights for anyone who can connect): local development and tests only. */
  public ServerConfig withInsecure(boolean on) {
    return new ServerConfig(host, port, maxRequestBytes, maxBatchChanges, maxPullLimit, defaultPullLimit, on, signingKey, deviceLimit, tenantLimit);
  }

  public ServerConfig withSigningKey(String key) {
    return new ServerConfig(host, port, maxRequestBytes, maxBatchChanges, maxPullLimit, defaultPullLimit, insecure, key, deviceLimit, tenantLimit);
  }

  public ServerConfig withDeviceLimit(RateLimit l) {
    return new ServerConfig(host, port, maxRequestBytes, maxBatchChanges, maxPullLimit, defaultPullLimit, insecure, signingKey, l, tenantLimit);
  }

  public ServerConfig withTenantLimit(RateLimit l) {
    return new ServerConfig(host, port, maxRequestBytes, maxBatchChanges, maxPullLimit, defaultPullLimit, insecure, signingKey, deviceLimit, l);
  }

  /** Without the signing key: configurations get logged. */
  @Override
  public String toString() {
    return "ServerConfig[host=" + host + ", port=" + port + ", maxRequestBytes=" + maxRequestBytes + ", maxBatchChanges=" + maxBatchChanges
        + ", maxPullLimit=" + maxPullLimit + ", defaultPullLimit=" + defaultPullLimit + ", insecure=" + insecure
        + ", signingKey=" + (signingKey == null ? "from storage" : "(given)") + ", deviceLimit=" + deviceLimit + ", tenantLimit=" + tenantLimit + "]";
  }
}
