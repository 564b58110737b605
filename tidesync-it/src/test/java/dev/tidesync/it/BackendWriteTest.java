package dev.tidesync.it;

import static dev.tidesync.it.replica.Db.rows;
import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.TidesyncClient;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.Storage;
import dev.tidesync.tck.StorageFactory;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Plain SQL written by a backend into a dataset file reaches devices like any other change. */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
class BackendWriteTest {
  @Parameter StorageFactory store;
  @TempDir Path dir;

  @Test
  void backendWritesReachDevicesAndABackendDeleteKeepsTheRowForAResurrectingUpdate() throws Exception {
    Path a = dir.resolve("a.db");
    Path b = dir.resolve("b.db");
    DatasetId dataset = DatasetId.of("d");
    sql(a, "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT, qty INTEGER, price REAL, img BLOB)",
        "INSERT INTO items VALUES ('i1', 'apple', 3, 0.1, x'00ff'), ('i2', 'pear', 1, 2.5, NULL)");
    try (Storage storage = store.open(dir.resolve("data"));
        TidesyncClient ca = TidesyncClient.create(c -> c.database(a).transport(new LocalTransport(storage)).dataset("d").deviceId("a"));
        TidesyncClient cb = TidesyncClient.create(c -> c.database(b).transport(new LocalTransport(storage)).dataset("d").deviceId("b"))) {
      ca.flush();
      cb.flush();
      // A backend writes the dataset file directly: an update and a delete.
      store.backendSql(storage, dataset, "UPDATE items SET qty = 7 WHERE id = 'i2'", "DELETE FROM items WHERE id = 'i1'");
      Thread.sleep(5);
      // Device B, not having heard of the delete, edits the deleted row later in time.
      sql(b, "UPDATE items SET name = 'green apple' WHERE id = 'i1'");
      ca.flush();
      assertThat(rows(a, "SELECT id, qty FROM items ORDER BY id")).containsExactly("i2|7");
      cb.flush();
      ca.flush();
      // The newer update brings the row back, with the columns it had when the backend deleted it.
      String expected = "i1|green apple|3|0.1|00FF";
      assertThat(ServerStores.rows(store, storage, dataset, "SELECT id, name, qty, price, img FROM items WHERE id = 'i1'"))
          .containsExactly("i1|green apple|3|0.1|x'00ff'");
      assertThat(rows(a, "SELECT id, name, qty, price, hex(img) FROM items WHERE id = 'i1'")).containsExactly(expected);
      assertThat(rows(b, "SELECT id, name, qty, price, hex(img) FROM items WHERE id = 'i1'")).containsExactly(expected);
      assertThat(rows(b, "SELECT qty FROM items WHERE id = 'i2'")).containsExactly("7");
    }
  }
}
