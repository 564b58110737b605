package dev.tidesync.cli.internal;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;

/** Formatting shared by the commands: times, row images, padding. Output is plain ASCII. */
public final class Text {
  private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss");
  private static final DateTimeFormatter DATE_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");

  private Text() {}

  /** {@code 14:03:07 (12 s ago)}, a date when not today, {@code never} for 0. */
  public static String when(long epochMillis) {
    if (epochMillis <= 0) {
      return "never";
    }
    ZonedDateTime t = Instant.ofEpochMilli(epochMillis).atZone(ZoneId.systemDefault());
    String at = t.toLocalDate().equals(LocalDate.now()) ? TIME.format(t) : DATE_TIME.format(t);
    long ago = System.currentTimeMillis() - epochMillis;
    return ago < 0 ? at : at + " (" + Durations.human(Duration.ofMillis(ago)).replace(".0 ", " ") + " ago)";
  }

  public static String pad(String s, int width) {
    return s.length() >= width ? s : s + " ".repeat(width - s.length());
  }

  /** A canonical key {@code ["s1"]} as {@code s1}; composite keys stay JSON arrays. */
  public static String key(String canonical) {
    if (canonical != null && canonical.startsWith("[\"") && canonical.endsWith("\"]") && canonical.indexOf("\",") < 0
        && canonical.indexOf('\\') < 0) {
      return canonical.substring(2, canonical.length() - 2);
    }
    if (canonical != null && canonical.matches("\\[-?\\d+]")) {
      return canonical.substring(1, canonical.length() - 1);
    }
    return canonical;
  }

  /** A row image ({@code {"name":"x","score":3}}) as {@code name='x' score=3}; {@code (absent)} for null. */
  public static String row(JsonNode values) {
    if (values == null || values.isNull() || values.isMissingNode()) {
      return "(absent: deleted or never existed)";
    }
    StringBuilder sb = new StringBuilder();
    for (Map.Entry<String, JsonNode> e : values.properties()) {
      if (sb.length() > 0) {
        sb.append(' ');
      }
      sb.append(e.getKey()).append('=').append(value(e.getValue()));
    }
    return sb.length() == 0 ? "(no columns)" : sb.toString();
  }

  /** One protocol v1 value: text quoted, numbers plain, blobs and special reals by tag. */
  public static String value(JsonNode v) {
    if (v == null || v.isNull()) {
      return "NULL";
    }
    if (v.isTextual()) {
      return "'" + v.asText().replace("'", "''") + "'";
    }
    if (v.isObject() && v.has("$b64")) {
      return "x'" + v.get("$b64").asText() + "' (base64)";
    }
    if (v.isObject() && v.has("$real")) {
      return v.get("$real").asText();
    }
    return v.toString();
  }
}
