package dev.tidesync.client;

import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;

/**
 * The transport seam between a device and a server. {@link HttpTransport} speaks protocol v1 over
 * HTTP; tests wrap it to drop, duplicate and stall requests.
 *
 * <p>Failures are {@link dev.tidesync.protocol.TidesyncException}s: retriable ones (connection
 * refused, timeout, 5xx, 429) and permanent ones ({@link dev.tidesync.protocol.ProtocolException}
 * for a 4xx with the server's reason).
 */
public interface Transport extends AutoCloseable {
  /** Sends one batch. The server applies a batch id once, so resending after a failure is safe. */
  PushResult push(String dataset, PushRequest request);

  /**
   * Sends a batch that is already encoded: {@code body} is exactly {@code Wire.writePush(request)}
   * (the device keeps that encoding in its outbox, so it need not be made twice). Transports
   * that do not send bytes ignore it.
   */
  default PushResult push(String dataset, PushRequest request, byte[] body) {
    return push(dataset, request);
  }

  /** One page of changes after {@code cursor} (null: bootstrap). */
  PullPage pull(String dataset, String cursor, int limit, String device);

  @Override
  default void close() {}
}
