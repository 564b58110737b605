package dev.tidesync.it;

import static dev.tidesync.it.replica.Db.count;
import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.core.Storage;
import dev.tidesync.tck.StorageFactory;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class SmokeTest {
  @Parameter StorageFactory store;
  @TempDir Path dir;

  @Test
  void twoDevicesConverge() throws Exception {
    try (Storage storage = store.open(dir.resolve("server"))) {
      LocalTransport t = new LocalTransport(storage);
      Path a = dir.resolve("a.db");
      Path b = dir.resolve("b.db");
      sql(a, "CREATE TABLE sessions (id TEXT PRIMARY KEY, name TEXT, score INTEGER)",
          "CREATE TABLE events (id TEXT PRIMARY KEY, session_id TEXT REFERENCES sessions(id), v REAL)",
          "INSERT INTO sessions VALUES ('s1', 'first', 1)");
      try (TidesyncClient ca = TidesyncClient.create(c -> c.database(a).transport(t).dataset("field").deviceId("a"));
          TidesyncClient cb = TidesyncClient.create(c -> c.database(b).transport(t).dataset("field").deviceId("b"))) {
        SyncReport ra = ca.flush();
        assertThat(ra.pushed()).isEqualTo(1);
        SyncReport rb = cb.flush();
        assertThat(rb.pulled()).isEqualTo(1);
        assertThat(rows(b, "SELECT id, name, score FROM sessions")).containsExactly("s1|first|1");
        sql(a, "UPDATE sessions SET name = 'from-a' WHERE id = 's1'", "INSERT INTO events VALUES ('e1', 's1', 1.5)");
        sql(b, "UPDATE sessions SET score = 42 WHERE id = 's1'");
        ca.flush();
        SyncReport rb2 = cb.flush();
        assertThat(rb2.conflicts()).isEqualTo(1);
        ca.flush();
        assertThat(rows(a, "SELECT id, name, score FROM sessions")).containsExactly("s1|from-a|42");
        assertThat(rows(b, "SELECT id, name, score FROM sessions")).containsExactly("s1|from-a|42");
        assertThat(rows(b, "SELECT id, session_id, v FROM events")).containsExactly("e1|s1|1.5");
        sql(b, "DELETE FROM events WHERE id = 'e1'");
        cb.flush();
        ca.flush();
        assertThat(rows(a, "SELECT count(*) FROM events")).containsExactly("0");
        assertThat(storage.find("field").orElseThrow().conflicts(0, 10)).hasSize(1);
      }
    }
  }
}
