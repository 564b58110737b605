package dev.tidesync.it;

import dev.tidesync.client.Transport;
import dev.tidesync.core.DatasetNotFoundException;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.Wire;

/**
 * A transport that calls a store in-process, through the wire codec both ways (so value encoding
 * is exercised). Not final: a test may hold a call at a chosen point (WriteDuringPullTest).
 */
public class LocalTransport implements Transport {
  private final Storage storage;

  public LocalTransport(Storage storage) {
    this.storage = storage;
  }

  @Override
  public PushResult push(String dataset, PushRequest request) {
    PushRequest decoded = Wire.readPush(new java.io.ByteArrayInputStream(Wire.writePush(request)), 100_000);
    PushResult r = storage.openOrCreate(dataset).push(decoded);
    return Wire.readPushResult(new java.io.ByteArrayInputStream(Wire.writePushResult(r)));
  }

  @Override
  public PullPage pull(String dataset, String cursor, int limit, String device) {
    PullPage p = storage.find(dataset).orElseThrow(() -> new DatasetNotFoundException(dataset)).pull(cursor, limit, device);
    return Wire.readPull(new java.io.ByteArrayInputStream(Wire.writePull(p)));
  }
}
