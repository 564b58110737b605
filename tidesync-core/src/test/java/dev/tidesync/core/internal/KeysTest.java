package dev.tidesync.core.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.Wire;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Row keys have exactly one text form, whichever path builds it; and they parse back exactly. */
class KeysTest {
  static String reference(List<Object> pk) throws Exception {
    StringWriter w = new StringWriter();
    try (JsonGenerator g = Wire.factory().createGenerator(w)) {
      g.writeStartArray();
      for (Object v : pk) {
        Wire.writeValue(g, v);
      }
      g.writeEndArray();
    }
    return w.toString();
  }

  @Test
  void canonicalMatchesTheJsonWriterAndRoundTrips() throws Exception {
    String seedProp = System.getProperty("tidesync.seed", "");
    long seed = seedProp.isBlank() ? new Random().nextLong() : Long.parseLong(seedProp.trim());
    Random r = new Random(seed);
    String alphabet = "abcXYZ019-_.:\"\\/é🌊\u0001 ";
    for (int i = 0; i < 5000; i++) {
      List<Object> pk = new ArrayList<>();
      int cols = 1 + (r.nextInt(4) == 0 ? 1 : 0);
      for (int c = 0; c < cols; c++) {
        switch (r.nextInt(4)) {
          case 0 -> pk.add(r.nextLong() >> r.nextInt(64));
          case 1 -> pk.add(java.util.UUID.randomUUID().toString());
          case 2 -> {
            StringBuilder sb = new StringBuilder();
            int n = 1 + r.nextInt(8);
            for (int k = 0; k < n; k++) {
              sb.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, r.nextInt(alphabet.codePointCount(0, alphabet.length())))));
            }
            pk.add(sb.toString());
          }
          default -> pk.add(Bytes.of(new byte[] {(byte) r.nextInt(), 0}));
        }
      }
      String key = Keys.canonical(pk);
      assertThat(key).as("seed %d: %s", seed, pk).isEqualTo(reference(pk));
      assertThat(Keys.parseCanonical(key)).as("seed %d", seed).isEqualTo(pk);
    }
  }

  @Test
  void everyCharacterOfTheFirstTwoHundredFiftySixIsSpelledAsTheJsonWriterSpellsIt() throws Exception {
    for (char c = 0; c < 256; c++) {
      for (String text : List.of(String.valueOf(c), "a" + c + "z")) {
        List<Object> pk = List.of(text);
        assertThat(Keys.canonical(pk)).as("U+%04X", (int) c).isEqualTo(reference(pk));
        assertThat(Keys.parseCanonical(Keys.canonical(pk))).as("U+%04X", (int) c).isEqualTo(pk);
      }
    }
  }

  @Test
  void aRealKeysTextIsPinnedAndTheSameOnEveryJdk() {
    // A key's text is its identity in metadata, so it must not move under a replica. REALs are
    // written by Jackson's own shortest-text writer (not Double.toString, whose text differs
    // between JDK 17 and 19+: 1e23 is "9.999999999999999E22" on JDK 17, "1.0E23" on 19+).
    assertThat(Keys.canonical(List.of(1e23))).isEqualTo("[1.0E23]");
    assertThat(Keys.canonical(List.of(0.1))).isEqualTo("[0.1]");
    assertThat(Keys.canonical(List.of(-2.5))).isEqualTo("[-2.5]");
    assertThat(Keys.canonical(List.of(2e-7))).isEqualTo("[2.0E-7]");
    assertThat(Keys.canonical(List.of(1.2345678901234568E17))).isEqualTo("[1.2345678901234568E17]");
    assertThat(Keys.canonical(List.of(Double.MIN_VALUE))).isEqualTo("[4.9E-324]");
    assertThat(Keys.canonical(List.of("k", 1.0))).isEqualTo("[\"k\",1.0]");
    assertThat(Keys.parseCanonical("[1.0E23]")).containsExactly(1e23);
  }

  @Test
  void sqliteJsonArrayKeysParseToTheSameValues() {
    assertThat(Keys.parseSqlite("[\"0f3c-ab\"]")).containsExactly("0f3c-ab");
    assertThat(Keys.parseSqlite("[-42]")).containsExactly(-42L);
    assertThat(Keys.parseSqlite("[\"a\\\"b\"]")).containsExactly("a\"b");
    assertThat(Keys.parseSqlite("[9223372036854775807]")).containsExactly(Long.MAX_VALUE);
    assertThat(Keys.parseSqlite("[{\"$hex\":\"00FF\"}]")).containsExactly(Bytes.of(new byte[] {0, (byte) 0xff}));
    assertThat(Keys.parseSqlite("[\"s1\",3]")).containsExactly("s1", 3L);
  }
}
