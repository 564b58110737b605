package dev.tidesync.cli.internal;

import dev.tidesync.core.Storage;
import dev.tidesync.pg.PgStorage;
import dev.tidesync.sqlite.SqliteStorage;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Where a server keeps its datasets, as every command that opens a server's storage takes it:
 * {@code --data DIR} (embedded SQLite) or {@code --pg URL} (PostgreSQL). The one place that turns
 * those options into a {@link Storage}.
 */
public final class StorageOptions {
  private static final Path DEFAULT_DATA = Path.of("./tidesync-data");

  @Option(names = "--data", paramLabel = "DIR",
      description = "Directory of the embedded SQLite store (created if missing). Default: ./tidesync-data")
  Path data;

  @Option(names = "--pg", paramLabel = "URL",
      description = "PostgreSQL storage instead of --data: a JDBC URL, e.g. jdbc:postgresql://127.0.0.1:5432/tidesync?user=tidesync. "
          + "Several server processes and the operator's commands may share one database.")
  String pg;

  /** PostgreSQL storage at {@code url}, for commands whose own options name it. */
  public static StorageOptions pg(String url) {
    StorageOptions o = new StorageOptions();
    o.pg = url;
    return o;
  }

  /** Opens the storage; the caller closes it. */
  public Storage open() {
    if (pg != null) {
      if (data != null) {
        throw new CliException("--data and --pg exclude each other: a server has one storage");
      }
      try {
        return PgStorage.open(pg);
      } catch (IllegalArgumentException e) {
        throw new CliException(e.getMessage());
      } catch (RuntimeException e) {
        throw new CliException("cannot open PostgreSQL storage " + masked() + ": " + rootMessage(e));
      }
    }
    Path dir = data == null ? DEFAULT_DATA : data;
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new CliException("--data " + dir + " is a file, not a directory");
    }
    return SqliteStorage.open(dir.toAbsolutePath().normalize());
  }

  /** For messages: the data directory, or the PostgreSQL URL without its password. */
  public String describe() {
    return pg != null ? masked() : (data == null ? DEFAULT_DATA : data).toAbsolutePath().normalize().toString();
  }

  private String masked() {
    return pg.replaceAll("(?i)(password=)[^&;]*", "$1***");
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t.getMessage();
  }
}
