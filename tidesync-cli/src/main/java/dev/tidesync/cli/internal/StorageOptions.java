package dev.tidesync.cli.internal;

import dev.tidesync.core.Storage;
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
  @Option(names = "--data", paramLabel = "DIR", defaultValue = "./tidesync-data",
      description = "Directory of the embedded SQLite store (created if missing). Default: ${DEFAULT-VALUE}")
  Path data;

  @Option(names = "--pg", paramLabel = "URL", description = "PostgreSQL storage (jdbc:postgresql://...). Not available yet.")
  String pg;

  /** Opens the storage; the caller closes it. */
  public Storage open() {
    if (pg != null) {
      // Wired in with the PostgreSQL store: PgStorage.open(pg).
      throw new CliException("PostgreSQL storage (--pg) is not available yet; use --data DIR for the embedded SQLite store");
    }
    if (Files.exists(data) && !Files.isDirectory(data)) {
      throw new CliException("--data " + data + " is a file, not a directory");
    }
    return SqliteStorage.open(data.toAbsolutePath().normalize());
  }

  /** For messages: the data directory or the PostgreSQL URL. */
  public String describe() {
    return pg != null ? pg : data.toAbsolutePath().normalize().toString();
  }
}
