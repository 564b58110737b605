package dev.tidesync.pg;

import static dev.tidesync.pg.internal.Pg.exec;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.ServerState;
import dev.tidesync.core.Storage;
import dev.tidesync.pg.internal.Pg;
import dev.tidesync.protocol.WallClock;
import java.security.SecureRandom;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PostgreSQL store: every dataset in its own schema ({@code ds_<id>}), a catalog of datasets
 * and the server-wide state in schema {@code tidesync}, reached through a HikariCP pool. All
 * state lives in the database, so several server processes (and the operator's commands) can
 * share one PostgreSQL at once.
 */
public final class PgStorage implements Storage {
  /** Remote clocks further ahead than this are not trusted (default 5 minutes). */
  public static final long DEFAULT_MAX_DRIFT_MILLIS = 5 * 60_000L;
  public static final int DEFAULT_POOL_SIZE = 16;
  /**
   * How often (ms) this process writes the devices' pull statistics, which pulls only note in
   * memory: the most that another server process's status can lag behind this one's pulls, and
   * the most a crash of this process loses. Its own status requests flush first.
   */
  public static final long DEFAULT_PULL_STATS_MILLIS = 500;
  private static final Logger LOG = LoggerFactory.getLogger(PgStorage.class);

  private static final java.util.regex.Pattern NAMESPACE = java.util.regex.Pattern.compile("[a-z][a-z0-9_]{0,19}");

  private final HikariDataSource pool;
  /** Schema of the catalog and server state: {@code tidesync}, or {@code tidesync_<namespace>}. */
  private final String catalog;
  /** Prefix of dataset schemas: {@code ds_}, or {@code <namespace>_ds_}. */
  private final String prefix;
  private final WallClock wall;
  private final long maxDriftMillis;
  private final Map<DatasetId, PgDatasetStore> open = new ConcurrentHashMap<>();
  private final State state = new State();
  private final ScheduledExecutorService statsFlusher;

  private PgStorage(HikariDataSource pool, WallClock wall, long maxDriftMillis, String namespace) {
    this.pool = pool;
    this.catalog = namespace.isEmpty() ? "tidesync" : "tidesync_" + namespace;
    this.prefix = namespace.isEmpty() ? "ds_" : namespace + "_ds_";
    this.wall = wall;
    this.maxDriftMillis = maxDriftMillis;
    this.statsFlusher = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "tidesync-pg-pull-stats");
      t.setDaemon(true);
      return t;
    });
  }

  /** Opens a pool on {@code jdbcUrl} ({@code jdbc:postgresql://host:port/db?user=...}) and creates the catalog if needed. */
  public static PgStorage open(String jdbcUrl) {
    return open(jdbcUrl, WallClock.SYSTEM, DEFAULT_MAX_DRIFT_MILLIS, DEFAULT_POOL_SIZE);
  }

  public static PgStorage open(String jdbcUrl, WallClock wall, long maxDriftMillis, int poolSize) {
    return open(jdbcUrl, wall, maxDriftMillis, poolSize, "");
  }

  /**
   * As {@link #open(String, WallClock, long, int)}, keeping everything under {@code namespace}
   * ({@code [a-z][a-z0-9_]{0,19}}; empty for the default): several independent Tidesync
   * installations (or test runs) can share one database without seeing each other.
   */
  public static PgStorage open(String jdbcUrl, WallClock wall, long maxDriftMillis, int poolSize, String namespace) {
    return open(jdbcUrl, wall, maxDriftMillis, poolSize, namespace, DEFAULT_PULL_STATS_MILLIS);
  }

  /**
   * As {@link #open(String, WallClock, long, int, String)}, writing the pull statistics every
   * {@code pullStatsMillis} instead of {@link #DEFAULT_PULL_STATS_MILLIS}.
   */
  public static PgStorage open(String jdbcUrl, WallClock wall, long maxDriftMillis, int poolSize, String namespace,
      long pullStatsMillis) {
    if (pullStatsMillis < 1) {
      throw new IllegalArgumentException("pullStatsMillis must be positive, got " + pullStatsMillis);
    }
    if (!namespace.isEmpty() && !NAMESPACE.matcher(namespace).matches()) {
      throw new IllegalArgumentException("namespace must match [a-z][a-z0-9_]{0,19}, got '" + namespace + "'");
    }
    if (jdbcUrl == null || !jdbcUrl.startsWith("jdbc:postgresql:")) {
      throw new IllegalArgumentException("not a PostgreSQL JDBC URL (jdbc:postgresql://host:port/database): " + jdbcUrl);
    }
    HikariConfig cfg = new HikariConfig();
    cfg.setJdbcUrl(jdbcUrl);
    cfg.setMaximumPoolSize(poolSize);
    cfg.setPoolName("tidesync-pg");
    cfg.setAutoCommit(true);
    // A JDBC batch of single-row INSERTs goes to the server as multi-row INSERTs.
    cfg.addDataSourceProperty("reWriteBatchedInserts", "true");
    // Fail fast with a clear error when the database is unreachable at start.
    cfg.setInitializationFailTimeout(3_000);
    cfg.setConnectionTimeout(30_000);
    HikariDataSource ds = new HikariDataSource(cfg);
    try {
      PgStorage s = new PgStorage(ds, wall, maxDriftMillis, namespace);
      s.createCatalog();
      // (the executor starts its thread with the first task: none when the catalog failed)
      s.statsFlusher.scheduleWithFixedDelay(s::flushPullStats, pullStatsMillis, pullStatsMillis, TimeUnit.MILLISECONDS);
      return s;
    } catch (RuntimeException | Error e) {
      ds.close();
      throw e;
    }
  }

  private void createCatalog() {
    Pg.inTx(pool, "creating the Tidesync catalog", c -> {
      // Several processes may start at once: the lock makes "create if missing" atomic.
      Pg.lock(c, 0);
      exec(c, "CREATE SCHEMA IF NOT EXISTS " + catalog);
      exec(c, "CREATE SEQUENCE IF NOT EXISTS " + catalog + ".dataset_ids");
      exec(c, "CREATE TABLE IF NOT EXISTS " + catalog + ".datasets (tenant text NOT NULL, name text NOT NULL, "
          + "id bigint NOT NULL UNIQUE, schema_name text NOT NULL UNIQUE, created bigint NOT NULL, PRIMARY KEY (tenant, name))");
      exec(c, "CREATE TABLE IF NOT EXISTS " + catalog + ".keys (k text PRIMARY KEY, v text NOT NULL)");
      exec(c, "CREATE TABLE IF NOT EXISTS " + catalog + ".revocations (tenant text NOT NULL, device text NOT NULL, "
          + "at bigint NOT NULL, PRIMARY KEY (tenant, device))");
      return null;
    });
  }

  private record Entry(long id, String schema) {}

  private Optional<Entry> lookup(DatasetId id) {
    return Pg.readTx(pool, "looking up dataset " + id, c -> {
      try (PreparedStatement ps = c.prepareStatement("SELECT id, schema_name FROM " + catalog + ".datasets WHERE tenant = ? AND name = ?")) {
        ps.setString(1, id.tenant());
        ps.setString(2, id.name());
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(new Entry(rs.getLong(1), rs.getString(2))) : Optional.<Entry>empty();
        }
      }
    });
  }

  @Override
  public Optional<DatasetStore> find(DatasetId id) {
    PgDatasetStore s = open.get(id);
    if (s != null && !s.isClosed()) {
      return Optional.of(s);
    }
    Optional<Entry> e = lookup(id);
    if (e.isEmpty()) {
      open.remove(id);
      return Optional.empty();
    }
    return Optional.of(opened(id, e.get()));
  }

  private PgDatasetStore opened(DatasetId id, Entry e) {
    return open.compute(id, (k, have) -> have != null && !have.isClosed()
        ? have : new PgDatasetStore(pool, id, e.id(), e.schema(), wall, maxDriftMillis));
  }

  @Override
  public DatasetStore openOrCreate(DatasetId id) {
    Optional<DatasetStore> found = find(id);
    if (found.isPresent()) {
      return found.get();
    }
    Entry e = Pg.inTx(pool, "creating dataset " + id, c -> {
      Pg.lock(c, 0);
      try (PreparedStatement ps = c.prepareStatement("SELECT id, schema_name FROM " + catalog + ".datasets WHERE tenant = ? AND name = ?")) {
        ps.setString(1, id.tenant());
        ps.setString(2, id.name());
        try (ResultSet rs = ps.executeQuery()) {
          if (rs.next()) {
            return new Entry(rs.getLong(1), rs.getString(2)); // another process created it meanwhile
          }
        }
      }
      long n = Pg.number(c, "SELECT nextval('" + catalog + ".dataset_ids')");
      String schema = prefix + n;
      Pg.update(c, "INSERT INTO " + catalog + ".datasets (tenant, name, id, schema_name, created) VALUES (?, ?, ?, ?, ?)",
          id.tenant(), id.name(), n, schema, wall.millis());
      exec(c, "CREATE SCHEMA " + Pg.q(schema));
      String epoch = Long.toString(Math.abs(new SecureRandom().nextLong() % 1_000_000_000L), 36);
      PgDatasetStore.createMetaTables(c, schema, epoch);
      return new Entry(n, schema);
    });
    return opened(id, e);
  }

  @Override
  public List<DatasetId> datasets() {
    return Pg.readTx(pool, "listing datasets", c -> {
      List<DatasetId> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT tenant, name FROM " + catalog + ".datasets ORDER BY tenant, name");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new DatasetId(rs.getString(1), rs.getString(2)));
        }
      }
      return out;
    });
  }

  @Override
  public List<DatasetId> datasets(String tenant) {
    return Pg.readTx(pool, "listing datasets", c -> {
      List<DatasetId> out = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT name FROM " + catalog + ".datasets WHERE tenant = ? ORDER BY name")) {
        ps.setString(1, tenant);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new DatasetId(tenant, rs.getString(1)));
          }
        }
      }
      return out;
    });
  }

  @Override
  public boolean drop(DatasetId id) {
    PgDatasetStore s = open.remove(id);
    if (s != null) {
      s.close();
    }
    return Pg.inTx(pool, "dropping dataset " + id, c -> {
      Pg.lock(c, 0);
      String schema = null;
      long n = 0;
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + catalog + ".datasets WHERE tenant = ? AND name = ? "
          + "RETURNING schema_name, id")) {
        ps.setString(1, id.tenant());
        ps.setString(2, id.name());
        try (ResultSet rs = ps.executeQuery()) {
          if (rs.next()) {
            schema = rs.getString(1);
            n = rs.getLong(2);
          }
        }
      }
      if (schema == null) {
        return false;
      }
      // The dataset lock waits out a push in flight, so it does not fail half-way.
      Pg.lock(c, n);
      exec(c, "DROP SCHEMA " + Pg.q(schema) + " CASCADE");
      return true;
    });
  }

  /** The PostgreSQL schema of a dataset, or empty: where a backend service writes its SQL. */
  public Optional<String> schemaOf(DatasetId id) {
    return lookup(id).map(Entry::schema);
  }

  @Override
  public ServerState state() {
    return state;
  }

  /**
   * Writes the pull statistics every open dataset of this process has noted (the timer does this
   * every {@code pullStatsMillis}; a dataset's status does it for itself).
   */
  void flushPullStats() {
    for (PgDatasetStore s : open.values()) {
      try {
        s.flushPullStats();
      } catch (RuntimeException e) {
        // Kept for the next flush. Caught: an exception would stop the timer for good.
        LOG.warn("writing the pull statistics of dataset {} failed (kept for the next try): {}", s.id(), e.toString());
      }
    }
  }

  @Override
  public void close() {
    // The timer first, and wait for a flush in flight: it must not run on a closed pool. Then each
    // dataset writes what it still holds (PgDatasetStore.close), then the pool closes.
    statsFlusher.shutdown();
    try {
      if (!statsFlusher.awaitTermination(30, TimeUnit.SECONDS)) {
        LOG.warn("the pull statistics timer did not stop within 30 s");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    open.values().forEach(PgDatasetStore::close);
    open.clear();
    pool.close();
  }

  private final class State implements ServerState {
    @Override
    public String signingKey(Supplier<String> generate) {
      String have = Pg.readTx(pool, "reading the signing key", c -> Pg.string(c, "SELECT v FROM " + catalog + ".keys WHERE k = 'signing'"));
      if (have != null) {
        return have;
      }
      String made = generate.get();
      // ON CONFLICT DO NOTHING: when two processes race, the first insert wins and both return it.
      return Pg.inTx(pool, "saving the signing key", c -> {
        Pg.update(c, "INSERT INTO " + catalog + ".keys (k, v) VALUES ('signing', ?) ON CONFLICT (k) DO NOTHING", made);
        return Pg.string(c, "SELECT v FROM " + catalog + ".keys WHERE k = 'signing'");
      });
    }

    @Override
    public void revokeDevice(String tenant, String device, long atMillis) {
      Pg.inTx(pool, "revoking a device", c -> Pg.update(c, "INSERT INTO " + catalog + ".revocations (tenant, device, at) VALUES (?, ?, ?) "
          + "ON CONFLICT (tenant, device) DO UPDATE SET at = greatest(" + catalog + ".revocations.at, excluded.at)", tenant, device, atMillis));
    }

    @Override
    public OptionalLong revokedAt(String tenant, String device) {
      return Pg.readTx(pool, "reading revocations", c -> {
        try (PreparedStatement ps = c.prepareStatement("SELECT at FROM " + catalog + ".revocations WHERE tenant = ? AND device = ?")) {
          ps.setString(1, tenant);
          ps.setString(2, device);
          try (ResultSet rs = ps.executeQuery()) {
            return rs.next() ? OptionalLong.of(rs.getLong(1)) : OptionalLong.empty();
          }
        }
      });
    }
  }
}
