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

  /** One page of changes after {@code cursor} (null: bootstrap). */
  PullPage pull(String dataset, String cursor, int limit, String device);

  @Override
  default void close() {}
}
