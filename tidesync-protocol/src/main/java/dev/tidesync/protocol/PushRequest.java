package dev.tidesync.protocol;

import java.util.List;

/** A batch of changes from one device. {@code batch} is the idempotency key. */
public record PushRequest(String dataset, String device, String batch, List<TableSchema> schema, List<Change> changes) {
  public PushRequest {
    schema = List.copyOf(schema);
    changes = List.copyOf(changes);
  }
}
