package dev.tidesync.bench;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * A database of its own for one benchmark run on a PostgreSQL server: created from the server's
 * admin URL (any database the user may connect to, e.g. {@code jdbc:postgresql://127.0.0.1:5432/test?user=postgres}),
 * dropped again by {@link #close()} (with {@code FORCE}, so that server processes still
 * connected do not keep it).
 */
final class PgDb implements AutoCloseable {
  /** Used when neither --pg-url nor TIDESYNC_BENCH_PG_URL is given: a local PostgreSQL with trust auth. */
  static final String DEFAULT_URL = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres";

  private final String adminUrl;
  final String name;
  final String url;

  private PgDb(String adminUrl, String name) {
    this.adminUrl = adminUrl;
    this.name = name;
    this.url = replaceDatabase(adminUrl, name);
  }

  /** The --pg-url value if given, else TIDESYNC_BENCH_PG_URL, else {@link #DEFAULT_URL}. */
  static String adminUrl(String option) {
    if (option != null && !option.isBlank()) {
      return option;
    }
    String env = System.getenv("TIDESYNC_BENCH_PG_URL");
    return env != null && !env.isBlank() ? env : DEFAULT_URL;
  }

  static PgDb create(String adminUrl, String label) throws SQLException {
    if (!adminUrl.startsWith("jdbc:postgresql://")) {
      throw new IllegalArgumentException("not a PostgreSQL JDBC URL: " + adminUrl);
    }
    String name = "tidesync_bench_" + label + "_" + ProcessHandle.current().pid() + "_" + (System.currentTimeMillis() % 100_000);
    try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
      st.execute("CREATE DATABASE " + name);
    }
    return new PgDb(adminUrl, name);
  }

  /** {@code jdbc:postgresql://host:port/DB?params} with DB replaced. */
  static String replaceDatabase(String url, String db) {
    String rest = url.substring("jdbc:postgresql://".length());
    int slash = rest.indexOf('/');
    int q = rest.indexOf('?');
    String hostPort = slash >= 0 ? rest.substring(0, slash) : q >= 0 ? rest.substring(0, q) : rest;
    String params = q >= 0 ? rest.substring(q) : "";
    return "jdbc:postgresql://" + hostPort + "/" + db + params;
  }

  Connection connect() throws SQLException {
    return DriverManager.getConnection(url);
  }

  /** The server's version string, for the report. */
  String serverVersion() {
    try (Connection c = connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SHOW server_version")) {
      return rs.next() ? rs.getString(1) : "?";
    } catch (SQLException e) {
      return "?";
    }
  }

  @Override
  public void close() {
    try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
      st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    } catch (SQLException e) {
      System.err.println("bench: could not drop database " + name + ": " + e.getMessage());
    }
  }
}
