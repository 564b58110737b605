package dev.tidesync.it.replica;

import dev.tidesync.client.ClientConfig;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.client.Transport;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.Storage;
import dev.tidesync.it.LocalTransport;
import dev.tidesync.it.ServerStores;
import dev.tidesync.tck.StorageFactory;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * An in-process server storage of one store (SQLite or PostgreSQL) and the devices syncing with
 * it, each device a SQLite file in {@code dir}. The server's dataset is read as a backend would
 * read it ({@link StorageFactory#backend}), so the same assertions hold on every store.
 */
final class Cluster implements AutoCloseable {
  static final String DATASET = "ds";
  static final DatasetId ID = DatasetId.of(DATASET);

  final Path dir;
  final StorageFactory store;
  final Storage storage;
  final Transport transport;
  private final List<TidesyncClient> clients = new ArrayList<>();

  Cluster(Path dir, StorageFactory store) {
    this.dir = dir;
    this.store = store;
    this.storage = store.open(dir.resolve("server"));
    this.transport = new LocalTransport(storage);
  }

  Path db(String device) {
    return dir.resolve(device + ".db");
  }

  /** The server's dataset (it must exist). */
  DatasetStore dataset() {
    return storage.find(DATASET).orElseThrow();
  }

  /** Every row of a query in the server's dataset, as "a|b|c" (see {@link ServerStores#rows}). */
  List<String> serverRows(String query) throws SQLException {
    return ServerStores.rows(store, storage, ID, query);
  }

  /** The single value of a one-row, one-column query in the server's dataset, as text. */
  String serverValue(String query) throws SQLException {
    List<String> r = serverRows(query);
    if (r.size() != 1) {
      throw new AssertionError("expected one row of " + query + ", got " + r);
    }
    return r.get(0);
  }

  /** A table's columns in the server's dataset, "name TYPE" as its database names the type. */
  List<String> serverColumns(String table) throws SQLException {
    return ServerStores.columns(store, storage, ID, table);
  }

  /** What {@link #serverColumns} shows for the columns a device declared, on this cluster's store. */
  List<String> stored(String... declared) {
    return ServerStores.columnsAsStored(store, declared);
  }

  /** The tables of the server's dataset, Tidesync's own included. */
  List<String> serverTables() throws SQLException {
    return ServerStores.tables(store, storage, ID);
  }

  TidesyncClient device(String id) {
    return device(id, b -> {});
  }

  TidesyncClient device(String id, Consumer<ClientConfig.Builder> more) {
    return device(id, transport, more);
  }

  TidesyncClient device(String id, Transport via, Consumer<ClientConfig.Builder> more) {
    TidesyncClient c = TidesyncClient.create(b -> {
      b.database(db(id)).transport(via).dataset(DATASET).deviceId(id);
      more.accept(b);
    });
    clients.add(c);
    return c;
  }

  @Override
  public void close() {
    for (int i = clients.size() - 1; i >= 0; i--) {
      clients.get(i).close();
    }
    storage.close();
  }
}
