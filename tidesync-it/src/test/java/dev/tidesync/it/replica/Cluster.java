package dev.tidesync.it.replica;

import dev.tidesync.client.ClientConfig;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.client.Transport;
import dev.tidesync.sqlite.SqliteStorage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** An in-process server storage and the devices syncing with it, each device a SQLite file in {@code dir}. */
final class Cluster implements AutoCloseable {
  static final String DATASET = "ds";

  final Path dir;
  final SqliteStorage storage;
  final Transport transport;
  private final List<TidesyncClient> clients = new ArrayList<>();

  Cluster(Path dir) {
    this.dir = dir;
    this.storage = SqliteStorage.open(dir.resolve("server"));
    this.transport = new InProcessTransport(storage);
  }

  Path db(String device) {
    return dir.resolve(device + ".db");
  }

  /** The server's file of the dataset. */
  Path datasetFile() {
    return storage.fileOf(dev.tidesync.core.DatasetId.of(DATASET));
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
