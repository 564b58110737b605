package dev.tidesync.sqlite.internal;

import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.Identifiers;
import dev.tidesync.protocol.Values;
import dev.tidesync.sqlite.StoreException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.List;
import org.sqlite.SQLiteConfig;

/** Small JDBC helpers shared by the device replica and the server store. */
public final class Sql {
  private Sql() {}

  public static String q(String identifier) {
    return Identifiers.quote(identifier);
  }

  /** Keys that JSON carries to SQLite and back unchanged beyond doubt (UUIDs, numbers, slugs): safe in a {@link #jsonArray} lookup. */
  public static boolean printableAscii(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c > 0x7e) {
        return false;
      }
    }
    return true;
  }

  /** Strings as a JSON array: the parameter of a {@code json_each(?)} that looks many keys up in one statement. */
  public static String jsonArray(java.util.Collection<String> strings) {
    java.io.StringWriter w = new java.io.StringWriter(strings.size() * 48);
    try (com.fasterxml.jackson.core.JsonGenerator g = dev.tidesync.protocol.Wire.factory().createGenerator(w)) {
      g.writeStartArray();
      for (String k : strings) {
        g.writeString(k);
      }
      g.writeEndArray();
    } catch (java.io.IOException ex) {
      throw new java.io.UncheckedIOException(ex);
    }
    return w.toString();
  }

  /** An SQL string literal. */
  public static String lit(String s) {
    return "'" + s.replace("'", "''") + "'";
  }

  /**
   * Opens a connection in WAL mode with a busy timeout, so that our transactions wait for the
   * app's writers instead of failing. Transactions are explicit: see {@link #inTx}.
   */
  public static Connection open(java.nio.file.Path file, boolean fullSync, boolean foreignKeys) {
    SQLiteConfig cfg = new SQLiteConfig();
    cfg.setJournalMode(SQLiteConfig.JournalMode.WAL);
    cfg.setSynchronous(fullSync ? SQLiteConfig.SynchronousMode.FULL : SQLiteConfig.SynchronousMode.NORMAL);
    cfg.enforceForeignKeys(foreignKeys);
    cfg.setBusyTimeout(30_000);
    // sqlite-jdbc otherwise runs "SELECT last_insert_rowid()" (a fresh prepare) after every
    // INSERT; we never read generated keys, and it was a fifth of the cost of applying a page.
    cfg.setGetGeneratedKeys(false);
    // Opening runs the pragmas above, and switching a new file to WAL takes a lock that the busy
    // timeout does not cover: several openers at once (threads, or a server and a CLI command)
    // can get SQLITE_BUSY here. They try again, within the same 30 s.
    long until = System.nanoTime() + 30_000_000_000L;
    for (int attempt = 0; ; attempt++) {
      try {
        return cfg.createConnection("jdbc:sqlite:" + file.toAbsolutePath());
      } catch (SQLException e) {
        if (!isBusy(e) || System.nanoTime() > until) {
          throw new StoreException("cannot open SQLite database " + file, e);
        }
        try {
          Thread.sleep(Math.min(100, 1L << Math.min(attempt, 6)));
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new StoreException("interrupted while opening SQLite database " + file, e);
        }
      }
    }
  }

  /**
   * A ROLLBACK TO that found no such savepoint: after a failure inside it, SQLite ended the whole
   * transaction (a constraint ON CONFLICT ROLLBACK, a trigger's RAISE(ROLLBACK, ...)).
   */
  public static boolean noSuchSavepoint(SQLException e) {
    return e.getMessage() != null && e.getMessage().contains("no such savepoint");
  }

  /** SQLITE_BUSY or one of its extended codes. */
  private static boolean isBusy(SQLException e) {
    return e instanceof org.sqlite.SQLiteException se && (se.getResultCode().code & 0xff) == 5;
  }

  /** Closes a connection on a failure path, where a second failure must not hide the first. */
  public static void closeQuietly(Connection c) {
    try {
      c.close();
    } catch (SQLException ignored) {
      // the original failure is being reported
    }
  }

  public static void exec(Connection c, String sql) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute(sql);
    }
  }

  public static void bind(PreparedStatement ps, int index, Object v) throws SQLException {
    if (v == null) {
      ps.setNull(index, Types.NULL);
    } else if (v instanceof Long l) {
      ps.setLong(index, l);
    } else if (v instanceof Double d) {
      ps.setDouble(index, d);
    } else if (v instanceof String s) {
      ps.setString(index, s);
    } else if (v instanceof Bytes b) {
      ps.setBytes(index, b.toArray());
    } else {
      bind(ps, index, Values.normalize(v));
    }
  }

  public static void bindAll(PreparedStatement ps, int start, List<Object> values) throws SQLException {
    for (int i = 0; i < values.size(); i++) {
      bind(ps, start + i, values.get(i));
    }
  }

  public static Object read(ResultSet rs, int column) throws SQLException {
    return Values.normalize(rs.getObject(column));
  }

  public static String string(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        bind(ps, i + 1, args[i]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  public static long number(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        bind(ps, i + 1, args[i]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getLong(1) : 0;
      }
    }
  }

  public static int update(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        bind(ps, i + 1, args[i]);
      }
      return ps.executeUpdate();
    }
  }

  /** A transaction body. */
  public interface TxBody<T> {
    T run() throws SQLException;
  }

  /**
   * Runs the body in a write transaction (BEGIN IMMEDIATE, so a read-then-write never fails on
   * lock upgrade) and commits, or rolls back when it throws. Connections stay in autocommit mode
   * and transactions are explicit statements: sqlite-jdbc's setAutoCommit(false) would begin a
   * new transaction right after every commit and, in IMMEDIATE mode, hold the write lock between
   * our transactions, locking the app out.
   */
  public static <T> T inTx(Connection c, String what, TxBody<T> body) {
    return tx(c, "BEGIN IMMEDIATE", what, body);
  }

  /** A read transaction: one consistent snapshot (in WAL mode, concurrent with a writer). */
  public static <T> T readTx(Connection c, String what, TxBody<T> body) {
    return tx(c, "BEGIN", what, body);
  }

  private static <T> T tx(Connection c, String begin, String what, TxBody<T> body) {
    try {
      exec(c, begin);
      try {
        T out = body.run();
        exec(c, "COMMIT");
        return out;
      } catch (SQLException | RuntimeException | Error e) {
        try {
          // An error inside the body (or a failed COMMIT) leaves the transaction open; when
          // SQLite has already rolled back, ROLLBACK itself errors and is kept as suppressed.
          exec(c, "ROLLBACK");
        } catch (SQLException suppressed) {
          e.addSuppressed(suppressed);
        }
        throw e;
      }
    } catch (SQLException e) {
      throw new StoreException(what + " failed", e);
    }
  }
}
