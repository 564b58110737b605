package dev.tidesync.client;

import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A client's configuration, validated once by {@link Builder#build()} and then immutable.
 *
 * @param database the app's SQLite file
 * @param serverUrl base URL of the sync server (ignored when {@code transport} is set)
 * @param transport a transport to use instead of HTTP (tests, in-process servers)
 * @param tables the tables to sync, or null for every table with a primary key
 * @param batchLimit changes per push request (each request holds one table's changes)
 * @param batchLimits per-table overrides of {@code batchLimit}
 * @param batchBytes the largest push request body the client builds (uncompressed JSON), so that
 *     batches of large rows stay within the server's request limit and the device's memory; a
 *     row larger than this by itself still goes alone
 * @param token the bearer token sent with every request (null for a server in insecure mode)
 */
public record ClientConfig(
    Path database,
    String serverUrl,
    Transport transport,
    String dataset,
    String deviceId,
    Set<String> tables,
    Map<String, ConflictPolicy> policies,
    int batchLimit,
    Map<String, Integer> batchLimits,
    long batchBytes,
    int pullLimit,
    Duration interval,
    Duration debounce,
    long maxDriftMillis,
    WallClock wall,
    SyncListener listener,
    String token) {

  /** Without the token: configurations get logged. */
  @Override
  public String toString() {
    return "ClientConfig[database=" + database + ", server=" + serverUrl + ", dataset=" + dataset + ", device=" + deviceId
        + ", tables=" + tables + ", token=" + (token == null ? "none" : "(set)") + "]";
  }

  /** The default of {@link Builder#batchBytes}: well under the server's default request limit (64 MiB). */
  public static final long DEFAULT_BATCH_BYTES = 8L * 1024 * 1024;

  /** The smallest {@link Builder#batchBytes}: the schema travels with every batch. */
  public static final long MIN_BATCH_BYTES = 16 * 1024;

  /** Changes per push request for {@code table}: its own limit, else {@link #batchLimit}. */
  public int batchLimit(String table) {
    return batchLimits.getOrDefault(table, batchLimit);
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Mutable until {@link #build()}; then the configuration is frozen. */
  public static final class Builder {
    private Path database;
    private String serverUrl;
    private Transport transport;
    private String dataset;
    private String deviceId;
    private Set<String> tables;
    private final Map<String, ConflictPolicy> policies = new HashMap<>();
    private int batchLimit = 1000;
    private final Map<String, Integer> batchLimits = new HashMap<>();
    private long batchBytes = DEFAULT_BATCH_BYTES;
    private int pullLimit = 1000;
    private Duration interval = Duration.ofSeconds(30);
    private Duration debounce = Duration.ofMillis(500);
    private long maxDriftMillis = 5 * 60_000L;
    private WallClock wall = WallClock.SYSTEM;
    private SyncListener listener = SyncListener.NONE;
    private String token;

    public Builder database(Path p) {
      this.database = p;
      return this;
    }

    public Builder server(String url) {
      this.serverUrl = url;
      return this;
    }

    public Builder transport(Transport t) {
      this.transport = t;
      return this;
    }

    public Builder dataset(String d) {
      this.dataset = d;
      return this;
    }

    public Builder deviceId(String id) {
      this.deviceId = id;
      return this;
    }

    public Builder tables(Set<String> t) {
      this.tables = t == null ? null : new LinkedHashSet<>(t);
      return this;
    }

    public Builder policy(String table, ConflictPolicy p) {
      policies.put(table, p);
      return this;
    }

    /** Changes per push request (a request holds one table's changes), for every table without its own limit. */
    public Builder batchLimit(int n) {
      this.batchLimit = n;
      return this;
    }

    /** Changes per push request for one table (rows with large values want smaller batches). */
    public Builder batchLimit(String table, int n) {
      batchLimits.put(Objects.requireNonNull(table, "table"), n);
      return this;
    }

    /**
     * The largest push request body to build, in bytes of uncompressed JSON (default {@value
     * ClientConfig#DEFAULT_BATCH_BYTES}): a batch stops at this size even short of its row limit.
     */
    public Builder batchBytes(long n) {
      this.batchBytes = n;
      return this;
    }

    public Builder pullLimit(int n) {
      this.pullLimit = n;
      return this;
    }

    /** Background mode: the longest time between syncs. */
    public Builder interval(Duration d) {
      this.interval = d;
      return this;
    }

    /** Background mode: how long after a local commit to sync (more commits in the window join it). */
    public Builder debounce(Duration d) {
      this.debounce = d;
      return this;
    }

    public Builder maxDrift(Duration d) {
      this.maxDriftMillis = d.toMillis();
      return this;
    }

    public Builder clock(WallClock w) {
      this.wall = w;
      return this;
    }

    /** The device's token (see the server's {@code tidesync token create}); sent as {@code Authorization: Bearer}. */
    public Builder token(String t) {
      this.token = t;
      return this;
    }

    public Builder listener(SyncListener l) {
      this.listener = l;
      return this;
    }

    public ClientConfig build() {
      Objects.requireNonNull(database, "database is required");
      if (transport == null && (serverUrl == null || serverUrl.isBlank())) {
        throw new IllegalArgumentException("a server URL (or a transport) is required");
      }
      dev.tidesync.core.DatasetNames.check(dataset);
      if (batchLimit < 1 || batchLimit > 10_000) {
        throw new IllegalArgumentException("batchLimit must be 1..10000, got " + batchLimit);
      }
      batchLimits.forEach((table, n) -> {
        if (n < 1 || n > 10_000) {
          throw new IllegalArgumentException("batchLimit of table '" + table + "' must be 1..10000, got " + n);
        }
      });
      if (batchBytes < MIN_BATCH_BYTES) {
        throw new IllegalArgumentException("batchBytes must be at least " + MIN_BATCH_BYTES + ", got " + batchBytes);
      }
      if (pullLimit < 1 || pullLimit > 5_000) {
        throw new IllegalArgumentException("pullLimit must be 1..5000, got " + pullLimit);
      }
      if (interval.isNegative() || interval.isZero() || debounce.isNegative()) {
        throw new IllegalArgumentException("interval must be positive and debounce not negative");
      }
      if (token != null && (token.isBlank() || !token.strip().chars().allMatch(ch -> ch > 0x20 && ch < 0x7f))) {
        throw new IllegalArgumentException("token must be printable ASCII without spaces (a JWT)");
      }
      return new ClientConfig(database, serverUrl, transport, dataset, deviceId, tables == null ? null : Set.copyOf(tables),
          Map.copyOf(policies), batchLimit, Map.copyOf(batchLimits), batchBytes, pullLimit, interval, debounce, maxDriftMillis, wall, listener,
          token == null ? null : token.strip());
    }
  }
}
