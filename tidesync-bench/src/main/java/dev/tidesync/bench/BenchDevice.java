package dev.tidesync.bench;

import dev.tidesync.client.ClientConfig;
import dev.tidesync.client.HttpTransport;
import dev.tidesync.client.SyncListener;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.client.Transport;
import java.nio.file.Path;
import java.util.function.Consumer;

/** A benchmark's device: a {@link TidesyncClient} and the transport it talks through, closed together. */
final class BenchDevice implements AutoCloseable {
  final TidesyncClient client;
  final Transport transport;

  /** A client through {@code transport}; {@code configure} sets the rest (database, dataset, device id, ...). */
  BenchDevice(Transport transport, Consumer<ClientConfig.Builder> configure) {
    this.transport = transport;
    this.client = TidesyncClient.create(c -> configure.accept(c.transport(transport)));
  }

  /** A client over {@code file} whose HTTP calls to {@code url} are timed in {@code timers}, with the options' limits. */
  static BenchDevice timed(String url, Timers timers, BenchOptions.Sync o, Path file, String dataset, String deviceId,
      SyncListener listener) {
    return new BenchDevice(new Timers.TimedTransport(new HttpTransport(url), timers), c -> c.database(file).dataset(dataset)
        .deviceId(deviceId).batchLimit(o.batchLimit).pullLimit(o.pullLimit).listener(listener));
  }

  @Override
  public void close() {
    try {
      client.close();
    } finally {
      transport.close();
    }
  }
}
