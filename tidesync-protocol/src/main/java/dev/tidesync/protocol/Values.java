package dev.tidesync.protocol;

import java.util.List;

/**
 * The five SQLite storage classes as Java values: {@code null}, {@link Long}, {@link Double},
 * {@link String}, {@link Bytes}. Every value that crosses a seam is normalised here first.
 */
public final class Values {
  private Values() {}

  /** Normalises a JDBC value (Integer, byte[], ...) into one of the five classes. */
  public static Object normalize(Object v) {
    if (v == null || v instanceof Long || v instanceof Double || v instanceof String || v instanceof Bytes) {
      return v;
    }
    if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
      return ((Number) v).longValue();
    }
    if (v instanceof Float f) {
      return f.doubleValue();
    }
    if (v instanceof byte[] b) {
      return Bytes.of(b);
    }
    if (v instanceof Boolean b) {
      return b ? 1L : 0L;
    }
    throw new ProtocolException("bad_value", "unsupported value type " + v.getClass().getSimpleName());
  }

  /** Exact equality: 1 and 1.0 differ, and so do 0.0 and -0.0 (bit-exact round trips). */
  public static boolean same(Object a, Object b) {
    if (a instanceof Double x && b instanceof Double y) {
      return Double.doubleToRawLongBits(x) == Double.doubleToRawLongBits(y);
    }
    return a == null ? b == null : a.equals(b);
  }

  public static boolean sameList(List<Object> a, List<Object> b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (int i = 0; i < a.size(); i++) {
      if (!same(a.get(i), b.get(i))) {
        return false;
      }
    }
    return true;
  }

  /** A total order across classes (SQLite's: NULL < numbers < TEXT < BLOB), for deterministic tie-breaks. */
  public static int compare(Object a, Object b) {
    int ra = rank(a);
    int rb = rank(b);
    if (ra != rb) {
      return Integer.compare(ra, rb);
    }
    if (a == null) {
      return 0;
    }
    if (a instanceof Long x && b instanceof Long y) {
      return Long.compare(x, y);
    }
    if (a instanceof Number x && b instanceof Number y) {
      int c = Double.compare(x.doubleValue(), y.doubleValue());
      return c != 0 ? c : Integer.compare(a instanceof Long ? 0 : 1, b instanceof Long ? 0 : 1);
    }
    if (a instanceof String x) {
      return x.compareTo((String) b);
    }
    return ((Bytes) a).compareTo((Bytes) b);
  }

  private static int rank(Object v) {
    if (v == null) {
      return 0;
    }
    if (v instanceof Number) {
      return 1;
    }
    return v instanceof String ? 2 : 3;
  }
}
