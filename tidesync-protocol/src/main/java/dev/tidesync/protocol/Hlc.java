package dev.tidesync.protocol;

/**
 * A hybrid logical clock reading: wall-clock milliseconds, a counter for events within the same
 * millisecond, and the node that made it (tie-break). The text form
 * {@code 0001733000000000.00000.node} sorts lexicographically in the same order as
 * {@link #compareTo}, so stores can compare clocks as plain strings.
 */
public record Hlc(long millis, int counter, String node) implements Comparable<Hlc> {
  public static final int MAX_COUNTER = 0xFFFF;

  public Hlc {
    if (millis < 0 || millis > 9_999_999_999_999_999L) {
      throw new ProtocolException("bad_hlc", "HLC millis out of range: " + millis);
    }
    if (counter < 0 || counter > MAX_COUNTER) {
      throw new ProtocolException("bad_hlc", "HLC counter out of range: " + counter);
    }
    if (node == null || node.isEmpty() || node.length() > 128) {
      throw new ProtocolException("bad_hlc", "HLC node must be 1..128 characters");
    }
  }

  public static Hlc parse(String text) {
    if (text == null || text.length() < 24 || text.charAt(16) != '.' || text.charAt(22) != '.') {
      throw new ProtocolException("bad_hlc", "malformed HLC '" + text + "' (expected 16 digits.5 digits.node)");
    }
    try {
      return new Hlc(Long.parseLong(text, 0, 16, 10), Integer.parseInt(text, 17, 22, 10), text.substring(23));
    } catch (NumberFormatException e) {
      throw new ProtocolException("bad_hlc", "malformed HLC '" + text + "'");
    }
  }

  @Override
  public String toString() {
    StringBuilder sb = new StringBuilder(24 + node.length());
    String m = Long.toString(millis);
    sb.append("0".repeat(16 - m.length())).append(m).append('.');
    String c = Integer.toString(counter);
    sb.append("0".repeat(5 - c.length())).append(c).append('.').append(node);
    return sb.toString();
  }

  @Override
  public int compareTo(Hlc o) {
    int c = Long.compare(millis, o.millis);
    if (c == 0) {
      c = Integer.compare(counter, o.counter);
    }
    return c != 0 ? c : node.compareTo(o.node);
  }
}
