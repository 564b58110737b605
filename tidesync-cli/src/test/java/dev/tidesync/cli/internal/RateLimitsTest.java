package dev.tidesync.cli.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tidesync.server.RateLimit;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.TypeConversionException;

class RateLimitsTest {
  @Test
  void readsRateAndBurstRateAloneAndOff() {
    assertThat(RateLimits.parse("100:200")).isEqualTo(new RateLimit(100, 200));
    assertThat(RateLimits.parse("5:1")).as("a burst below the rate is a valid bucket").isEqualTo(new RateLimit(5, 1));
    assertThat(RateLimits.parse(" 7 ")).as("without a burst: twice the rate").isEqualTo(new RateLimit(7, 14));
    assertThat(RateLimits.parse("2147483647")).as("twice the largest rate is capped").isEqualTo(new RateLimit(Integer.MAX_VALUE, Integer.MAX_VALUE));
    assertThat(RateLimits.parse("off")).isEqualTo(RateLimit.OFF);
    assertThat(RateLimits.parse("OFF").off()).isTrue();
  }

  @Test
  void refusesNonsenseZeroAndOverflowWithTheExpectedForm() {
    assertThatThrownBy(() -> RateLimits.parse("fast")).isInstanceOf(TypeConversionException.class)
        .hasMessageContaining("'fast' is not a rate limit").hasMessageContaining("PER_SECOND[:BURST]").hasMessageContaining("off");
    assertThatThrownBy(() -> RateLimits.parse("100/s")).isInstanceOf(TypeConversionException.class).hasMessageContaining("not a rate limit");
    assertThatThrownBy(() -> RateLimits.parse("-1:2")).isInstanceOf(TypeConversionException.class).hasMessageContaining("not a rate limit");
    assertThatThrownBy(() -> RateLimits.parse("")).isInstanceOf(TypeConversionException.class);
    // 0 would be RateLimit.OFF: a typo must not switch the guard off, 'off' says it
    assertThatThrownBy(() -> RateLimits.parse("0:10")).isInstanceOf(TypeConversionException.class)
        .hasMessageContaining("requests per second must be 1..").hasMessageContaining("or off");
    assertThatThrownBy(() -> RateLimits.parse("10:0")).isInstanceOf(TypeConversionException.class).hasMessageContaining("burst must be 1..");
    assertThatThrownBy(() -> RateLimits.parse("2147483648")).isInstanceOf(TypeConversionException.class)
        .hasMessageContaining("requests per second must be 1..2147483647");
    assertThatThrownBy(() -> RateLimits.parse("1:99999999999")).isInstanceOf(TypeConversionException.class).hasMessageContaining("not a rate limit");
  }
}
