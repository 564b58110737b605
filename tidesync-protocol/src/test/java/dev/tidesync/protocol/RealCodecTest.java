package dev.tidesync.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import java.io.IOException;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * REALs through the codec keep their bits: the fast writer and parser the factory enables must
 * be exact for every double, not only for the ones that print short. Seeded; replay a failure
 * with {@code -Dtidesync.seed=N}.
 */
class RealCodecTest {
  @Test
  void everyDoubleRoundTripsBitExactAndReadsAsAFloat() throws IOException {
    long seed = Long.getLong("tidesync.seed", System.nanoTime());
    SplittableRandom r = new SplittableRandom(seed);
    List<Double> values = new ArrayList<>(List.of(0.0, -0.0, 1.0, -1.0, 0.1, 1e10, 1e-10, 123456789.0, Double.MIN_VALUE,
        -Double.MIN_VALUE, Double.MAX_VALUE, Double.MIN_NORMAL, Math.nextDown(Double.MIN_NORMAL), 2.0E-323, 9007199254740993.0,
        4.9E-324, 1.7976931348623157E308, 5e-324, 0.30000000000000004, 2.2250738585072014E-308));
    for (int i = 0; i < 200_000; i++) {
      double d = switch (i % 3) {
        case 0 -> Double.longBitsToDouble(r.nextLong()); // any bit pattern
        case 1 -> r.nextDouble() * Math.pow(10, r.nextInt(-30, 30)); // field-data magnitudes
        default -> Math.round(r.nextDouble() * 1e6) / 1e3; // decimals with few digits
      };
      if (Double.isFinite(d)) {
        values.add(d);
      }
    }
    StringWriter w = new StringWriter();
    try (JsonGenerator g = Wire.factory().createGenerator(w)) {
      g.writeStartArray();
      for (double d : values) {
        Wire.writeValue(g, d);
      }
      g.writeEndArray();
    }
    try (JsonParser p = Wire.factory().createParser(w.toString())) {
      p.nextToken();
      for (int i = 0; i < values.size(); i++) {
        p.nextToken();
        String text = p.getText();
        double want = values.get(i);
        assertThat(text).as("seed %d: %s is written as a float", seed, want).containsAnyOf(".", "E");
        Object got = Wire.readValue(p, "v");
        assertThat(got).as("seed %d: %s read back", seed, text).isInstanceOf(Double.class);
        assertThat(Double.doubleToRawLongBits((Double) got)).as("seed %d: bits of %s (written %s)", seed, want, text)
            .isEqualTo(Double.doubleToRawLongBits(want));
      }
    }
  }
}
