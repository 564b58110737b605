package dev.tidesync.it;

import dev.tidesync.client.Transport;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TidesyncException;
import java.util.Random;

/**
 * The transport fault seam: wraps a real transport and, driven by a seeded random, drops a
 * request before it reaches the server, drops the answer after the server applied it, or sends a
 * request twice. Faults can be switched off for the final sync of a schedule.
 */
final class FaultyTransport implements Transport {
  enum Fault { NONE, DROP_REQUEST, DROP_RESPONSE, DUPLICATE }

  private final Transport inner;
  private final Random random;
  private final double rate;
  private volatile boolean enabled = true;
  int dropped;
  int duplicated;
  /** Every push the client attempted, in the order it sent them (faulty or not); a test may clear it. */
  final java.util.List<PushRequest> pushes = java.util.Collections.synchronizedList(new java.util.ArrayList<>());

  FaultyTransport(Transport inner, long seed, double rate) {
    this.inner = inner;
    this.random = new Random(seed);
    this.rate = rate;
  }

  void enabled(boolean on) {
    enabled = on;
  }

  private Fault next() {
    if (!enabled || random.nextDouble() >= rate) {
      return Fault.NONE;
    }
    return Fault.values()[1 + random.nextInt(3)];
  }

  @Override
  public PushResult push(String dataset, PushRequest request) {
    pushes.add(request);
    switch (next()) {
      case DROP_REQUEST -> {
        dropped++;
        throw new TidesyncException("injected: push request dropped", true);
      }
      case DROP_RESPONSE -> {
        inner.push(dataset, request);
        dropped++;
        throw new TidesyncException("injected: push answer dropped", true);
      }
      case DUPLICATE -> {
        inner.push(dataset, request);
        duplicated++;
        return inner.push(dataset, request);
      }
      default -> {
        return inner.push(dataset, request);
      }
    }
  }

  @Override
  public PullPage pull(String dataset, String cursor, int limit, String device) {
    switch (next()) {
      case DROP_REQUEST, DROP_RESPONSE -> {
        if (random.nextBoolean()) {
          inner.pull(dataset, cursor, limit, device);
        }
        dropped++;
        throw new TidesyncException("injected: pull dropped", true);
      }
      case DUPLICATE -> {
        inner.pull(dataset, cursor, limit, device);
        duplicated++;
        return inner.pull(dataset, cursor, limit, device);
      }
      default -> {
        return inner.pull(dataset, cursor, limit, device);
      }
    }
  }
}
