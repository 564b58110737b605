package dev.tidesync.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Random;
import java.util.UUID;
import org.sqlite.SQLiteConfig;

/**
 * Field-data-shaped rows and plain JDBC access (what an app does, without Tidesync).
 *
 * <p>{@code sessions} (default 100 rows) is the parent of {@code readings}; a reading has a UUID
 * key, a session, a timestamp, two REALs, an INTEGER and a ~100-byte note. Rows come from a
 * seeded generator, so the raw baseline and the synced run insert exactly the same rows, and
 * nothing is held in memory.
 */
final class Data {
  static final String[] DDL = {
      "CREATE TABLE sessions (id TEXT PRIMARY KEY, name TEXT, started_at INTEGER)",
      "CREATE TABLE readings (id TEXT PRIMARY KEY, session_id TEXT REFERENCES sessions (id), at INTEGER, "
          + "a REAL, b REAL, c INTEGER, note TEXT)"};
  private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.-";
  private static final int BATCH = 1000;

  private Data() {}

  /** A connection with the same pragmas Tidesync uses on a device: WAL, synchronous NORMAL. */
  static Connection open(Path file) throws SQLException {
    SQLiteConfig cfg = new SQLiteConfig();
    cfg.setJournalMode(SQLiteConfig.JournalMode.WAL);
    cfg.setSynchronous(SQLiteConfig.SynchronousMode.NORMAL);
    cfg.setBusyTimeout(30_000);
    return cfg.createConnection("jdbc:sqlite:" + file.toAbsolutePath());
  }

  static void createSchema(Path file) throws SQLException {
    try (Connection c = open(file); Statement s = c.createStatement()) {
      for (String ddl : DDL) {
        s.execute(ddl);
      }
    }
  }

  /**
   * Inserts {@code sessions} sessions and {@code n} readings in one transaction with batched
   * prepared statements. Returns the nanoseconds from the first statement to the end of COMMIT.
   */
  static long insert(Path file, int n, int sessions, long seed) throws SQLException {
    return insertRange(file, 0, n, sessions, seed, true);
  }

  /**
   * Inserts readings {@code from} (inclusive) to {@code to} (exclusive) of the sequence the seed
   * generates, and the sessions too when {@code withSessions}, in one transaction. Inserting the
   * ranges [0, k) and [k, n) one after the other gives the same rows as inserting [0, n).
   */
  static long insertRange(Path file, int from, int to, int sessions, long seed, boolean withSessions) throws SQLException {
    try (Connection c = open(file)) {
      c.setAutoCommit(false);
      long t0 = System.nanoTime();
      insertRows(c, from, to, sessions, seed, withSessions, BATCH);
      c.commit();
      return System.nanoTime() - t0;
    }
  }

  /**
   * The statements of {@link #insertRange} on a connection of any database with tables of the
   * same shape (SQLite, or PostgreSQL for the PostgreSQL benchmarks), readings in JDBC batches of
   * {@code batch} rows (1: one round trip per row); the caller commits.
   */
  static void insertRows(Connection c, int from, int to, int sessions, long seed, boolean withSessions, int batch)
      throws SQLException {
    Gen g = new Gen(seed, sessions);
    for (int i = 0; i < from; i++) {
      g.next();
    }
    if (withSessions) {
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO sessions (id, name, started_at) VALUES (?, ?, ?)")) {
        for (int i = 0; i < sessions; i++) {
          ps.setString(1, g.sessionIds[i]);
          ps.setString(2, "Session " + i + " at site " + (char) ('A' + i % 26));
          ps.setLong(3, Gen.START + i * 3_600_000L);
          ps.addBatch();
        }
        ps.executeBatch();
      }
    }
    try (PreparedStatement ps = c.prepareStatement(
        "INSERT INTO readings (id, session_id, at, a, b, c, note) VALUES (?, ?, ?, ?, ?, ?, ?)")) {
      for (int i = from; i < to; i++) {
        g.next();
        ps.setString(1, g.id);
        ps.setString(2, g.session);
        ps.setLong(3, g.at);
        ps.setDouble(4, g.a);
        ps.setDouble(5, g.b);
        ps.setLong(6, g.c);
        ps.setString(7, g.note);
        ps.addBatch();
        if ((i - from) % batch == batch - 1) {
          ps.executeBatch();
        }
      }
      ps.executeBatch();
    }
  }

  /** Changes {@code k} random readings (one UPDATE in one transaction), as an app on another device would. */
  static int updateRandom(Path file, int k, Random rnd) throws SQLException {
    try (Connection c = open(file);
        PreparedStatement ps = c.prepareStatement(
            "UPDATE readings SET a = ?, note = ? WHERE id IN (SELECT id FROM readings ORDER BY random() LIMIT ?)")) {
      ps.setDouble(1, rnd.nextDouble() * 100);
      ps.setString(2, "edited " + UUID.randomUUID());
      ps.setInt(3, k);
      return ps.executeUpdate();
    }
  }

  static long number(Path file, String sql) throws SQLException {
    try (Connection c = open(file); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      return rs.next() ? rs.getLong(1) : 0;
    }
  }

  /** Deletes a database file and its WAL/SHM/journal siblings. */
  static void deleteDb(Path file) {
    for (String suffix : new String[] {"", "-wal", "-shm", "-journal"}) {
      try {
        Files.deleteIfExists(file.resolveSibling(file.getFileName() + suffix));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** Deterministic field data: {@link #next()} steps to the following reading. */
  private static final class Gen {
    static final long START = 1_700_000_000_000L;
    final Random r;
    final String[] sessionIds;
    long at = START;
    String id;
    String session;
    double a;
    double b;
    long c;
    String note;

    Gen(long seed, int sessions) {
      r = new Random(seed);
      sessionIds = new String[sessions];
      for (int i = 0; i < sessions; i++) {
        sessionIds[i] = uuid();
      }
    }

    void next() {
      at += 1000 + r.nextInt(500);
      id = uuid();
      session = sessionIds[r.nextInt(sessionIds.length)];
      a = 20 + r.nextGaussian() * 5;
      b = r.nextDouble() * 100;
      c = r.nextInt(1000);
      note = note();
    }

    String uuid() {
      return new UUID(r.nextLong(), r.nextLong()).toString();
    }

    /** 90..110 characters, ~100 bytes. */
    String note() {
      char[] cs = new char[90 + r.nextInt(21)];
      for (int i = 0; i < cs.length; i++) {
        cs[i] = ALPHABET.charAt(r.nextInt(ALPHABET.length()));
      }
      return new String(cs);
    }
  }
}
