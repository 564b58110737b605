package dev.tidesync.it;

import dev.tidesync.client.HttpTransport;
import dev.tidesync.client.Transport;
import dev.tidesync.core.Storage;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;

/**
 * How tests reach a server: a real HTTP server on 127.0.0.1 (ephemeral port) in this JVM.
 * {@code -Dtidesync.transport=local} calls the store in-process instead (through the same wire
 * codec), which is faster when replaying a seed under a debugger.
 */
final class Servers {
  private static TidesyncServer server;

  private Servers() {}

  static synchronized Transport transport(Storage storage) {
    if ("local".equals(System.getProperty("tidesync.transport"))) {
      return new LocalTransport(storage);
    }
    server = TidesyncServer.start(storage, ServerConfig.defaults().withInsecure(true).withPort(0));
    return new HttpTransport(server.url());
  }

  static synchronized void stop() {
    if (server != null) {
      server.close();
      server = null;
    }
  }
}
