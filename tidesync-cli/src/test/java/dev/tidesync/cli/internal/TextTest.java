package dev.tidesync.cli.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

class TextTest {
  private final ObjectMapper json = new ObjectMapper();

  @Test
  void keysLoseTheirJsonOnlyWhenUnambiguous() {
    assertThat(Text.key("[\"s1\"]")).isEqualTo("s1");
    assertThat(Text.key("[42]")).isEqualTo("42");
    assertThat(Text.key("[\"a\",1]")).isEqualTo("[\"a\",1]");
    assertThat(Text.key("[\"a\\\"b\"]")).isEqualTo("[\"a\\\"b\"]");
  }

  @Test
  void rowsShowEveryValueKind() throws Exception {
    String row = Text.row(json.readTree("{\"name\":\"it's\",\"n\":3,\"r\":1.5,\"z\":null,\"b\":{\"$b64\":\"AP8=\"},\"x\":{\"$real\":\"NaN\"}}"));
    assertThat(row).isEqualTo("name='it''s' n=3 r=1.5 z=NULL b=x'AP8=' (base64) x=NaN");
    assertThat(Text.row(json.nullNode())).startsWith("(absent");
  }

  @Test
  void oneLineFoldsNewlines() {
    assertThat(Checks.oneLine("a\nb\r\n  c")).isEqualTo("a | b | c");
    assertThat(Checks.oneLine("x".repeat(1000))).hasSize(400).endsWith("...");
  }
}
