package dev.tidesync.cli.internal;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Reads {@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h}, {@code 30d} (or ISO-8601 {@code PT30S}) as a duration. */
public final class Durations implements ITypeConverter<Duration> {
  private static final Pattern SHORT = Pattern.compile("(\\d{1,9})(ms|s|m|h|d)");

  @Override
  public Duration convert(String value) {
    return parse(value);
  }

  public static Duration parse(String value) {
    String s = value.strip().toLowerCase(Locale.ROOT);
    Matcher m = SHORT.matcher(s);
    Duration d;
    if (m.matches()) {
      long n = Long.parseLong(m.group(1));
      d = switch (m.group(2)) {
        case "ms" -> Duration.ofMillis(n);
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        default -> Duration.ofDays(n);
      };
    } else {
      try {
        d = Duration.parse(value.strip().toUpperCase(Locale.ROOT));
      } catch (RuntimeException e) {
        throw new TypeConversionException("'" + value + "' is not a duration (examples: 500ms, 30s, 5m, 1h, 30d)");
      }
    }
    if (d.isNegative() || d.isZero()) {
      throw new TypeConversionException("duration must be positive, got '" + value + "'");
    }
    return d;
  }

  /** {@code 1.2 s}, {@code 850 ms}, {@code 3 min}: for messages. */
  public static String human(Duration d) {
    long ms = d.toMillis();
    if (ms < 1000) {
      return ms + " ms";
    }
    if (ms < 60_000) {
      return String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
    }
    if (ms < 3_600_000) {
      return String.format(Locale.ROOT, "%.1f min", ms / 60_000.0);
    }
    return String.format(Locale.ROOT, "%.1f h", ms / 3_600_000.0);
  }
}
