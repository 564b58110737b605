package dev.tidesync.protocol;

/**
 * A hybrid logical clock (Kulkarni et al.): {@link #tick} for local events, {@link #receive} for
 * clocks seen from other nodes. Remote clocks further ahead of our wall clock than
 * {@code maxDriftMillis} are not adopted, so one device with a clock hours fast cannot drag every
 * replica's clock (and win every later conflict) with it. Thread-safe.
 */
public final class HlcClock {
  private final String node;
  private final WallClock wall;
  private final long maxDriftMillis;
  private long millis;
  private int counter;

  public HlcClock(String node, WallClock wall, long maxDriftMillis, Hlc last) {
    this.node = node;
    this.wall = wall;
    this.maxDriftMillis = maxDriftMillis;
    if (last != null) {
      this.millis = last.millis();
      this.counter = last.counter();
    }
  }

  public String node() {
    return node;
  }

  public long maxDriftMillis() {
    return maxDriftMillis;
  }

  public long wallMillis() {
    return wall.millis();
  }

  /** A new clock for a local event that happened at {@code eventWall} (or now if negative). */
  public synchronized Hlc tick(long eventWall) {
    long w = eventWall >= 0 ? eventWall : wall.millis();
    if (w > millis) {
      millis = w;
      counter = 0;
    } else if (counter < Hlc.MAX_COUNTER) {
      counter++;
    } else {
      millis++;
      counter = 0;
    }
    return new Hlc(millis, counter, node);
  }

  public Hlc tick() {
    return tick(-1);
  }

  /**
   * Merges a remote clock into ours. Returns false (and leaves the clock alone) when the remote
   * clock is further ahead of our wall clock than the allowed drift.
   */
  public synchronized boolean receive(Hlc remote) {
    if (remote.millis() > wall.millis() + maxDriftMillis) {
      return false;
    }
    if (remote.millis() > millis) {
      millis = remote.millis();
      counter = remote.counter();
    } else if (remote.millis() == millis && remote.counter() > counter) {
      counter = remote.counter();
    }
    return true;
  }

  /** True when {@code remote} is within the allowed drift of our wall clock. */
  public boolean withinDrift(Hlc remote) {
    return remote.millis() <= wall.millis() + maxDriftMillis;
  }

  public synchronized Hlc current() {
    return new Hlc(millis, counter, node);
  }
}
