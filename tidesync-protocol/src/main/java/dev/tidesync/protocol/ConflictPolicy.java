package dev.tidesync.protocol;

import java.util.Locale;

/** How concurrent writes to one row are resolved; set per table, default {@link #FIELD_MERGE}. */
public enum ConflictPolicy {
  /** Column-level last-writer-wins by HLC: edits to different columns both survive. */
  FIELD_MERGE("field-merge"),
  /** The whole row of the newer HLC wins. */
  LAST_WRITE_WINS("last-write-wins");

  private final String wireName;

  ConflictPolicy(String wireName) {
    this.wireName = wireName;
  }

  public String wireName() {
    return wireName;
  }

  public static ConflictPolicy parse(String s) {
    if (s == null) {
      return FIELD_MERGE;
    }
    for (ConflictPolicy p : values()) {
      if (p.wireName.equals(s.toLowerCase(Locale.ROOT))) {
        return p;
      }
    }
    throw new ProtocolException("bad_policy", "unknown conflict policy '" + s + "' (known: field-merge, last-write-wins)");
  }
}
