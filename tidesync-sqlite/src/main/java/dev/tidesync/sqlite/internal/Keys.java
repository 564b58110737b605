package dev.tidesync.sqlite.internal;

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

  public static String canonical(List<Object> pk) {
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

  /** Parses a canonical key (protocol value encoding). */
  public static List<Object> parseCanonical(String key) {
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

  /** Parses the text of SQLite's json_array(...) as written by a capture trigger. */
  public static List<Object> parseSqlite(String json) {
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

  /** {col: clock} maps as JSON text. */
  public static String clocksJson(Map<String, String> clocks) {
    if (clocks == null) {
      return null;
    }
    StringWriter w = new StringWriter(64);
    try (JsonGenerator g = Wire.factory().createGenerator(w)) {
      g.writeStartObject();
      for (Map.Entry<String, String> e : new java.util.TreeMap<>(clocks).entrySet()) {
        g.writeStringField(e.getKey(), e.getValue());
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return w.toString();
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

  public static Map<String, String> parseClocks(String json) {
    Map<String, String> out = new java.util.HashMap<>();
    if (json == null) {
      return out;
    }
    try (JsonParser p = Wire.factory().createParser(json)) {
      p.nextToken();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String k = p.currentName();
        p.nextToken();
        out.put(k, p.getText());
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
