package dev.tidesync.tck;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * How tests get a server {@link Storage} of one kind, and reach a dataset's database the way a
 * backend service does. One implementation per store (SQLite, PostgreSQL) serves both the
 * {@link StoreContract} suite and the end-to-end tests of {@code tidesync-it}.
 */
public interface StorageFactory {
  /** The default maximum clock drift of a server (5 minutes). */
  long DEFAULT_MAX_DRIFT_MILLIS = 5 * 60_000L;

  /** A short name for test reports: {@code sqlite}, {@code pg}. */
  String name();

  /**
   * Opens the storage that {@code dir} stands for, with {@code wall} as the server's clock.
   * A directory never used before gives an empty storage (no datasets, no server state); the
   * same directory again, after the first storage was closed, gives the same data back, as a
   * restarted server would see it. A store that keeps nothing in files uses {@code dir} only as
   * a key (e.g. to derive a database or schema prefix from it).
   */
  Storage open(Path dir, WallClock wall, long maxDriftMillis);

  default Storage open(Path dir) {
    return open(dir, WallClock.SYSTEM, DEFAULT_MAX_DRIFT_MILLIS);
  }

  /**
   * A plain JDBC connection to an existing dataset's database, as a backend service would open
   * it: unqualified table names are the dataset's tables, autocommit is on, and Tidesync's own
   * code is not involved (writes must be captured by the store's triggers). The caller closes it.
   */
  Connection backend(Storage storage, DatasetId id) throws SQLException;

  /**
   * Whether a column declared {@code REAL} keeps the sign of {@code -0.0}. SQLite stores an
   * integral REAL as an integer, so it does not (see docs/PROTOCOL.md); a store that does not
   * must still keep {@code -0.0} bit for bit in a column without a declared type.
   */
  default boolean realColumnsKeepNegativeZero() {
    return true;
  }

  /**
   * Whether a column without a declared type holds a value of any class, as in SQLite. A store
   * with typed columns (PostgreSQL) keeps text in it and must refuse the other classes, change by
   * change with a reason, rather than convert them.
   */
  default boolean untypedColumnsHoldAnyClass() {
    return true;
  }

  /**
   * The statement that turns foreign-key checks off for the rest of a backend connection's
   * session, as an operator's shell may have them (SQLite's are off unless a connection turns
   * them on): how a row that fails its foreign key gets into a dataset.
   */
  String foreignKeysOff();

  /** Runs plain SQL statements in the dataset's database, each in its own transaction. */
  default void backendSql(Storage storage, DatasetId id, String... sql) {
    try (Connection c = backend(storage, id); Statement s = c.createStatement()) {
      for (String q : sql) {
        s.execute(q);
      }
    } catch (SQLException e) {
      throw new IllegalStateException("backend SQL in " + id + " failed: " + e.getMessage(), e);
    }
  }
}
