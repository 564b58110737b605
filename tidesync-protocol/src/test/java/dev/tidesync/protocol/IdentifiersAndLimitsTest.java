package dev.tidesync.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Names that reach SQL, declared types, and the JSON depth and string limits of the codec. */
class IdentifiersAndLimitsTest {
  @Test
  void legitimateNamesPass() {
    for (String name : List.of("notes", "Notes_2", "order-items", "price$eur", "Ünïcode tåble", "日本語", "with inner space", "_private")) {
      assertThat(Identifiers.check(name, "table")).isEqualTo(name);
    }
  }

  @Test
  void namesAreOneWhereSqliteTakesThemForOneIgnoringTheCaseOfAsciiLettersOnly() {
    assertThat(Identifiers.same("Items", "iTEMS")).isTrue();
    assertThat(Identifiers.same("Étape", "étape")).isFalse();
    assertThat(Identifiers.same("ä", "Ä")).isFalse();
    assertThat(Identifiers.folded("Order-Items_2")).isEqualTo("order-items_2");
    ColumnSchema id = new ColumnSchema("id", "TEXT", false, null);
    assertThat(new TableSchema("t", List.of(id, new ColumnSchema("ä", "TEXT", false, null), new ColumnSchema("Ä", "TEXT", false, null)),
        List.of("id"), List.of(), null).columns()).hasSize(3);
    assertThatThrownBy(() -> new TableSchema("t", List.of(id, new ColumnSchema("Name", "TEXT", false, null),
        new ColumnSchema("nAME", "TEXT", false, null)), List.of("id"), List.of(), null)).hasMessageContaining("twice");
  }

  @Test
  void injectionAttemptsAndOddNamesAreRefusedByName() {
    for (String name : List.of("x\"; DROP TABLE t; --", "a.b", "`x`", "[x]", "x'y", "t;", " lead", "trail ", "a\u0000b", "a\nb",
        "_tidesync_rows", "sqlite_master", "")) {
      assertThatThrownBy(() -> Identifiers.check(name, "column"))
          .isInstanceOfSatisfying(ProtocolException.class, e -> {
            assertThat(e.code()).isEqualTo("bad_identifier");
            assertThat(e.status()).isEqualTo(400);
            assertThat(e.getMessage()).startsWith("column name");
          });
    }
    assertThatThrownBy(() -> Identifiers.check("x\"; DROP TABLE t; --", "table")).hasMessageContaining("x\"; DROP TABLE t; --")
        .hasMessageContaining("'\"'");
  }

  @Test
  void declaredTypesAreOneTypeAndNothingAfterIt() {
    for (String type : List.of("", "TEXT", "INTEGER", "VARCHAR(255)", "DECIMAL(10, 2)", "UNSIGNED BIG INT", "double precision")) {
      assertThat(new ColumnSchema("c", type, false, null).type()).isEqualTo(type);
    }
    for (String type : List.of("TEXT, evil TEXT", "INTEGER) ; DROP TABLE t; --", "TEXT PRIMARY KEY (c)", "INT(1)(2)", "TEXT\"")) {
      assertThatThrownBy(() -> new ColumnSchema("c", type, false, null)).isInstanceOf(ProtocolException.class)
          .hasMessageContaining("unsupported type");
    }
  }

  @Test
  void jsonNestedTooDeepOrWithAStringTooLongIs413() {
    String deep = "{\"v\":1,\"device\":\"d\",\"batch\":\"b\",\"x\":" + "[".repeat(Wire.MAX_DEPTH + 1) + "]".repeat(Wire.MAX_DEPTH + 1)
        + ",\"changes\":[]}";
    assertThatThrownBy(() -> Wire.readPush(new ByteArrayInputStream(deep.getBytes(StandardCharsets.UTF_8)), 10))
        .isInstanceOfSatisfying(ProtocolException.class, e -> {
          assertThat(e.status()).isEqualTo(413);
          assertThat(e.code()).isEqualTo("limit_exceeded");
          assertThat(e.getMessage()).contains("nesting depth");
        });
    String longString = "{\"v\":1,\"device\":\"" + "d".repeat(Wire.MAX_STRING + 1) + "\",\"batch\":\"b\",\"changes\":[]}";
    assertThatThrownBy(() -> Wire.readPush(new ByteArrayInputStream(longString.getBytes(StandardCharsets.UTF_8)), 10))
        .isInstanceOfSatisfying(ProtocolException.class, e -> {
          assertThat(e.status()).isEqualTo(413);
          assertThat(e.code()).isEqualTo("limit_exceeded");
          assertThat(e.getMessage()).contains("String value length");
        });
  }
}
