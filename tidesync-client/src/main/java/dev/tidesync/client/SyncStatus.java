package dev.tidesync.client;

import java.time.Instant;
import java.util.Map;

/** A device's sync state: pending and failed rows per table, cursor, last success and last error. */
public record SyncStatus(
    String device,
    String dataset,
    String cursor,
    Map<String, Long> pending,
    Map<String, Long> failed,
    Instant lastSuccess,
    String lastError,
    boolean background) {
  public SyncStatus {
    pending = Map.copyOf(pending);
    failed = Map.copyOf(failed);
  }

  public long pendingTotal() {
    return pending.values().stream().mapToLong(Long::longValue).sum();
  }
}
