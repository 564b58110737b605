package dev.tidesync.protocol.internal;

import java.util.LinkedHashMap;

/**
 * A map handed over to a value type ({@code Change}, {@code RowState}) that keeps it as it is,
 * behind an unmodifiable view, instead of copying it: the code that fills it builds it for that
 * value alone and never touches it again. Copying every row's columns twice (once when decoded or
 * merged, once more in the record) was a tenth of what the server's store did per pushed row
 * (BENCHMARKS.md, session 7). Any other map is still copied.
 */
public final class OwnedMap<K, V> extends LinkedHashMap<K, V> {
  private static final long serialVersionUID = 1L;

  public OwnedMap() {
    super();
  }

  /** Room for {@code expected} entries without a resize. */
  public OwnedMap(int expected) {
    super(Math.max(4, (int) (expected / 0.75f) + 1));
  }
}
