package dev.tidesync.protocol;

/**
 * Table and column names. They are always double-quoted when put into SQL, and checked here so
 * that a name can never reach SQL text unquoted or name one of Tidesync's own tables.
 */
public final class Identifiers {
  public static final String RESERVED_PREFIX = "_tidesync_";
  public static final int MAX_LENGTH = 128;

  private Identifiers() {}

  public static String check(String name, String what) {
    if (name == null || name.isEmpty()) {
      throw new ProtocolException("bad_identifier", what + " name is empty");
    }
    if (name.length() > MAX_LENGTH) {
      throw new ProtocolException("bad_identifier", what + " name longer than " + MAX_LENGTH + " characters");
    }
    for (int i = 0; i < name.length(); i++) {
      char ch = name.charAt(i);
      if (ch < 0x20 || ch == 0x7f) {
        throw new ProtocolException("bad_identifier", what + " name contains a control character");
      }
    }
    String lower = name.toLowerCase(java.util.Locale.ROOT);
    if (lower.startsWith(RESERVED_PREFIX) || lower.startsWith("sqlite_")) {
      throw new ProtocolException("bad_identifier", what + " name '" + name + "' is reserved");
    }
    return name;
  }

  /** Double-quotes an identifier for SQL, doubling embedded quotes. */
  public static String quote(String name) {
    return '"' + name.replace("\"", "\"\"") + '"';
  }
}
