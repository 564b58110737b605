package dev.tidesync.core.internal;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.Wire;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Row keys. A row's global identity is its primary key values; as text (for metadata tables) it
 * is the canonical JSON array written by {@link #canonical}, the same on every replica because
 * the same code writes it. Capture triggers write SQLite's own {@code json_array} text, which
 * {@link #parseSqlite} reads back into values (BLOBs arrive as {@code {"$hex": ...}}).
 */
public final class Keys {
  private Keys() {}

  /**
   * Characters that every JSON writer leaves alone: a key made only of these (UUIDs, ULIDs, most
   * slugs) has one JSON spelling, so the common single-column key needs no JSON library.
   */
  private static boolean plain(String s) {
    return plain(s, 0, s.length());
  }

  /** The characters of {@link #plain}: a-z, A-Z, 0-9, '-', '_', '.', ':' (a table: it runs several times per row pushed). */
  private static final boolean[] PLAIN = new boolean[128];

  static {
    for (char c = 'a'; c <= 'z'; c++) {
      PLAIN[c] = true;
    }
    for (char c = 'A'; c <= 'Z'; c++) {
      PLAIN[c] = true;
    }
    for (char c = '0'; c <= '9'; c++) {
      PLAIN[c] = true;
    }
    for (char c : new char[] {'-', '_', '.', ':'}) {
      PLAIN[c] = true;
    }
  }

  private static boolean plain(String s, int from, int to) {
    if (to <= from || to - from > 200) {
      return false;
    }
    for (int i = from; i < to; i++) {
      char c = s.charAt(i);
      if (c >= 128 || !PLAIN[c]) {
        return false;
      }
    }
    return true;
  }

  public static String canonical(List<Object> pk) {
    if (pk.size() == 1) {
      Object v = pk.get(0);
      if (v instanceof String str && plain(str)) {
        return "[\"" + str + "\"]";
      }
      if (v instanceof Long l) {
        return "[" + l + "]";
      }
    }
    StringWriter w = new StringWriter(32);
    try (JsonGenerator g = Wire.factory().createGenerator(w)) {
      g.writeStartArray();
      for (Object v : pk) {
        Wire.writeValue(g, v);
      }
      g.writeEndArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return w.toString();
  }

  /**
   * The canonical key of a capture trigger's {@code json_array} text. A one-column plain string
   * key is spelled the same by both writers, so its text is returned as it is, unparsed.
   */
  public static String canonicalOfSqlite(String json) {
    int n = json.length();
    if (n >= 4 && json.charAt(0) == '[' && json.charAt(1) == '"' && json.charAt(n - 2) == '"' && json.charAt(n - 1) == ']'
        && plain(json, 2, n - 2)) {
      return json;
    }
    return canonical(parseSqlite(json));
  }

  /** Parses a canonical key (protocol value encoding). */
  public static List<Object> parseCanonical(String key) {
    List<Object> fast = parseSimple(key);
    if (fast != null) {
      return fast;
    }
    try (JsonParser p = Wire.factory().createParser(key)) {
      if (p.nextToken() != JsonToken.START_ARRAY) {
        throw new ProtocolException("bad_key", "row key is not a JSON array: " + key);
      }
      List<Object> out = new ArrayList<>(2);
      while (p.nextToken() != JsonToken.END_ARRAY) {
        out.add(Wire.readValue(p, "key"));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A one-column key of a plain string or an integer, without a JSON parser; else null. */
  private static List<Object> parseSimple(String key) {
    int n = key.length();
    if (n >= 4 && key.charAt(0) == '[' && key.charAt(1) == '"' && key.charAt(n - 2) == '"' && key.charAt(n - 1) == ']') {
      String inner = key.substring(2, n - 2);
      return plain(inner) ? List.of(inner) : null;
    }
    if (n >= 3 && key.charAt(0) == '[' && key.charAt(n - 1) == ']') {
      String inner = key.substring(1, n - 1);
      if (inner.matches("-?[0-9]{1,18}")) {
        return List.of(Long.parseLong(inner));
      }
    }
    return null;
  }

  /** Parses the text of SQLite's json_array(...) as written by a capture trigger. */
  public static List<Object> parseSqlite(String json) {
    List<Object> fast = parseSimple(json);
    if (fast != null) {
      return fast;
    }
    try (JsonParser p = Wire.factory().createParser(json)) {
      p.nextToken();
      List<Object> out = new ArrayList<>(2);
      JsonToken t;
      while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
        switch (t) {
          case VALUE_NULL -> out.add(null);
          case VALUE_NUMBER_INT -> out.add(p.getLongValue());
          case VALUE_NUMBER_FLOAT -> out.add(p.getDoubleValue());
          case VALUE_STRING -> out.add(p.getText());
          case START_OBJECT -> {
            p.nextToken();
            p.nextToken();
            out.add(Bytes.of(HexFormat.of().parseHex(p.getText())));
            p.nextToken();
          }
          default -> throw new IllegalStateException("unexpected key token " + t + " in " + json);
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The values a delete trigger logged (see {@code Capture.oldValues}). */
  public static Map<String, Object> parseSqliteValues(String json) {
    Map<String, Object> out = new java.util.LinkedHashMap<>();
    try (JsonParser p = Wire.factory().createParser(json)) {
      p.nextToken();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String col = p.currentName();
        JsonToken t = p.nextToken();
        switch (t) {
          case VALUE_NULL -> out.put(col, null);
          case VALUE_NUMBER_INT -> out.put(col, p.getLongValue());
          case VALUE_NUMBER_FLOAT -> out.put(col, p.getDoubleValue());
          case VALUE_STRING -> out.put(col, p.getText());
          case START_OBJECT -> {
            p.nextToken();
            String tag = p.currentName();
            p.nextToken();
            String text = p.getText();
            p.nextToken();
            out.put(col, tag.equals("$hex") ? Bytes.of(HexFormat.of().parseHex(text)) : parseReal(text));
          }
          default -> throw new IllegalStateException("unexpected value token " + t + " in " + json);
        }
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static double parseReal(String text) {
    return switch (text) {
      case "Inf", "+Inf" -> Double.POSITIVE_INFINITY;
      case "-Inf" -> Double.NEGATIVE_INFINITY;
      default -> Double.parseDouble(text);
    };
  }

  /** A JSON object of column values in protocol value encoding (for conflict records and tombstones). */
  public static String valuesJson(Map<String, Object> values) {
    if (values == null) {
      return null;
    }
    StringWriter w = new StringWriter(64);
    try (JsonGenerator g = Wire.factory().createGenerator(w)) {
      g.writeStartObject();
      for (Map.Entry<String, Object> e : values.entrySet()) {
        g.writeFieldName(e.getKey());
        Wire.writeValue(g, e.getValue());
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return w.toString();
  }

  public static Map<String, Object> parseValues(String json) {
    Map<String, Object> out = new java.util.LinkedHashMap<>();
    if (json == null) {
      return out;
    }
    try (JsonParser p = Wire.factory().createParser(json)) {
      p.nextToken();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String k = p.currentName();
        p.nextToken();
        out.put(k, Wire.readValue(p, k));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {col: clock} maps as JSON text (sorted, so equal maps give equal text). */
  public static String clocksJson(Map<String, String> clocks) {
    return clocks == null ? null : valuesJson(new java.util.TreeMap<String, Object>(clocks));
  }

  /**
   * Clocks as stored in metadata: {@code *N} when the first N columns (all there were) carry the
   * same clock {@code live} — every freshly inserted row, the common case, without any JSON —
   * else the JSON map. N keeps a column added later from inheriting a clock it never had.
   */
  public static String packClocks(Map<String, String> clocks, List<String> columns, String live) {
    if (clocks == null || clocks.isEmpty()) {
      return null;
    }
    if (live != null && clocks.size() == columns.size()) {
      boolean uniform = true;
      for (String c : columns) {
        if (!live.equals(clocks.get(c))) {
          uniform = false;
          break;
        }
      }
      if (uniform) {
        return "*" + columns.size();
      }
    }
    return clocksJson(clocks);
  }

  public static Map<String, String> unpackClocks(String packed, List<String> columns, String live) {
    if (packed != null && packed.startsWith("*")) {
      int n = Math.min(Integer.parseInt(packed.substring(1)), columns.size());
      Map<String, String> out = new java.util.HashMap<>();
      for (int i = 0; i < n; i++) {
        out.put(columns.get(i), live);
      }
      return out;
    }
    return parseClocks(packed);
  }

  /**
   * The {@code clocks} of a pulled change: the clock of each of its columns {@code cols} that
   * differs from the change's {@code hlc}, from the row's stored (packed) clocks. A packed
   * {@code *N} gives the first N columns the row's live clock (the {@code hlc} of a live row) and
   * stores none for later ones, and {@code -N} is an insert's clock likewise: either way it lists
   * none. A column without a stored clock is not listed (it carries {@code hlc}).
   */
  public static Map<String, String> pulledClocks(String packed, String hlc, java.util.Set<String> cols) {
    if (packed == null || packed.startsWith("*") || packed.startsWith("-")) {
      return Map.of();
    }
    Map<String, String> out = new java.util.HashMap<>();
    parseClocks(packed).forEach((col, clock) -> {
      if (cols.contains(col) && !clock.equals(hlc)) {
        out.put(col, clock);
      }
    });
    return out;
  }

  public static Map<String, String> parseClocks(String json) {
    Map<String, String> out = new java.util.HashMap<>();
    parseValues(json).forEach((k, v) -> out.put(k, (String) v));
    return out;
  }
}
