package dev.tidesync.sqlite;

import dev.tidesync.protocol.PushRequest;
import java.util.function.Consumer;

/** A whole push scan of a replica, as flush() runs it, for tests that drive the replica directly. */
final class Scans {
  private Scans() {}

  /** Builds every batch of one scan (past its barriers, see {@link DeviceReplica.PushScan}) and hands each to {@code each} before building the next. */
  static void eachBatch(DeviceReplica replica, int limit, Consumer<PushRequest> each) {
    DeviceReplica.PushScan scan = new DeviceReplica.PushScan();
    do {
      PushRequest req;
      while ((req = replica.nextBatch("ds", scan, limit)) != null) {
        each.accept(req);
      }
    } while (scan.resume());
  }
}
