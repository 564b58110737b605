package dev.tidesync.protocol;

/** The clock seam: where wall time comes from. Tests substitute a skewed or stepped clock. */
@FunctionalInterface
public interface WallClock {
  WallClock SYSTEM = System::currentTimeMillis;

  long millis();
}
