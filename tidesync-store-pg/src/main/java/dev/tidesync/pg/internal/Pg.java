package dev.tidesync.pg.internal;

import dev.tidesync.pg.PgStoreException;
import dev.tidesync.protocol.Identifiers;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;

/** Small JDBC helpers for the PostgreSQL store. */
public final class Pg {
  /** First key of every advisory lock Tidesync takes (the second is a dataset id, or 0 for the catalog). */
  public static final int LOCK_CLASS = 0x7464; // "td"

  private Pg() {}

  public static String q(String identifier) {
    return Identifiers.quote(identifier);
  }

  /** A string literal for DDL text (trigger bodies), with quotes doubled. */
  public static String lit(String s) {
    return "'" + s.replace("'", "''") + "'";
  }

  public static void exec(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  public static void bindAll(PreparedStatement ps, Object... args) throws SQLException {
    for (int i = 0; i < args.length; i++) {
      ps.setObject(i + 1, args[i]);
    }
  }

  public static String string(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      bindAll(ps, args);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  public static long number(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      bindAll(ps, args);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : 0;
      }
    }
  }

  public static int update(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      bindAll(ps, args);
      return ps.executeUpdate();
    }
  }

  /** Blocks until this transaction holds the lock (released by its commit or rollback). */
  public static void lock(Connection c, long id) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("SELECT pg_advisory_xact_lock(?, ?)")) {
      ps.setInt(1, LOCK_CLASS);
      ps.setInt(2, (int) id);
      ps.execute();
    }
  }

  @FunctionalInterface
  public interface TxBody<T> {
    T run(Connection c) throws SQLException;
  }

  /**
   * A write transaction in READ COMMITTED: every statement sees what committed before it began.
   * That is what writers need here: they take a dataset's advisory lock first and must then see
   * everything the previous holder committed (a REPEATABLE READ snapshot, taken by the lock
   * statement itself, could predate that commit).
   */
  public static <T> T inTx(DataSource pool, String what, TxBody<T> body) {
    return tx(pool, Connection.TRANSACTION_READ_COMMITTED, false, what, body);
  }

  /** A read-only REPEATABLE READ transaction: one snapshot for every statement. */
  public static <T> T readTx(DataSource pool, String what, TxBody<T> body) {
    return tx(pool, Connection.TRANSACTION_REPEATABLE_READ, true, what, body);
  }

  private static <T> T tx(DataSource pool, int isolation, boolean readOnly, String what, TxBody<T> body) {
    try (Connection c = pool.getConnection()) {
      c.setAutoCommit(false);
      c.setTransactionIsolation(isolation);
      c.setReadOnly(readOnly);
      try {
        T out = body.run(c);
        c.commit();
        return out;
      } catch (SQLException | RuntimeException | Error e) {
        try {
          c.rollback();
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
        throw e;
      }
    } catch (SQLException e) {
      throw new PgStoreException(what + " failed", e);
    }
  }
}
