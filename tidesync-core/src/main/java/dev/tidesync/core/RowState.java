package dev.tidesync.core;

import dev.tidesync.protocol.internal.OwnedMap;
import java.util.Map;

/**
 * What a replica knows of one row: its column values (for a tombstone, the values it had when
 * deleted, possibly empty), the clock of every column, and two registers that decide whether the
 * row exists: {@code live} (newest clock of any insert or update) and {@code dead} (newest clock
 * of any delete). The row exists when live is newer than dead. Clocks are HLC text (sortable).
 */
public record RowState(Map<String, Object> values, Map<String, String> clocks, String live, String dead, long version) {
  public RowState {
    // A merge's own maps are kept, not copied (see OwnedMap); anything else is copied.
    values = java.util.Collections.unmodifiableMap(values instanceof OwnedMap<String, Object> ? values : new java.util.LinkedHashMap<>(values));
    clocks = clocks instanceof OwnedMap<String, String> ? java.util.Collections.unmodifiableMap(clocks) : Map.copyOf(clocks);
  }

  public boolean deleted() {
    return !Clocks.newer(live, dead);
  }

  /** The newest clock of anything that happened to the row. */
  public String hlc() {
    return Clocks.max(live, dead);
  }
}
