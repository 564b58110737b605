package dev.tidesync.protocol;

import java.util.List;

/** The server's answer to a push; the same answer is replayed for a retried batch id. */
public record PushResult(String batch, List<ChangeResult> results, String cursor, boolean replayed) {
  public PushResult {
    results = List.copyOf(results);
  }

  public long count(String status) {
    return results.stream().filter(r -> r.status().equals(status)).count();
  }

  public PushResult asReplay() {
    return new PushResult(batch, results, cursor, true);
  }
}
