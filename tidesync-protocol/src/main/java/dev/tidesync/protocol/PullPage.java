package dev.tidesync.protocol;

import java.util.List;

/**
 * One page of a pull. {@code cursor} is opaque: send it back to continue. {@code bootstrap} is
 * true when the request had no cursor and the page is part of a full-state transfer
 * (tombstones included, for rows a replica wrote before its first pull). {@code schema} is the
 * dataset's schema as of the page's snapshot, so an empty replica can create its tables.
 */
public record PullPage(String cursor, boolean hasMore, boolean bootstrap, List<TableSchema> schema, List<Change> changes) {
  public PullPage {
    schema = List.copyOf(schema);
    changes = List.copyOf(changes);
  }
}
