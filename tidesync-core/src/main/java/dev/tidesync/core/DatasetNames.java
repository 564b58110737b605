package dev.tidesync.core;

import dev.tidesync.protocol.ProtocolException;
import java.util.regex.Pattern;

/**
 * Dataset and tenant names: also file and directory names (SQLite) and parts of catalog rows
 * (PostgreSQL), so a strict alphabet that needs no quoting anywhere.
 */
public final class DatasetNames {
  private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9_-]{0,62}");

  private DatasetNames() {}

  public static String check(String name) {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new ProtocolException("bad_dataset", "dataset name must match [a-z0-9][a-z0-9_-]{0,62}, got '" + cut(name) + "'");
    }
    return name;
  }

  public static String checkTenant(String tenant) {
    if (tenant == null || !NAME.matcher(tenant).matches()) {
      throw new ProtocolException("bad_tenant", "tenant name must match [a-z0-9][a-z0-9_-]{0,62}, got '" + cut(tenant) + "'");
    }
    return tenant;
  }

  public static boolean valid(String name) {
    return name != null && NAME.matcher(name).matches();
  }

  private static String cut(String s) {
    return s == null || s.length() <= 80 ? s : s.substring(0, 80) + "...";
  }
}
