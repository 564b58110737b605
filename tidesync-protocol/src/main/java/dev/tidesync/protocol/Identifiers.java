package dev.tidesync.protocol;

/**
 * Table and column names. They are always double-quoted when put into SQL, and checked here so
 * that a name can never reach SQL text unquoted or name one of Tidesync's own tables. Quoting
 * alone would make any name safe in SQLite; the alphabet is narrowed as well (letters of any
 * script, digits, {@code _ $ -} and inner spaces) so that a name is also safe in every other store,
 * log line and shell, and so that an attempt such as {@code x"; DROP TABLE t; --} is refused by
 * name instead of merely being stored under an odd one.
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
    for (int i = 0; i < name.length(); ) {
      int ch = name.codePointAt(i);
      if (ch < 0x20 || ch == 0x7f) {
        throw new ProtocolException("bad_identifier", what + " name contains a control character");
      }
      if (!allowed(ch)) {
        throw new ProtocolException("bad_identifier", what + " name '" + name + "' contains '" + Character.toString(ch)
            + "'; names use letters, digits, '_', '$', '-' and inner spaces");
      }
      i += Character.charCount(ch);
    }
    if (name.isBlank() || name.charAt(0) == ' ' || name.charAt(name.length() - 1) == ' ') {
      throw new ProtocolException("bad_identifier", what + " name '" + name + "' starts or ends with a space");
    }
    String lower = name.toLowerCase(java.util.Locale.ROOT);
    if (lower.startsWith(RESERVED_PREFIX) || lower.startsWith("sqlite_")) {
      throw new ProtocolException("bad_identifier", what + " name '" + name + "' is reserved");
    }
    return name;
  }

  private static boolean allowed(int ch) {
    return Character.isLetterOrDigit(ch) || ch == '_' || ch == '$' || ch == '-' || ch == ' ';
  }

  /**
   * Whether SQLite takes two names for one: it ignores the case of ASCII letters only, so "Items"
   * and "items" are one table, "Étape" and "étape" two (Java's equalsIgnoreCase would say one).
   */
  public static boolean same(String a, String b) {
    return folded(a).equals(folded(b));
  }

  /** A name with its ASCII letters lower-cased and everything else as it is: see {@link #same}. */
  public static String folded(String name) {
    StringBuilder sb = null;
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (c >= 'A' && c <= 'Z') {
        if (sb == null) {
          sb = new StringBuilder(name);
        }
        sb.setCharAt(i, (char) (c + ('a' - 'A')));
      }
    }
    return sb == null ? name : sb.toString();
  }

  /** Double-quotes an identifier for SQL, doubling embedded quotes. */
  public static String quote(String name) {
    return '"' + name.replace("\"", "\"\"") + '"';
  }
}
