package dev.tidesync.cli.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import picocli.CommandLine.TypeConversionException;

class ByteSizesTest {
  @Test
  void readsBytesAndBinaryUnits() {
    assertThat(ByteSizes.parse("65536")).isEqualTo(65_536L);
    assertThat(ByteSizes.parse("512k")).isEqualTo(512L * 1024);
    assertThat(ByteSizes.parse("512KiB")).isEqualTo(512L * 1024);
    assertThat(ByteSizes.parse(" 8 MiB ")).isEqualTo(8L << 20);
    assertThat(ByteSizes.parse("8mb")).isEqualTo(8L << 20);
    assertThat(ByteSizes.parse("1G")).isEqualTo(1L << 30);
    assertThat(ByteSizes.parse("100b")).isEqualTo(100L);
  }

  @Test
  void refusesNonsense() {
    assertThatThrownBy(() -> ByteSizes.parse("8x")).isInstanceOf(TypeConversionException.class).hasMessageContaining("not a size");
    assertThatThrownBy(() -> ByteSizes.parse("-1k")).isInstanceOf(TypeConversionException.class);
    assertThatThrownBy(() -> ByteSizes.parse("1.5m")).isInstanceOf(TypeConversionException.class);
    assertThatThrownBy(() -> ByteSizes.parse("")).isInstanceOf(TypeConversionException.class);
    assertThatThrownBy(() -> ByteSizes.parse("999999999999g")).isInstanceOf(TypeConversionException.class).hasMessageContaining("too large");
  }

  @Test
  void printsForHumans() {
    assertThat(ByteSizes.human(8L << 20)).isEqualTo("8 MiB");
    assertThat(ByteSizes.human(16 * 1024)).isEqualTo("16 KiB");
    assertThat(ByteSizes.human(1000)).isEqualTo("1000 bytes");
  }
}
