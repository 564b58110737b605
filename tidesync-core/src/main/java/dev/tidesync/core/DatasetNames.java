package dev.tidesync.core;

import dev.tidesync.protocol.ProtocolException;
import java.util.regex.Pattern;

/** Dataset names: also file names and schema names, so a strict alphabet. */
public final class DatasetNames {
  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0,62}");

  private DatasetNames() {}

  public static String check(String name) {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new ProtocolException("bad_dataset", "dataset name must match [a-z0-9][a-z0-9_-]{0,62}, got '" + name + "'");
    }
    return name;
  }
}
