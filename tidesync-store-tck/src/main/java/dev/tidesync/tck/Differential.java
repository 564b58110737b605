package dev.tidesync.tck;

import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.PushResult;
import java.util.Random;

/** For tests that push the same seeded batches into two stores and compare what each answers. */
public final class Differential {
  private Differential() {}

  /** The seed of a seeded test: {@code -Dtidesync.seed=N} replays one, else a random one (name it in every assertion). */
  public static long seed() {
    String prop = System.getProperty("tidesync.seed", "");
    return prop.isBlank() ? new Random().nextLong() : Long.parseLong(prop.trim());
  }

  /** A push's answers as text, a line per change: index, status, version, retriable, reason. */
  public static String answers(PushResult r) {
    StringBuilder sb = new StringBuilder();
    for (ChangeResult cr : r.results()) {
      sb.append(cr.index()).append(' ').append(cr.status()).append(' ').append(cr.version()).append(' ').append(cr.retriable())
          .append(' ').append(cr.reason()).append('\n');
    }
    return sb.toString();
  }
}
