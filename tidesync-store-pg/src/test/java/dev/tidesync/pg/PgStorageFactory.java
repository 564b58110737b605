package dev.tidesync.pg;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.WallClock;
import dev.tidesync.tck.StorageFactory;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The PostgreSQL store for the contract suite and the end-to-end tests. All storages of a test
 * JVM share one fresh database ({@link PgTestDatabase}); each storage directory stands for a
 * namespace of its own in it (its own catalog and dataset schemas), so tests do not see each
 * other, and the same directory opened again finds its data, as a restarted server does.
 */
public final class PgStorageFactory implements StorageFactory {
  private static final Map<Path, String> NAMESPACES = new ConcurrentHashMap<>();
  private static final AtomicInteger COUNTER = new AtomicInteger();
  private static PgTestDatabase database;

  private static synchronized PgTestDatabase database() {
    if (database == null) {
      database = PgTestDatabase.create();
      Runtime.getRuntime().addShutdownHook(new Thread(database::close));
    }
    return database;
  }

  @Override
  public String name() {
    return "pg";
  }

  @Override
  public Storage open(Path dir, WallClock wall, long maxDriftMillis) {
    String ns = NAMESPACES.computeIfAbsent(dir.toAbsolutePath().normalize(), d -> "t" + COUNTER.incrementAndGet());
    // A small pool: a test JVM opens many storages, and PostgreSQL's connection limit is shared.
    return PgStorage.open(database().url(), wall, maxDriftMillis, 4, ns);
  }

  /** PostgreSQL columns are typed: an untyped SQLite column becomes text (README, PostgreSQL storage). */
  @Override
  public boolean untypedColumnsHoldAnyClass() {
    return false;
  }

  /** Foreign keys are triggers in PostgreSQL: a replica's session fires none (the capture trigger neither). */
  @Override
  public String foreignKeysOff() {
    return "SET session_replication_role = replica";
  }

  /** A connection whose search path is the dataset's schema, as a backend service would set it. */
  @Override
  public Connection backend(Storage storage, DatasetId id) throws SQLException {
    String schema = ((PgStorage) storage).schemaOf(id).orElseThrow(() -> new SQLException("no dataset " + id));
    Connection c = database().connect();
    try (Statement s = c.createStatement()) {
      s.execute("SET search_path TO " + schema);
    } catch (SQLException e) {
      c.close();
      throw e;
    }
    return c;
  }
}
