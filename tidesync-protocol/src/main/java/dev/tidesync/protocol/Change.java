package dev.tidesync.protocol;

import dev.tidesync.protocol.internal.OwnedList;
import dev.tidesync.protocol.internal.OwnedMap;
import java.util.List;
import java.util.Map;

/**
 * One row change on the wire.
 *
 * <p>{@code pk} holds the primary key values in key order. {@code cols} holds column values: on a
 * push only the columns that changed (all of them for an insert), on a pull the whole row.
 * {@code hlc} is the newest clock of the change; {@code clocks} lists the columns whose clock is
 * older than {@code hlc} (coalesced local edits). {@code base} is the server version the pushing
 * replica last saw for this row (0 = never); {@code version} is the server's version on a pull.
 */
public record Change(
    String table,
    List<Object> pk,
    boolean deleted,
    Map<String, Object> cols,
    String hlc,
    Map<String, String> clocks,
    long base,
    long version) {

  public Change {
    // Collections built for this change alone (decoded, or read for a push) are kept, not copied:
    // see OwnedMap. Anything else is copied, so a caller's later change to it cannot reach here.
    pk = java.util.Collections.unmodifiableList(pk instanceof OwnedList<Object> ? pk : new java.util.ArrayList<>(pk));
    cols = cols == null ? Map.of() : java.util.Collections.unmodifiableMap(cols instanceof OwnedMap<String, Object> ? cols : new java.util.LinkedHashMap<>(cols));
    clocks = clocks == null || clocks.isEmpty() ? Map.of() : Map.copyOf(clocks);
  }

  /** The clock of one column: its entry in {@code clocks}, else the change's {@code hlc}. */
  public String clockOf(String column) {
    String c = clocks.get(column);
    return c != null ? c : hlc;
  }
}
