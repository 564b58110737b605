package dev.tidesync.pg.internal;

import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ProtocolException;
import java.math.BigDecimal;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.Locale;

/**
 * How SQLite's dynamically typed columns are stored in PostgreSQL's typed ones. A column's
 * PostgreSQL type follows SQLite's type affinity of its declared type (the rules of
 * https://www.sqlite.org/datatype3.html, section 3.1); a value of another storage class than the
 * column holds is refused (the change is rejected with a reason), never converted, so every value
 * that is stored round-trips exactly.
 */
public enum PgTypes {
  /** INTEGER affinity ("INT" in the declared type): 64-bit integers. */
  BIGINT("bigint"),
  /** TEXT affinity ("CHAR", "CLOB", "TEXT") and untyped columns: text (no U+0000, a PostgreSQL limit). */
  TEXT("text"),
  /** "BLOB": byte strings. */
  BYTEA("bytea"),
  /** REAL affinity ("REAL", "FLOA", "DOUB"): IEEE doubles, bit-exact (PostgreSQL prints them shortest-exact). */
  FLOAT8("double precision"),
  /** NUMERIC affinity (anything else, e.g. NUMERIC, DECIMAL, BOOLEAN, DATE): integers and doubles. */
  NUMERIC("numeric");

  private final String sql;

  PgTypes(String sql) {
    this.sql = sql;
  }

  public String sql() {
    return sql;
  }

  public static PgTypes of(ColumnSchema c) {
    return of(c.type());
  }

  public static PgTypes of(String declared) {
    String t = declared.toUpperCase(Locale.ROOT);
    if (t.contains("INT")) {
      return BIGINT;
    }
    if (t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") || t.isBlank()) {
      return TEXT;
    }
    if (t.contains("BLOB")) {
      return BYTEA;
    }
    if (t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB")) {
      return FLOAT8;
    }
    return NUMERIC;
  }

  /** Binds {@code v} (one of the protocol's five value classes) or refuses it with a reason. */
  public void bind(PreparedStatement ps, int index, String column, Object v) throws SQLException {
    if (v == null) {
      ps.setNull(index, switch (this) {
        case BIGINT -> Types.BIGINT;
        case TEXT -> Types.VARCHAR;
        case BYTEA -> Types.BINARY;
        case FLOAT8 -> Types.DOUBLE;
        case NUMERIC -> Types.NUMERIC;
      });
      return;
    }
    switch (this) {
      case BIGINT -> {
        if (!(v instanceof Long l)) {
          throw mismatch(column, v);
        }
        ps.setLong(index, l);
      }
      case TEXT -> {
        if (!(v instanceof String s)) {
          throw mismatch(column, v);
        }
        if (s.indexOf('\u0000') >= 0) {
          throw new ProtocolException("bad_value", "column '" + column + "': PostgreSQL text cannot hold the character U+0000");
        }
        ps.setString(index, s);
      }
      case BYTEA -> {
        if (!(v instanceof Bytes b)) {
          throw mismatch(column, v);
        }
        ps.setBytes(index, b.toArray());
      }
      case FLOAT8 -> {
        if (v instanceof Double d) {
          ps.setDouble(index, d);
        } else if (v instanceof Long l && Math.abs(l) <= (1L << 53)) {
          ps.setDouble(index, l); // SQLite's REAL affinity would have stored it as this double too
        } else {
          throw mismatch(column, v);
        }
      }
      case NUMERIC -> {
        if (v instanceof Long l) {
          ps.setBigDecimal(index, BigDecimal.valueOf(l));
        } else if (v instanceof Double d) {
          if (d.isNaN()) {
            throw mismatch(column, v);
          }
          // Text, not setDouble: the parameter would be sent as float8 and cast, and an infinite
          // double needs PostgreSQL's spelling.
          ps.setObject(index, d.isInfinite() ? (d > 0 ? "Infinity" : "-Infinity") : Double.toString(d), Types.OTHER);
        } else {
          throw mismatch(column, v);
        }
      }
      default -> throw new IllegalStateException();
    }
  }

  /** The placeholder for this type in SQL text: the cast makes text-bound NUMERIC values typed. */
  public String placeholder() {
    return this == NUMERIC ? "?::numeric" : "?";
  }

  /** Reads a column back into one of the five value classes. */
  public Object read(ResultSet rs, int column) throws SQLException {
    switch (this) {
      case BIGINT -> {
        long l = rs.getLong(column);
        return rs.wasNull() ? null : l;
      }
      case TEXT -> {
        return rs.getString(column);
      }
      case BYTEA -> {
        byte[] b = rs.getBytes(column);
        return b == null ? null : Bytes.of(b);
      }
      case FLOAT8 -> {
        double d = rs.getDouble(column);
        return rs.wasNull() ? null : d;
      }
      case NUMERIC -> {
        return numeric(rs.getString(column));
      }
      default -> throw new IllegalStateException();
    }
  }

  /** A NUMERIC's text: an integer that fits a long is an INTEGER (as in SQLite), else a double. */
  public static Object numeric(String s) {
    if (s == null) {
      return null;
    }
    switch (s) {
      case "Infinity":
        return Double.POSITIVE_INFINITY;
      case "-Infinity":
        return Double.NEGATIVE_INFINITY;
      case "NaN":
        return null; // SQLite stores NaN as NULL
      default:
        break;
    }
    if (s.indexOf('.') < 0 && s.indexOf('e') < 0 && s.indexOf('E') < 0) {
      try {
        return Long.parseLong(s);
      } catch (NumberFormatException e) {
        // too large for a long: a double, as SQLite would have stored it
      }
    }
    return Double.parseDouble(s);
  }

  /** A value as PostgreSQL's JSON (row_to_json of a deleted row) spells it, back into a value class. */
  public Object fromJsonText(String text, boolean isString) {
    if (text == null) {
      return null;
    }
    switch (this) {
      case BIGINT:
        return Long.parseLong(text);
      case TEXT:
        return text;
      case BYTEA:
        // row_to_json spells bytea in PostgreSQL's hex output: \x0a0b
        return Bytes.of(java.util.HexFormat.of().parseHex(text.startsWith("\\x") ? text.substring(2) : text));
      case FLOAT8:
        return switch (text) {
          case "Infinity" -> Double.POSITIVE_INFINITY;
          case "-Infinity" -> Double.NEGATIVE_INFINITY;
          case "NaN" -> null;
          default -> Double.parseDouble(text); // shortest-exact text: parses back to the same bits, "-0" included
        };
      case NUMERIC:
        return numeric(text);
      default:
        throw new IllegalStateException();
    }
  }

  private static ProtocolException mismatch(String column, Object v) {
    String kind = v instanceof Long ? "an integer" : v instanceof Double ? "a real" : v instanceof String ? "text" : "a blob";
    return new ProtocolException("type_mismatch", "column '" + column + "' cannot hold " + kind + " on this server (PostgreSQL)");
  }
}
