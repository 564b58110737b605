package dev.tidesync.it.pg;

import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.pg.PgTestDatabase;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two {@code tidesync server --pg URL} processes on one PostgreSQL database serve the same dataset
 * at once: devices syncing through different processes (and a backend writing SQL) converge.
 */
class MultiProcessPgTest {
  private static final Pattern LISTENING = Pattern.compile("Tidesync server listening on (http://\\S+) ");

  @TempDir Path dir;
  private final List<Process> servers = new ArrayList<>();

  @AfterEach
  void stop() {
    servers.forEach(Process::destroyForcibly);
  }

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void devicesOnDifferentServerProcessesConverge() throws Exception {
    try (PgTestDatabase db = PgTestDatabase.create()) {
      String url1 = startServer(db.url());
      String url2 = startServer(db.url());
      // Operator commands on the same database while both servers run: one key for all of them.
      String tokenA = token(db.url(), "dev-a");
      String tokenB = token(db.url(), "dev-b");
      Path a = dir.resolve("a.db");
      Path b = dir.resolve("b.db");
      sql(a, "CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT, body TEXT, n INTEGER)");
      for (int i = 0; i < 200; i++) {
        sql(a, "INSERT INTO notes VALUES ('a" + i + "', 'from a', 'body " + i + "', " + i + ")");
      }
      try (TidesyncClient ca = TidesyncClient.create(c -> c.database(a).server(url1).dataset("notes").deviceId("dev-a").token(tokenA));
          TidesyncClient cb = TidesyncClient.create(c -> c.database(b).server(url2).dataset("notes").deviceId("dev-b").token(tokenB))) {
        assertThat(ca.flush().ok()).isTrue();
        SyncReport boot = cb.flush();
        assertThat(boot.ok()).as(boot.toString()).isTrue();
        assertThat(count(b, "SELECT count(*) FROM notes")).isEqualTo(200);

        // Offline edits on both sides, the same row in different columns, then each syncs
        // through its own process; and a backend writes SQL straight into the dataset's schema.
        sql(a, "UPDATE notes SET title = 'a edited' WHERE id = 'a1'", "INSERT INTO notes VALUES ('a-new', 't', 'b', 1)");
        sql(b, "UPDATE notes SET body = 'b edited' WHERE id = 'a1'", "DELETE FROM notes WHERE id = 'a2'",
            "INSERT INTO notes VALUES ('b-new', 't', 'b', 2)");
        try (Connection c = java.sql.DriverManager.getConnection(db.url()); Statement st = c.createStatement()) {
          String schema;
          try (ResultSet rs = st.executeQuery("SELECT schema_name FROM tidesync.datasets WHERE tenant = 'acme' AND name = 'notes'")) {
            rs.next();
            schema = rs.getString(1);
          }
          st.execute("UPDATE " + schema + ".notes SET n = 999 WHERE id = 'a3'");
        }
        for (int round = 0; round < 2; round++) {
          assertThat(ca.flush().ok()).isTrue();
          assertThat(cb.flush().ok()).isTrue();
        }
        List<String> ra = rows(a, "SELECT id, title, body, n FROM notes ORDER BY id");
        assertThat(ra).hasSize(201).contains("a1|a edited|b edited|1", "a3|from a|body 3|999", "b-new|t|b|2", "a-new|t|b|1")
            .noneMatch(r -> r.startsWith("a2|"));
        assertThat(rows(b, "SELECT id, title, body, n FROM notes ORDER BY id")).isEqualTo(ra);
      }
    }
  }

  private static List<String> tidesync(String... args) {
    return dev.tidesync.it.CliProcess.command(args);
  }


  /** {@code tidesync token create --pg URL ...}: the token is its last line of output. */
  private static String token(String pgUrl, String device) throws Exception {
    Process p = new ProcessBuilder(tidesync("token", "create", "--pg", pgUrl, "--tenant", "acme", "--dataset", "notes",
        "--device", device, "--role", "write")).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    List<String> lines = out.lines().toList();
    return lines.get(lines.size() - 1).strip();
  }

  private String startServer(String pgUrl) throws Exception {
    Process p = new ProcessBuilder(tidesync("server", "--pg", pgUrl, "--port", "0")).redirectErrorStream(true).start();
    servers.add(p);
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread t = new Thread(() -> {
      try (var r = p.inputReader(StandardCharsets.UTF_8)) {
        String line;
        while ((line = r.readLine()) != null) {
          lines.add(line);
        }
      } catch (IOException e) {
        // the server ended
      }
    }, "server-out");
    t.setDaemon(true);
    t.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    List<String> seen = new ArrayList<>();
    while (System.nanoTime() < deadline) {
      String line = lines.poll(250, TimeUnit.MILLISECONDS);
      if (line != null) {
        seen.add(line);
        Matcher m = LISTENING.matcher(line);
        if (m.find()) {
          return m.group(1);
        }
      }
      if (!p.isAlive() && lines.isEmpty()) {
        throw new AssertionError("server exited with " + p.exitValue() + ": " + seen);
      }
    }
    throw new AssertionError("no 'listening' line within 60 s: " + seen);
  }
}
