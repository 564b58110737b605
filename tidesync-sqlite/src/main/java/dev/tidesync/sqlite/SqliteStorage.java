package dev.tidesync.sqlite;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetNames;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.ServerState;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.WallClock;
import dev.tidesync.sqlite.internal.Sql;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * The embedded store: one SQLite file per dataset, {@code DIR/<tenant>/<dataset>.db}, and the
 * server-wide state (signing key, revocations) in {@code DIR/_server.db}. Operator commands may
 * open the same directory while a server runs: SQLite's locks keep them consistent.
 */
public final class SqliteStorage implements Storage {
  /** Remote clocks further ahead than this are not trusted (default 5 minutes). */
  public static final long DEFAULT_MAX_DRIFT_MILLIS = 5 * 60_000L;

  private final Path dir;
  private final WallClock wall;
  private final long maxDriftMillis;
  private final Map<DatasetId, SqliteDatasetStore> open = new ConcurrentHashMap<>();
  private final State state = new State();

  private SqliteStorage(Path dir, WallClock wall, long maxDriftMillis) {
    this.dir = dir;
    this.wall = wall;
    this.maxDriftMillis = maxDriftMillis;
  }

  public static SqliteStorage open(Path dir) {
    return open(dir, WallClock.SYSTEM, DEFAULT_MAX_DRIFT_MILLIS);
  }

  public static SqliteStorage open(Path dir, WallClock wall, long maxDriftMillis) {
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create data directory " + dir, e);
    }
    return new SqliteStorage(dir, wall, maxDriftMillis);
  }

  public Path directory() {
    return dir;
  }

  /** The file that holds (or would hold) the dataset. */
  public Path fileOf(DatasetId id) {
    return dir.resolve(id.tenant()).resolve(id.name() + ".db");
  }

  @Override
  public Optional<DatasetStore> find(DatasetId id) {
    SqliteDatasetStore s = open.get(id);
    if (s != null) {
      return Optional.of(s);
    }
    if (!Files.exists(fileOf(id))) {
      return Optional.empty();
    }
    return Optional.of(openOrCreate(id));
  }

  @Override
  public DatasetStore openOrCreate(DatasetId id) {
    return open.computeIfAbsent(id, d -> {
      try {
        Files.createDirectories(fileOf(d).getParent());
      } catch (IOException e) {
        throw new UncheckedIOException("cannot create tenant directory for " + d, e);
      }
      return SqliteDatasetStore.open(d.name(), fileOf(d), wall, maxDriftMillis);
    });
  }

  @Override
  public List<DatasetId> datasets() {
    List<DatasetId> out = new ArrayList<>();
    try (Stream<Path> tenants = Files.list(dir)) {
      for (Path t : tenants.filter(Files::isDirectory).toList()) {
        String tenant = t.getFileName().toString();
        if (!DatasetNames.valid(tenant)) {
          continue;
        }
        try (Stream<Path> files = Files.list(t)) {
          files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".db")).map(n -> n.substring(0, n.length() - 3))
              .filter(DatasetNames::valid).forEach(n -> out.add(new DatasetId(tenant, n)));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    out.sort(null);
    return out;
  }

  @Override
  public boolean drop(DatasetId id) {
    SqliteDatasetStore s = open.remove(id);
    if (s != null) {
      s.close();
    }
    Path file = fileOf(id);
    try {
      boolean existed = Files.deleteIfExists(file);
      Files.deleteIfExists(file.resolveSibling(file.getFileName() + "-wal"));
      Files.deleteIfExists(file.resolveSibling(file.getFileName() + "-shm"));
      return existed;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + file, e);
    }
  }

  @Override
  public ServerState state() {
    return state;
  }

  @Override
  public void close() {
    open.values().forEach(SqliteDatasetStore::close);
    open.clear();
    state.closeReader();
  }

  /**
   * {@code DIR/_server.db}: written by operator commands from other processes (opened per call),
   * read on every authenticated request (through one connection kept open).
   */
  private final class State implements ServerState {
    private Connection connect() throws java.sql.SQLException {
      Connection c = Sql.open(dir.resolve("_server.db"), true, false);
      try {
        Sql.exec(c, "CREATE TABLE IF NOT EXISTS keys (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
        Sql.exec(c, "CREATE TABLE IF NOT EXISTS revocations (tenant TEXT NOT NULL, device TEXT NOT NULL, at INTEGER NOT NULL, "
            + "PRIMARY KEY (tenant, device))");
        return c;
      } catch (java.sql.SQLException | RuntimeException e) {
        Sql.closeQuietly(c);
        throw e;
      }
    }

    @Override
    public String signingKey(Supplier<String> generate) {
      try (Connection c = connect()) {
        return Sql.inTx(c, "reading the signing key", () -> {
          String have = Sql.string(c, "SELECT v FROM keys WHERE k = 'signing'");
          if (have != null) {
            return have;
          }
          String made = generate.get();
          Sql.update(c, "INSERT INTO keys (k, v) VALUES ('signing', ?)", made);
          return made;
        });
      } catch (java.sql.SQLException e) {
        throw new StoreException("opening " + dir.resolve("_server.db"), e);
      }
    }

    @Override
    public void revokeDevice(String tenant, String device, long atMillis) {
      try (Connection c = connect()) {
        Sql.inTx(c, "revoking a device", () -> Sql.update(c, "INSERT INTO revocations (tenant, device, at) VALUES (?, ?, ?) "
            + "ON CONFLICT (tenant, device) DO UPDATE SET at = max(at, excluded.at)", tenant, device, atMillis));
      } catch (java.sql.SQLException e) {
        throw new StoreException("opening " + dir.resolve("_server.db"), e);
      }
    }

    /**
     * Kept open: read on every authenticated request. Each read is a transaction of its own, so
     * it sees the revocations other processes committed before it.
     */
    private Connection reader;

    private synchronized void closeReader() {
      if (reader != null) {
        Sql.closeQuietly(reader);
        reader = null;
      }
    }

    @Override
    public synchronized OptionalLong revokedAt(String tenant, String device) {
      try {
        if (reader == null) {
          reader = connect();
        }
        Connection c = reader;
        return Sql.readTx(c, "reading revocations", () -> {
          try (var ps = c.prepareStatement("SELECT at FROM revocations WHERE tenant = ? AND device = ?")) {
            ps.setString(1, tenant);
            ps.setString(2, device);
            try (var rs = ps.executeQuery()) {
              return rs.next() ? OptionalLong.of(rs.getLong(1)) : OptionalLong.empty();
            }
          }
        });
      } catch (java.sql.SQLException e) {
        closeReader();
        throw new StoreException("opening " + dir.resolve("_server.db"), e);
      } catch (RuntimeException e) {
        closeReader(); // a broken connection is not reused
        throw e;
      }
    }
  }
}
