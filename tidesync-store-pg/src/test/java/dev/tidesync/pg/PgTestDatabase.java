package dev.tidesync.pg;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A fresh, empty PostgreSQL database per call, for tests: on the server named by
 * {@code TIDESYNC_TEST_PG_URL} (CI sets it to the machine's PostgreSQL), else on an embedded
 * PostgreSQL started once per JVM. Each database is dropped again by {@link #close()}.
 */
public final class PgTestDatabase implements AutoCloseable {
  private static final AtomicLong COUNTER = new AtomicLong();
  private static EmbeddedPostgres embedded;

  private final String adminUrl;
  private final String name;
  private final String url;

  private PgTestDatabase(String adminUrl, String name, String url) {
    this.adminUrl = adminUrl;
    this.name = name;
    this.url = url;
  }

  /** The URL of the server's maintenance database, from the environment or an embedded server. */
  public static synchronized String adminUrl() {
    String env = System.getenv("TIDESYNC_TEST_PG_URL");
    if (env != null && !env.isBlank()) {
      return env;
    }
    if (embedded == null) {
      try {
        embedded = EmbeddedPostgres.builder().start();
      } catch (IOException e) {
        throw new UncheckedIOException("starting an embedded PostgreSQL (set TIDESYNC_TEST_PG_URL to use a running one)", e);
      }
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          embedded.close();
        } catch (IOException ignored) {
          // exiting
        }
      }));
    }
    return embedded.getJdbcUrl("postgres", "postgres");
  }

  public static PgTestDatabase create() {
    String admin = adminUrl();
    String name = "tidesync_t" + ProcessHandle.current().pid() + "_" + COUNTER.incrementAndGet();
    try (Connection c = DriverManager.getConnection(admin); Statement st = c.createStatement()) {
      st.execute("DROP DATABASE IF EXISTS " + name);
      st.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot create test database on " + admin + ": " + e.getMessage(), e);
    }
    return new PgTestDatabase(admin, name, withDatabase(admin, name));
  }

  /** {@code jdbc:postgresql://host:port/OLD?params} with the database replaced. */
  static String withDatabase(String url, String db) {
    int slash = url.indexOf('/', "jdbc:postgresql://".length());
    int q = url.indexOf('?', slash);
    return url.substring(0, slash + 1) + db + (q < 0 ? "" : url.substring(q));
  }

  public String url() {
    return url;
  }

  public Connection connect() throws SQLException {
    return DriverManager.getConnection(url);
  }

  @Override
  public void close() {
    try (Connection c = DriverManager.getConnection(adminUrl); Statement st = c.createStatement()) {
      st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    } catch (SQLException e) {
      // left behind for the next run's DROP IF EXISTS of the same name, or an operator
    }
  }
}
