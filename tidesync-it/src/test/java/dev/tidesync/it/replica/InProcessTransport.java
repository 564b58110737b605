package dev.tidesync.it.replica;

import dev.tidesync.client.Transport;
import dev.tidesync.core.DatasetNotFoundException;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.Wire;
import java.io.ByteArrayInputStream;

/** Calls a storage in-process, through the wire codec both ways (so value encoding is exercised). */
class InProcessTransport implements Transport {
  private final Storage storage;

  InProcessTransport(Storage storage) {
    this.storage = storage;
  }

  @Override
  public PushResult push(String dataset, PushRequest request) {
    PushRequest decoded = Wire.readPush(new ByteArrayInputStream(Wire.writePush(request)), 100_000);
    PushResult r = storage.openOrCreate(dataset).push(decoded);
    return Wire.readPushResult(new ByteArrayInputStream(Wire.writePushResult(r)));
  }

  @Override
  public PullPage pull(String dataset, String cursor, int limit, String device) {
    PullPage p = storage.find(dataset).orElseThrow(() -> new DatasetNotFoundException(dataset)).pull(cursor, limit, device);
    return Wire.readPull(new ByteArrayInputStream(Wire.writePull(p)));
  }
}
