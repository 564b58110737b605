package dev.tidesync.server;

import dev.tidesync.protocol.ProtocolException;
import java.util.Locale;

/**
 * What a token lets its device do. Each role includes the ones before it: {@code read} pulls and
 * sees discovery and status; {@code write} also pushes; {@code admin} also reads the conflict log
 * and creates datasets by pushing to them.
 */
public enum Role {
  READ,
  WRITE,
  ADMIN;

  /** The name in tokens and on the command line: {@code read}, {@code write}, {@code admin}. */
  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }

  public boolean includes(Role other) {
    return compareTo(other) >= 0;
  }

  public static Role parse(String s) {
    for (Role r : values()) {
      if (r.wireName().equals(s)) {
        return r;
      }
    }
    throw new ProtocolException("bad_role", "role must be read, write or admin, got '" + s + "'");
  }
}
