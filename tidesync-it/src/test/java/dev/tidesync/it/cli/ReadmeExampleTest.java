package dev.tidesync.it.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.server.Role;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.server.Tokens;
import dev.tidesync.sqlite.SqliteStorage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's Java example compiles and runs here; the README must show exactly this code. */
class ReadmeExampleTest {
  private static final String START = "// README example: start";
  private static final String END = "// README example: end";

  @TempDir Path dir;

  @Test
  void exampleRunsAgainstARealServer() throws Exception {
    Path db = dir.resolve("field.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, name TEXT, score INTEGER)");
      s.execute("INSERT INTO sessions VALUES ('s1', 'Dawn transect', 72)");
    }
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("server"));
        TidesyncServer server = TidesyncServer.start(storage, ServerConfig.defaults().withPort(0))) {
      String url = server.url();
      // What `tidesync token create --tenant default --dataset field --device tablet-7 --role write` prints.
      String token = Tokens.of(storage).create("default", List.of("field"), "tablet-7", Role.WRITE, Duration.ofDays(1));
      SyncReport report = example(db, url, token);
      assertThat(report.ok()).isTrue();
      assertThat(report.pushed()).isEqualTo(1);
      assertThat(storage.find("field").orElseThrow().status().rows()).containsEntry("sessions", 1L);
    }
  }

  private static SyncReport example(Path db, String url, String token) {
    SyncReport report;
    // README example: start
    try (TidesyncClient client = TidesyncClient.create(c -> c
        .database(db)                  // the app's own SQLite file, e.g. Path.of("field.db")
        .server(url)                   // e.g. "http://127.0.0.1:8787"
        .dataset("field")
        .token(token)                  // from `tidesync token create ... --device tablet-7`
        .deviceId("tablet-7"))) {      // the token's device
      report = client.flush();         // one complete sync: push local changes, then pull
      System.out.println(report);      // pushed 1 (applied 1, conflicts 0, rejected 0), pulled ...
      System.out.println(client.status().pending()); // pending changes per table: {}

      client.start();                  // or keep syncing in the background: on an interval,
                                       // soon after every local commit, with backoff on failures
      // ... the app keeps writing to its file with its own SQL, from any connection ...
      client.stop(Duration.ofSeconds(10));
    }
    // README example: end
    return report;
  }

  @Test
  void readmeShowsThisExample() throws Exception {
    Path readme = Path.of("..", "README.md");
    Path source = Path.of("src", "test", "java", "dev", "tidesync", "it", "cli", "ReadmeExampleTest.java");
    assertThat(readme).exists();
    List<String> lines = Files.readAllLines(source);
    int from = indexOf(lines, START) + 1;
    int to = indexOf(lines, END);
    String code = lines.subList(from, to).stream().map(l -> l.length() >= 4 ? l.substring(4) : l.strip())
        .collect(Collectors.joining("\n"));
    assertThat(Files.readString(readme)).as("README.md shows the example of ReadmeExampleTest verbatim").contains(code);
  }

  private static int indexOf(List<String> lines, String marker) {
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).strip().equals(marker)) {
        return i;
      }
    }
    throw new AssertionError("marker not found: " + marker);
  }
}
