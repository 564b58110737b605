package dev.tidesync.cli.internal;

import dev.tidesync.server.RateLimit;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Reads a request rate limit as the server's token bucket ({@link RateLimit}) takes it:
 * {@code PER_SECOND:BURST} ({@code 100:200}), {@code PER_SECOND} alone (the burst is then twice
 * the rate, as in the defaults), or {@code off} for no limit.
 */
public final class RateLimits implements ITypeConverter<RateLimit> {
  private static final Pattern RATE = Pattern.compile("(\\d{1,10})(?::(\\d{1,10}))?");
  private static final String FORMAT = "expected PER_SECOND[:BURST] such as 100:200, or off";

  @Override
  public RateLimit convert(String value) {
    return parse(value);
  }

  public static RateLimit parse(String value) {
    String s = value.strip().toLowerCase(Locale.ROOT);
    if (s.equals("off")) {
      return RateLimit.OFF;
    }
    Matcher m = RATE.matcher(s);
    if (!m.matches()) {
      throw new TypeConversionException("'" + value + "' is not a rate limit (" + FORMAT + ")");
    }
    long perSecond = Long.parseLong(m.group(1));
    // Zero is not "off" here: a typo of a small rate must not silently turn the guard off.
    if (perSecond < 1 || perSecond > Integer.MAX_VALUE) {
      throw new TypeConversionException("requests per second must be 1.." + Integer.MAX_VALUE + " (or off for no limit), got '" + value + "'");
    }
    long burst = m.group(2) == null ? Math.min(2 * perSecond, Integer.MAX_VALUE) : Long.parseLong(m.group(2));
    if (burst < 1 || burst > Integer.MAX_VALUE) {
      throw new TypeConversionException("the burst must be 1.." + Integer.MAX_VALUE + " requests, got '" + value + "'");
    }
    return new RateLimit((int) perSecond, (int) burst);
  }
}
