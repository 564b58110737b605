package dev.tidesync.it;

import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.sqlite.SqliteStorage;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Constraints that only one side has: a row the server refuses stays on the device, failed, and
 * keeps all its unpushed columns; a pulled row a local constraint refuses is reported and skipped,
 * and never stops later pulls.
 */
class LocalConstraintTest {
  @TempDir Path dir;

  @Test
  void aRowTheServerRefusedKeepsItsUnpushedColumnsWhenFixedLater() throws Exception {
    Path data = dir.resolve("data");
    Path file = data.resolve("default").resolve("d.db");
    java.nio.file.Files.createDirectories(file.getParent());
    // The backend created the dataset's table with a CHECK the device does not have.
    sql(file, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER CHECK (qty >= 0))");
    Path a = dir.resolve("a.db");
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)", "INSERT INTO items VALUES ('i1', 'apple', -1)");
    try (SqliteStorage storage = SqliteStorage.open(data);
        TidesyncClient ca = TidesyncClient.create(c -> c.database(a).transport(new LocalTransport(storage)).dataset("d").deviceId("a"))) {
      SyncReport first = ca.flush();
      assertThat(first.rejected()).isEqualTo(1);
      assertThat(first.errors()).singleElement().asString().contains("CHECK constraint failed");
      assertThat(ca.status().failed()).containsEntry("items", 1L);
      // The user fixes only the quantity; the name was never pushed and must travel too.
      sql(a, "UPDATE items SET qty = 3 WHERE id = 'i1'");
      SyncReport second = ca.flush();
      assertThat(second.ok()).as(second.toString()).isTrue();
      assertThat(rows(file, "SELECT id, name, qty FROM items")).containsExactly("i1|apple|3");
      assertThat(ca.status().failed()).isEmpty();
    }
  }

  @Test
  void aPulledRowThatALocalConstraintRefusesIsReportedAndDoesNotStopLaterPulls() throws Exception {
    Path a = dir.resolve("a.db");
    Path b = dir.resolve("b.db");
    sql(a, "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT)", "INSERT INTO users VALUES ('u1', 'x@example.org')");
    // Device B's own table is stricter than the dataset's: emails are unique here.
    sql(b, "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE)");
    try (SqliteStorage storage = SqliteStorage.open(dir.resolve("data"));
        TidesyncClient ca = TidesyncClient.create(c -> c.database(a).transport(new LocalTransport(storage)).dataset("d").deviceId("a"));
        TidesyncClient cb = TidesyncClient.create(c -> c.database(b).transport(new LocalTransport(storage)).dataset("d").deviceId("b"))) {
      ca.flush();
      cb.flush();
      sql(a, "INSERT INTO users VALUES ('u2', 'x@example.org')", "INSERT INTO users VALUES ('u3', 'y@example.org')");
      ca.flush();
      SyncReport r = cb.flush();
      assertThat(r.errors()).singleElement().asString().contains("u2").contains("UNIQUE");
      assertThat(rows(b, "SELECT id, email FROM users ORDER BY id")).containsExactly("u1|x@example.org", "u3|y@example.org");
      // Later changes still arrive.
      sql(a, "UPDATE users SET email = 'z@example.org' WHERE id = 'u3'");
      ca.flush();
      SyncReport later = cb.flush();
      assertThat(later.pulled()).isEqualTo(1);
      assertThat(rows(b, "SELECT email FROM users WHERE id = 'u3'")).containsExactly("z@example.org");
    }
  }
}
