package dev.tidesync.it;

import dev.tidesync.client.Transport;
import dev.tidesync.core.Storage;

/** How tests reach a server: in-process through the wire codec. */
final class Servers {
  private Servers() {}

  static Transport transport(Storage storage) {
    return new LocalTransport(storage);
  }

  static void stop() {}
}
