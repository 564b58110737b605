package dev.tidesync.cli.internal;

import dev.tidesync.core.DatasetNames;
import dev.tidesync.protocol.TidesyncException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

/** Validation of option values, as usage errors (exit code 2), and message helpers. */
public final class Checks {
  private static final int MAX_LINE = 400;

  private Checks() {}

  public static String serverUrl(CommandLine cmd, String option, String url) {
    String u = trimSlashes(url);
    try {
      URI uri = URI.create(u);
      String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
      if ((scheme.equals("http") || scheme.equals("https")) && uri.getHost() != null && uri.getRawQuery() == null) {
        return u;
      }
    } catch (IllegalArgumentException e) {
      // reported below
    }
    throw new ParameterException(cmd, "Invalid value for option '" + option + "': '" + url
        + "' is not a server URL (expected http://host:port, e.g. http://127.0.0.1:8787)");
  }

  public static String dataset(CommandLine cmd, String name) {
    try {
      return DatasetNames.check(name);
    } catch (TidesyncException e) {
      throw new ParameterException(cmd, "Invalid value for option '--dataset': " + e.getMessage());
    }
  }

  /** An existing regular file (a SQLite database to sync or inspect). */
  public static Path existingFile(String what, Path file) {
    if (Files.isDirectory(file)) {
      throw new CliException(what + " " + file + " is a directory, not a SQLite file");
    }
    if (!Files.isRegularFile(file)) {
      throw new CliException("no such " + what + ": " + file);
    }
    return file;
  }

  public static String trimSlashes(String url) {
    String u = url.strip();
    while (u.endsWith("/")) {
      u = u.substring(0, u.length() - 1);
    }
    return u;
  }

  /** A message fit for one line of output: newlines folded, length capped. */
  public static String oneLine(String s) {
    if (s == null) {
      return "";
    }
    String t = s.strip().replaceAll("\\s*[\\r\\n]+\\s*", " | ");
    return t.length() <= MAX_LINE ? t : t.substring(0, MAX_LINE - 3) + "...";
  }

  /** The message of an exception, or its type when it has none. */
  public static String reason(Throwable e) {
    String m = e.getMessage();
    return oneLine(m == null || m.isBlank() ? e.getClass().getSimpleName() : m);
  }
}
