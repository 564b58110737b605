package dev.tidesync.protocol;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import dev.tidesync.protocol.internal.OwnedList;
import dev.tidesync.protocol.internal.OwnedMap;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Protocol v1 JSON codec (see docs/PROTOCOL.md). Streaming in both directions so that a page or
 * batch is never held twice in memory. Readers are strict: unknown value shapes, wrong types and
 * missing fields raise {@link ProtocolException} naming the field.
 *
 * <p>Values: INTEGER is a JSON integer (full 64-bit), REAL a JSON number that always has a
 * fraction or exponent (Java's shortest round-trip form, so bits survive), TEXT a string, NULL
 * null, BLOB {@code {"$b64": "..."}}, and non-finite REALs {@code {"$real": "NaN"|"Infinity"|"-Infinity"}}.
 */
public final class Wire {
  public static final int VERSION = 1;
  public static final String CHECKSUM_HEADER = "Tidesync-Batch-SHA256";
  public static final int MAX_DEPTH = 16;
  public static final int MAX_STRING = 8 * 1024 * 1024;

  private static final JsonFactory FACTORY = JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder()
          .maxNestingDepth(MAX_DEPTH)
          .maxStringLength(MAX_STRING)
          .maxNumberLength(64)
          .build())
      // Schubfach for writing and FastDoubleParser for reading: both are exact (the shortest text
      // that parses back to the same bits, and correctly rounded parsing), several times faster
      // than Double.toString / Double.parseDouble on JDK 17, and REALs are most of a batch's text.
      .enable(com.fasterxml.jackson.core.StreamWriteFeature.USE_FAST_DOUBLE_WRITER)
      .enable(com.fasterxml.jackson.core.StreamReadFeature.USE_FAST_DOUBLE_PARSER)
      .build();

  private Wire() {}

  // ---------------------------------------------------------------- push

  public static byte[] writePush(PushRequest r) {
    return bytes(g -> {
      g.writeStartObject();
      g.writeNumberField("v", VERSION);
      if (r.dataset() != null) {
        g.writeStringField("dataset", r.dataset());
      }
      g.writeStringField("device", r.device());
      g.writeStringField("batch", r.batch());
      g.writeArrayFieldStart("schema");
      for (TableSchema t : r.schema()) {
        writeTable(g, t);
      }
      g.writeEndArray();
      g.writeArrayFieldStart("changes");
      for (Change c : r.changes()) {
        writeChange(g, c);
      }
      g.writeEndArray();
      g.writeEndObject();
    });
  }

  /** Reads a push body; {@code maxChanges} bounds the batch length. */
  public static PushRequest readPush(InputStream in, int maxChanges) {
    return read(in, p -> {
      expect(p, JsonToken.START_OBJECT, "push body");
      String dataset = null;
      String device = null;
      String batch = null;
      List<TableSchema> schema = List.of();
      List<Change> changes = null;
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String f = p.currentName();
        p.nextToken();
        switch (f) {
          case "v" -> checkVersion(p);
          case "dataset" -> dataset = string(p, "dataset");
          case "device" -> device = string(p, "device");
          case "batch" -> batch = string(p, "batch");
          case "schema" -> schema = readTables(p);
          case "changes" -> changes = readChanges(p, maxChanges, true);
          default -> p.skipChildren();
        }
      }
      require(device, "device");
      require(batch, "batch");
      require(changes, "changes");
      if (batch.isEmpty() || batch.length() > 128) {
        throw new ProtocolException("bad_batch", "batch id must be 1..128 characters");
      }
      if (device.isEmpty() || device.length() > 128) {
        throw new ProtocolException("bad_device", "device id must be 1..128 characters");
      }
      return new PushRequest(dataset, device, batch, schema, changes);
    });
  }

  public static byte[] writePushResult(PushResult r) {
    return bytes(g -> {
      g.writeStartObject();
      g.writeStringField("batch", r.batch());
      g.writeBooleanField("replayed", r.replayed());
      g.writeStringField("cursor", r.cursor());
      g.writeNumberField("applied", r.count(ChangeResult.APPLIED));
      g.writeNumberField("merged", r.count(ChangeResult.MERGED));
      g.writeNumberField("conflicts", r.count(ChangeResult.CONFLICT));
      g.writeNumberField("rejected", r.count(ChangeResult.REJECTED));
      g.writeArrayFieldStart("results");
      for (ChangeResult c : r.results()) {
        g.writeStartObject();
        g.writeNumberField("i", c.index());
        g.writeStringField("status", c.status());
        g.writeNumberField("version", c.version());
        if (c.reason() != null) {
          g.writeStringField("reason", c.reason());
          g.writeBooleanField("retriable", c.retriable());
        }
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    });
  }

  public static PushResult readPushResult(InputStream in) {
    return read(in, p -> {
      expect(p, JsonToken.START_OBJECT, "push result");
      String batch = null;
      String cursor = null;
      boolean replayed = false;
      List<ChangeResult> results = new ArrayList<>();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String f = p.currentName();
        p.nextToken();
        switch (f) {
          case "batch" -> batch = string(p, "batch");
          case "cursor" -> cursor = p.currentToken() == JsonToken.VALUE_NULL ? null : string(p, "cursor");
          case "replayed" -> replayed = p.getBooleanValue();
          case "results" -> {
            expect(p, JsonToken.START_ARRAY, "results");
            while (p.nextToken() == JsonToken.START_OBJECT) {
              int i = -1;
              String status = null;
              long version = 0;
              String reason = null;
              boolean retriable = false;
              while (p.nextToken() == JsonToken.FIELD_NAME) {
                String k = p.currentName();
                p.nextToken();
                switch (k) {
                  case "i" -> i = p.getIntValue();
                  case "status" -> status = p.getText();
                  case "version" -> version = p.getLongValue();
                  case "reason" -> reason = p.getText();
                  case "retriable" -> retriable = p.getBooleanValue();
                  default -> p.skipChildren();
                }
              }
              results.add(new ChangeResult(i, status, version, reason, retriable));
            }
          }
          default -> p.skipChildren();
        }
      }
      return new PushResult(batch, results, cursor, replayed);
    });
  }

  // ---------------------------------------------------------------- pull

  /** Writes a pull page; the server streams the changes as it reads them. */
  public static PageWriter pageWriter(OutputStream out) {
    return new PageWriter(out);
  }

  /** Streams one pull page: header fields first, then each change, then the trailer. */
  public static final class PageWriter implements AutoCloseable {
    private final JsonGenerator g;

    PageWriter(OutputStream out) {
      try {
        g = FACTORY.createGenerator(out);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    public void begin(boolean bootstrap, List<TableSchema> schema) {
      io(() -> {
        g.writeStartObject();
        g.writeNumberField("v", VERSION);
        g.writeBooleanField("bootstrap", bootstrap);
        g.writeArrayFieldStart("schema");
        for (TableSchema t : schema) {
          writeTable(g, t);
        }
        g.writeEndArray();
        g.writeArrayFieldStart("changes");
      });
    }

    public void change(Change c) {
      io(() -> writeChange(g, c));
    }

    public void end(String cursor, boolean hasMore) {
      io(() -> {
        g.writeEndArray();
        g.writeStringField("cursor", cursor);
        g.writeBooleanField("hasMore", hasMore);
        g.writeEndObject();
        g.flush();
      });
    }

    @Override
    public void close() {
      io(g::close);
    }
  }

  public static byte[] writePull(PullPage page) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (PageWriter w = pageWriter(out)) {
      w.begin(page.bootstrap(), page.schema());
      page.changes().forEach(w::change);
      w.end(page.cursor(), page.hasMore());
    }
    return out.toByteArray();
  }

  public static PullPage readPull(InputStream in) {
    return read(in, p -> {
      expect(p, JsonToken.START_OBJECT, "pull page");
      String cursor = null;
      boolean hasMore = false;
      boolean bootstrap = false;
      List<TableSchema> schema = List.of();
      List<Change> changes = List.of();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String f = p.currentName();
        p.nextToken();
        switch (f) {
          case "v" -> checkVersion(p);
          case "cursor" -> cursor = string(p, "cursor");
          case "hasMore" -> hasMore = p.getBooleanValue();
          case "bootstrap" -> bootstrap = p.getBooleanValue();
          case "schema" -> schema = readTables(p);
          case "changes" -> changes = readChanges(p, Integer.MAX_VALUE, false);
          default -> p.skipChildren();
        }
      }
      require(cursor, "cursor");
      return new PullPage(cursor, hasMore, bootstrap, schema, changes);
    });
  }

  // ---------------------------------------------------------------- errors and misc

  public static byte[] writeError(String code, String message) {
    return bytes(g -> {
      g.writeStartObject();
      g.writeStringField("error", code);
      g.writeStringField("message", message);
      g.writeEndObject();
    });
  }

  /** Reads {@code {"error": code, "message": ...}}; returns {code, message} or null if not an error body. */
  public static String[] readError(byte[] body) {
    try (JsonParser p = FACTORY.createParser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      String code = null;
      String message = null;
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String f = p.currentName();
        p.nextToken();
        if (f.equals("error")) {
          code = p.getText();
        } else if (f.equals("message")) {
          message = p.getText();
        } else {
          p.skipChildren();
        }
      }
      return code == null ? null : new String[] {code, message};
    } catch (IOException e) {
      return null;
    }
  }

  /** The schema alone, as stored in replicas' metadata. */
  public static byte[] writeSchema(List<TableSchema> tables) {
    return bytes(g -> {
      g.writeStartArray();
      for (TableSchema t : tables) {
        writeTable(g, t);
      }
      g.writeEndArray();
    });
  }

  public static List<TableSchema> readSchema(byte[] json) {
    return read(new java.io.ByteArrayInputStream(json), Wire::readTables);
  }

  public static JsonFactory factory() {
    return FACTORY;
  }

  // ---------------------------------------------------------------- tables

  static void writeTable(JsonGenerator g, TableSchema t) throws IOException {
    g.writeStartObject();
    g.writeStringField("name", t.name());
    g.writeStringField("policy", t.policy().wireName());
    g.writeArrayFieldStart("columns");
    for (ColumnSchema c : t.columns()) {
      g.writeStartObject();
      g.writeStringField("name", c.name());
      g.writeStringField("type", c.type());
      g.writeBooleanField("notNull", c.notNull());
      if (c.defaultSql() != null) {
        g.writeStringField("default", c.defaultSql());
      }
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeArrayFieldStart("primaryKey");
    for (String k : t.primaryKey()) {
      g.writeString(k);
    }
    g.writeEndArray();
    g.writeArrayFieldStart("foreignKeys");
    for (ForeignKey fk : t.foreignKeys()) {
      g.writeStartObject();
      g.writeArrayFieldStart("columns");
      for (String c : fk.columns()) {
        g.writeString(c);
      }
      g.writeEndArray();
      g.writeStringField("refTable", fk.refTable());
      g.writeArrayFieldStart("refColumns");
      for (String c : fk.refColumns()) {
        g.writeString(c);
      }
      g.writeEndArray();
      g.writeStringField("onDelete", fk.onDelete());
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeEndObject();
  }

  static List<TableSchema> readTables(JsonParser p) throws IOException {
    expect(p, JsonToken.START_ARRAY, "schema");
    List<TableSchema> out = new ArrayList<>();
    while (p.nextToken() == JsonToken.START_OBJECT) {
      String name = null;
      ConflictPolicy policy = null;
      List<ColumnSchema> cols = new ArrayList<>();
      List<String> pk = new ArrayList<>();
      List<ForeignKey> fks = new ArrayList<>();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String f = p.currentName();
        p.nextToken();
        switch (f) {
          case "name" -> name = string(p, "schema.name");
          case "policy" -> policy = ConflictPolicy.parse(string(p, "schema.policy"));
          case "columns" -> {
            expect(p, JsonToken.START_ARRAY, "schema.columns");
            while (p.nextToken() == JsonToken.START_OBJECT) {
              String cn = null;
              String type = "";
              boolean notNull = false;
              String def = null;
              while (p.nextToken() == JsonToken.FIELD_NAME) {
                String k = p.currentName();
                p.nextToken();
                switch (k) {
                  case "name" -> cn = string(p, "column.name");
                  case "type" -> type = string(p, "column.type");
                  case "notNull" -> notNull = bool(p, "column.notNull");
                  case "default" -> def = p.currentToken() == JsonToken.VALUE_NULL ? null : string(p, "column.default");
                  default -> p.skipChildren();
                }
              }
              cols.add(new ColumnSchema(require(cn, "column.name"), type, notNull, def));
            }
          }
          case "primaryKey" -> pk = strings(p, "schema.primaryKey");
          case "foreignKeys" -> {
            expect(p, JsonToken.START_ARRAY, "schema.foreignKeys");
            while (p.nextToken() == JsonToken.START_OBJECT) {
              List<String> fc = List.of();
              List<String> rc = List.of();
              String rt = null;
              String od = null;
              while (p.nextToken() == JsonToken.FIELD_NAME) {
                String k = p.currentName();
                p.nextToken();
                switch (k) {
                  case "columns" -> fc = strings(p, "foreignKey.columns");
                  case "refTable" -> rt = string(p, "foreignKey.refTable");
                  case "refColumns" -> rc = strings(p, "foreignKey.refColumns");
                  case "onDelete" -> od = string(p, "foreignKey.onDelete");
                  default -> p.skipChildren();
                }
              }
              fks.add(new ForeignKey(fc, require(rt, "foreignKey.refTable"), rc, od));
            }
          }
          default -> p.skipChildren();
        }
      }
      out.add(new TableSchema(require(name, "schema.name"), cols, pk, fks, policy));
    }
    return out;
  }

  // ---------------------------------------------------------------- changes

  static void writeChange(JsonGenerator g, Change c) throws IOException {
    g.writeStartObject();
    g.writeStringField("table", c.table());
    g.writeArrayFieldStart("pk");
    for (Object v : c.pk()) {
      writeValue(g, v);
    }
    g.writeEndArray();
    g.writeStringField("op", c.deleted() ? "delete" : "upsert");
    if (!c.deleted() || !c.cols().isEmpty()) {
      g.writeObjectFieldStart("cols");
      for (Map.Entry<String, Object> e : c.cols().entrySet()) {
        g.writeFieldName(e.getKey());
        writeValue(g, e.getValue());
      }
      g.writeEndObject();
    }
    g.writeStringField("hlc", c.hlc());
    if (!c.clocks().isEmpty()) {
      g.writeObjectFieldStart("clocks");
      for (Map.Entry<String, String> e : c.clocks().entrySet()) {
        g.writeStringField(e.getKey(), e.getValue());
      }
      g.writeEndObject();
    }
    if (c.base() != 0) {
      g.writeNumberField("base", c.base());
    }
    if (c.version() != 0) {
      g.writeNumberField("version", c.version());
    }
    g.writeEndObject();
  }

  static List<Change> readChanges(JsonParser p, int max, boolean push) throws IOException {
    expect(p, JsonToken.START_ARRAY, "changes");
    List<Change> out = new ArrayList<>();
    JsonToken t;
    while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
      if (t != JsonToken.START_OBJECT) {
        throw new ProtocolException("bad_change", "changes[" + out.size() + "] is not an object");
      }
      if (out.size() >= max) {
        throw new ProtocolException("batch_too_large", 413, "batch has more than " + max + " changes");
      }
      out.add(readChange(p, out.size()));
    }
    return out;
  }

  /** Where in a push's changes a value is, for error messages ({@link #readChange}). Reused per change. */
  private static final class Where {
    private final int index;
    private String part = "";
    private String column = "";

    Where(int index) {
      this.index = index;
    }

    Where at(String part, String column) {
      this.part = part;
      this.column = column == null ? "" : column;
      return this;
    }

    @Override
    public String toString() {
      return "changes[" + index + "]" + part + column;
    }
  }

  private static Change readChange(JsonParser p, int index) throws IOException {
    // The place named in an error message, built into text only when one is thrown: building
    // it for every value was a tenth of what decoding a batch allocated.
    Where where = new Where(index);
    String table = null;
    List<Object> pk = null;
    String op = null;
    Map<String, Object> cols = null;
    String hlc = null;
    Map<String, String> clocks = null;
    long base = 0;
    long version = 0;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String f = p.currentName();
      p.nextToken();
      switch (f) {
        case "table" -> table = string(p, where.at(".table", null));
        case "pk" -> {
          expect(p, JsonToken.START_ARRAY, where.at(".pk", null));
          pk = new OwnedList<>(2);
          while (p.nextToken() != JsonToken.END_ARRAY) {
            pk.add(readValue(p, where.at(".pk", null)));
          }
        }
        case "op" -> op = string(p, where.at(".op", null));
        case "cols" -> {
          expect(p, JsonToken.START_OBJECT, where.at(".cols", null));
          cols = new OwnedMap<>(8);
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String col = p.currentName();
            p.nextToken();
            if (cols.put(col, readValue(p, where.at(".cols.", col))) != null) {
              throw new ProtocolException("bad_change", where.at(".cols", null) + " names column '" + col + "' twice");
            }
          }
        }
        case "hlc" -> hlc = string(p, where.at(".hlc", null));
        case "clocks" -> {
          expect(p, JsonToken.START_OBJECT, where.at(".clocks", null));
          clocks = new LinkedHashMap<>();
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String col = p.currentName();
            p.nextToken();
            clocks.put(col, string(p, where.at(".clocks.", col)));
          }
        }
        case "base" -> base = longValue(p, where.at(".base", null));
        case "version" -> version = longValue(p, where.at(".version", null));
        default -> throw new ProtocolException("bad_change", where.at("", null) + " has unknown field '" + f + "'");
      }
    }
    require(table, where.at(".table", null));
    require(pk, where.at(".pk", null));
    require(op, where.at(".op", null));
    require(hlc, where.at(".hlc", null));
    if (!op.equals("upsert") && !op.equals("delete")) {
      throw new ProtocolException("bad_change", where.at(".op", null) + " must be 'upsert' or 'delete', not '" + op + "'");
    }
    if (pk.isEmpty()) {
      throw new ProtocolException("bad_change", where.at(".pk", null) + " is empty");
    }
    if (base < 0 || version < 0) {
      throw new ProtocolException("bad_change", where.at("", null) + " has a negative version");
    }
    Hlc.parse(hlc);
    if (clocks != null) {
      for (Map.Entry<String, String> e : clocks.entrySet()) {
        Hlc.parse(e.getValue());
      }
    }
    return new Change(table, pk, op.equals("delete"), cols, hlc, clocks, base, version);
  }

  public static void writeValue(JsonGenerator g, Object v) throws IOException {
    if (v == null) {
      g.writeNull();
    } else if (v instanceof Long l) {
      g.writeNumber(l);
    } else if (v instanceof Double d) {
      if (Double.isFinite(d)) {
        // The factory's fast writer (Schubfach): the shortest text that parses back to the same
        // bits, always with a '.' or an 'E', so readers see a float (RealCodecTest). It is not
        // always Double.toString's text on JDK 17 (that is not always the shortest), but it is
        // the same on every JDK, which matters where the text is an identity (Keys.canonical).
        g.writeNumber(d.doubleValue());
      } else {
        g.writeStartObject();
        g.writeStringField("$real", d.isNaN() ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        g.writeEndObject();
      }
    } else if (v instanceof String s) {
      g.writeString(s);
    } else if (v instanceof Bytes b) {
      g.writeStartObject();
      g.writeStringField("$b64", b.base64());
      g.writeEndObject();
    } else {
      writeValue(g, Values.normalize(v));
    }
  }

  public static Object readValue(JsonParser p, Object where) throws IOException {
    JsonToken t = p.currentToken();
    switch (t) {
      case VALUE_NULL:
        return null;
      case VALUE_STRING:
        return p.getText();
      case VALUE_NUMBER_INT:
        if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
          throw new ProtocolException("bad_value", where + ": integer outside the 64-bit range");
        }
        return p.getLongValue();
      case VALUE_NUMBER_FLOAT:
        return p.getDoubleValue();
      case VALUE_TRUE:
      case VALUE_FALSE:
        throw new ProtocolException("bad_value", where + ": booleans are not SQLite values (use 0/1)");
      case START_OBJECT: {
        if (p.nextToken() != JsonToken.FIELD_NAME) {
          throw new ProtocolException("bad_value", where + ": empty object is not a value");
        }
        String tag = p.currentName();
        if (p.nextToken() != JsonToken.VALUE_STRING) {
          throw new ProtocolException("bad_value", where + ": " + tag + " must be a string");
        }
        String text = p.getText();
        Object out;
        if (tag.equals("$b64")) {
          try {
            out = Bytes.wrap(java.util.Base64.getDecoder().decode(text));
          } catch (IllegalArgumentException e) {
            throw new ProtocolException("bad_value", where + ": invalid base64 in $b64");
          }
        } else if (tag.equals("$real")) {
          out = switch (text) {
            case "NaN" -> Double.NaN;
            case "Infinity" -> Double.POSITIVE_INFINITY;
            case "-Infinity" -> Double.NEGATIVE_INFINITY;
            default -> throw new ProtocolException("bad_value", where + ": $real must be NaN, Infinity or -Infinity");
          };
        } else {
          throw new ProtocolException("bad_value", where + ": unknown value tag '" + tag + "' (expected $b64 or $real)");
        }
        if (p.nextToken() != JsonToken.END_OBJECT) {
          throw new ProtocolException("bad_value", where + ": a tagged value has exactly one field");
        }
        return out;
      }
      default:
        throw new ProtocolException("bad_value", where + ": arrays are not values");
    }
  }

  // ---------------------------------------------------------------- helpers

  interface IoBody<T> {
    T run(JsonParser p) throws IOException;
  }

  interface IoWrite {
    void run(JsonGenerator g) throws IOException;
  }

  interface Io {
    void run() throws IOException;
  }

  static void io(Io body) {
    try {
      body.run();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] bytes(IoWrite body) {
    // Jackson's builder grows in segments joined once at the end; a ByteArrayOutputStream copies
    // the whole body at every doubling (a 200 KB batch allocated about 3x its size).
    try (com.fasterxml.jackson.core.util.ByteArrayBuilder out = new com.fasterxml.jackson.core.util.ByteArrayBuilder(8192)) {
      try (JsonGenerator g = FACTORY.createGenerator(out)) {
        body.run(g);
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static <T> T read(InputStream in, IoBody<T> body) {
    try (JsonParser p = FACTORY.createParser(in)) {
      p.nextToken();
      if (p.currentToken() == null) {
        throw new ProtocolException("bad_json", "empty body");
      }
      T out = body.run(p);
      if (p.nextToken() != null) {
        throw new ProtocolException("bad_json", "trailing data after the JSON document");
      }
      return out;
    } catch (StreamConstraintsException e) {
      throw new ProtocolException("limit_exceeded", 413, "JSON limit exceeded: " + firstLine(e.getOriginalMessage()));
    } catch (JsonParseException e) {
      throw new ProtocolException("bad_json", "malformed JSON: " + firstLine(e.getOriginalMessage()));
    } catch (IOException e) {
      throw new TidesyncException("reading JSON failed: " + e.getMessage(), true, e);
    }
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }

  private static void checkVersion(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.VALUE_NUMBER_INT || p.getIntValue() != VERSION) {
      throw new ProtocolException("bad_version", "unsupported protocol version " + p.getText() + " (this server speaks " + VERSION + ")");
    }
  }

  private static void expect(JsonParser p, JsonToken t, Object where) {
    if (p.currentToken() != t) {
      throw new ProtocolException("bad_json", where + ": expected " + describe(t) + " but found " + describe(p.currentToken()));
    }
  }

  private static String describe(JsonToken t) {
    if (t == null) {
      return "end of input";
    }
    return switch (t) {
      case START_OBJECT -> "an object";
      case START_ARRAY -> "an array";
      case VALUE_STRING -> "a string";
      case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
      case VALUE_TRUE, VALUE_FALSE -> "a boolean";
      case VALUE_NULL -> "null";
      default -> t.name().toLowerCase(java.util.Locale.ROOT);
    };
  }

  private static String string(JsonParser p, Object where) throws IOException {
    if (p.currentToken() != JsonToken.VALUE_STRING) {
      throw new ProtocolException("bad_json", where + ": expected a string but found " + describe(p.currentToken()));
    }
    return p.getText();
  }

  private static boolean bool(JsonParser p, String where) throws IOException {
    JsonToken t = p.currentToken();
    if (t != JsonToken.VALUE_TRUE && t != JsonToken.VALUE_FALSE) {
      throw new ProtocolException("bad_json", where + ": expected a boolean but found " + describe(t));
    }
    return t == JsonToken.VALUE_TRUE;
  }

  private static long longValue(JsonParser p, Object where) throws IOException {
    if (p.currentToken() != JsonToken.VALUE_NUMBER_INT) {
      throw new ProtocolException("bad_json", where + ": expected an integer but found " + describe(p.currentToken()));
    }
    return p.getLongValue();
  }

  private static List<String> strings(JsonParser p, String where) throws IOException {
    expect(p, JsonToken.START_ARRAY, where);
    List<String> out = new ArrayList<>();
    while (p.nextToken() != JsonToken.END_ARRAY) {
      out.add(string(p, where));
    }
    return out;
  }

  private static <T> T require(T v, Object field) {
    if (v == null) {
      throw new ProtocolException("bad_json", "missing field '" + field + "'");
    }
    return v;
  }
}
