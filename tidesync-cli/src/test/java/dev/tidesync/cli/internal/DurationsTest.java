package dev.tidesync.cli.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.TypeConversionException;

class DurationsTest {
  @Test
  void readsShortFormsAndIso() {
    assertThat(Durations.parse("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(Durations.parse("30s")).isEqualTo(Duration.ofSeconds(30));
    assertThat(Durations.parse("5m")).isEqualTo(Duration.ofMinutes(5));
    assertThat(Durations.parse("1h")).isEqualTo(Duration.ofHours(1));
    assertThat(Durations.parse("PT2S")).isEqualTo(Duration.ofSeconds(2));
    assertThat(Durations.parse(" 10S ")).isEqualTo(Duration.ofSeconds(10));
  }

  @Test
  void refusesNonsenseAndNonPositive() {
    assertThatThrownBy(() -> Durations.parse("5x")).isInstanceOf(TypeConversionException.class).hasMessageContaining("not a duration");
    assertThatThrownBy(() -> Durations.parse("0s")).isInstanceOf(TypeConversionException.class).hasMessageContaining("positive");
    assertThatThrownBy(() -> Durations.parse("")).isInstanceOf(TypeConversionException.class);
  }

  @Test
  void printsForHumans() {
    assertThat(Durations.human(Duration.ofMillis(850))).isEqualTo("850 ms");
    assertThat(Durations.human(Duration.ofMillis(1200))).isEqualTo("1.2 s");
    assertThat(Durations.human(Duration.ofMinutes(3))).isEqualTo("3.0 min");
  }
}
