package dev.tidesync.core;

/** Comparisons of text-form HLC clocks, where null means "never". */
public final class Clocks {
  private Clocks() {}

  /** True when {@code a} is strictly newer than {@code b}. */
  public static boolean newer(String a, String b) {
    if (a == null) {
      return false;
    }
    return b == null || a.compareTo(b) > 0;
  }

  public static String max(String a, String b) {
    return newer(b, a) ? b : a;
  }
}
