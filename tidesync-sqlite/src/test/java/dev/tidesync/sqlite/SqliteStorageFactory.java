package dev.tidesync.sqlite;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.WallClock;
import dev.tidesync.tck.StorageFactory;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;

/** The embedded store for the contract suite and the end-to-end tests: a directory of SQLite files. */
public final class SqliteStorageFactory implements StorageFactory {
  @Override
  public String name() {
    return "sqlite";
  }

  @Override
  public Storage open(Path dir, WallClock wall, long maxDriftMillis) {
    return SqliteStorage.open(dir, wall, maxDriftMillis);
  }

  /** A connection to the dataset's file, as the sqlite3 shell or a backend's own JDBC code opens it. */
  @Override
  public Connection backend(Storage storage, DatasetId id) throws SQLException {
    Connection c = DriverManager.getConnection("jdbc:sqlite:" + ((SqliteStorage) storage).fileOf(id).toAbsolutePath());
    try (Statement s = c.createStatement()) {
      s.execute("PRAGMA busy_timeout = 10000");
      s.execute("PRAGMA foreign_keys = ON");
    } catch (SQLException e) {
      c.close();
      throw e;
    }
    return c;
  }

  @Override
  public String foreignKeysOff() {
    return "PRAGMA foreign_keys = OFF";
  }

  /** SQLite stores an integral REAL as an integer, so a REAL column turns -0.0 into 0.0 (docs/PROTOCOL.md). */
  @Override
  public boolean realColumnsKeepNegativeZero() {
    return false;
  }
}
