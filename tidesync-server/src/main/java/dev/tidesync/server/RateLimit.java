package dev.tidesync.server;

/**
 * A token bucket: {@code perSecond} requests a second on average, up to {@code burst} at once.
 * {@link #OFF} (perSecond 0) lets everything through.
 */
public record RateLimit(int perSecond, int burst) {
  public static final RateLimit OFF = new RateLimit(0, 0);

  public RateLimit {
    if (perSecond < 0 || burst < 0 || (perSecond > 0 && burst < 1)) {
      throw new IllegalArgumentException("rate limit needs perSecond >= 0 and, when on, burst >= 1; got " + perSecond + "/s burst " + burst);
    }
  }

  public boolean off() {
    return perSecond == 0;
  }

  @Override
  public String toString() {
    return off() ? "off" : perSecond + "/s (burst " + burst + ")";
  }
}
