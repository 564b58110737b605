package dev.tidesync.core.internal;

import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.Change;
import java.util.Map;

/**
 * Sizes of changes as the wire carries them, roughly, and the byte budget of a pull page. Rows
 * are usually a few hundred bytes, but a row may hold megabytes (photos as BLOBs): a page or a
 * batch counted in rows alone could then be gigabytes in memory on either side.
 */
public final class Sizes {
  /**
   * The largest pull page a store builds, in estimated bytes of its changes' JSON: a page of
   * large rows holds fewer of them (at least one) and says {@code has_more}.
   */
  public static final long PAGE_BYTES = 8L * 1024 * 1024;

  private Sizes() {}

  /** A change's size in the JSON of a push or a pull page, roughly: text as ASCII, BLOBs in base64. */
  public static long approx(Change c) {
    long n = 64 + c.table().length() + (c.hlc() == null ? 0 : c.hlc().length());
    for (Object k : c.pk()) {
      n += approx(k);
    }
    n += approx(c.cols());
    for (Map.Entry<String, String> e : c.clocks().entrySet()) {
      n += e.getKey().length() + e.getValue().length() + 6;
    }
    return n;
  }

  /** A row's values' size in JSON, roughly (names and values). */
  public static long approx(Map<String, Object> cols) {
    long n = 0;
    for (Map.Entry<String, Object> e : cols.entrySet()) {
      n += e.getKey().length() + 4 + approx(e.getValue());
    }
    return n;
  }

  /** One value's size in JSON, roughly. */
  public static long approx(Object v) {
    if (v instanceof String s) {
      return s.length() + 2L;
    }
    if (v instanceof Bytes b) {
      return (b.length() + 2L) / 3 * 4 + 12;
    }
    return 24;
  }

  /**
   * How many more rows to read values for, while building a page: few at first (a row may be
   * megabytes), then as many as the room left holds at the average size so far, but never more
   * than were taken already (the slices double), and between 1 and {@code max}. Rows of another
   * size than those before them are only found by reading them: doubling bounds how many such
   * rows one slice asks for to as many as the page holds already, and the stores stop reading a
   * slice's values once the page's room is used (the rest are read by key while there is room).
   */
  public static int nextSlice(long used, int taken, long budget, int max) {
    if (taken == 0) {
      return Math.min(4, max);
    }
    long avg = Math.max(1, used / taken);
    long fit = (budget - used) / avg;
    return (int) Math.max(1, Math.min(Math.min(max, taken), fit));
  }
}
