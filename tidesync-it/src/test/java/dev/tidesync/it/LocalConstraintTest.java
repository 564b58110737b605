package dev.tidesync.it;

import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.tck.StorageFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Constraints that only one side has: a row the server refuses stays on the device, failed, and
 * keeps all its unpushed columns; a pulled row a local constraint refuses is reported and skipped,
 * and never stops later pulls. On every server store.
 */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class LocalConstraintTest {
  @Parameter StorageFactory store;
  @TempDir Path dir;

  /**
   * Opens the server's storage with dataset "d" whose table items has a CHECK (qty >= 0) that the
   * devices' tables do not have, added by the backend as each store allows it.
   */
  private Storage openWithACheckTheDevicesLack(Path data) throws Exception {
    if (store.name().equals("sqlite")) {
      // SQLite cannot add a CHECK to an existing table: the backend creates the dataset's file
      // (DIR/<tenant>/<dataset>.db) with the table before the first push, and the store adopts it.
      Path file = data.resolve("default").resolve("d.db");
      Files.createDirectories(file.getParent());
      sql(file, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER CHECK (qty >= 0))");
      return store.open(data);
    }
    // PostgreSQL syncs only tables created through a push: a device without rows creates the
    // table (a schema-only push), then the backend adds the constraint to it.
    Storage storage = store.open(data);
    Path setup = dir.resolve("setup.db");
    sql(setup, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)");
    try (TidesyncClient c = TidesyncClient.create(b -> b.database(setup).transport(new LocalTransport(storage)).dataset("d").deviceId("setup"))) {
      SyncReport r = c.flush();
      assertThat(r.ok()).as(r.toString()).isTrue();
    }
    store.backendSql(storage, DatasetId.of("d"), "ALTER TABLE items ADD CONSTRAINT qty_not_negative CHECK (qty >= 0)");
    return storage;
  }

  /** The reason each store gives when that CHECK refuses a row: the database's own message. */
  private String checkFailed() {
    return store.name().equals("sqlite") ? "CHECK constraint failed" : "violates check constraint \"qty_not_negative\"";
  }

  @Test
  void aRowTheServerRefusedKeepsItsUnpushedColumnsWhenFixedLater() throws Exception {
    Path a = dir.resolve("a.db");
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER)", "INSERT INTO items VALUES ('i1', 'apple', -1)");
    try (Storage storage = openWithACheckTheDevicesLack(dir.resolve("data"));
        TidesyncClient ca = TidesyncClient.create(c -> c.database(a).transport(new LocalTransport(storage)).dataset("d").deviceId("a"))) {
      SyncReport first = ca.flush();
      assertThat(first.rejected()).isEqualTo(1);
      assertThat(first.errors()).singleElement().asString().contains(checkFailed());
      assertThat(ca.status().failed()).containsEntry("items", 1L);
      // The user fixes only the quantity; the name was never pushed and must travel too.
      sql(a, "UPDATE items SET qty = 3 WHERE id = 'i1'");
      SyncReport second = ca.flush();
      assertThat(second.ok()).as(second.toString()).isTrue();
      assertThat(ServerStores.rows(store, storage, DatasetId.of("d"), "SELECT id, name, qty FROM items")).containsExactly("i1|apple|3");
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
    try (Storage storage = store.open(dir.resolve("data"));
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
