package dev.tidesync.core;

import java.util.OptionalLong;
import java.util.function.Supplier;

/**
 * Server-wide state that must live in the storage, not in a process: every server process on the
 * same storage, and the operator's commands (running server or not), see the same values.
 */
public interface ServerState {
  /**
   * The server's token signing key (opaque text, e.g. a JWK set). The first caller's
   * {@code generate} creates it; later callers, in this process or another, get that same
   * value even when they race.
   */
  String signingKey(Supplier<String> generate);

  /** Refuses the device's tokens issued at or before {@code atMillis} from now on. */
  void revokeDevice(String tenant, String device, long atMillis);

  /** When the device was last revoked, or empty when it never was. Read on every request. */
  OptionalLong revokedAt(String tenant, String device);
}
