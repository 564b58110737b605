package dev.tidesync.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tidesync.cli.internal.Checks;
import dev.tidesync.cli.internal.ConflictLog;
import dev.tidesync.cli.internal.ServerApi;
import dev.tidesync.cli.internal.StorageOptions;
import dev.tidesync.cli.internal.TokenOption;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code tidesync conflicts}: a dataset's conflict log, from a server or from its data directory. */
@Command(
    name = "conflicts",
    header = "List a dataset's conflict log.",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = "Lists a dataset's conflict log, oldest first: id, table, key, policy, outcome, device, and the stored, "
        + "incoming and resulting versions of the row, so that a losing version can be restored by hand. Reads from a running "
        + "server (--server), straight from its data directory (--data, read-only) or from its PostgreSQL database (--pg).")
final class ConflictsCommand implements Callable<Integer> {
  static final class Source {
    @Option(names = "--server", paramLabel = "URL", required = true, description = "A sync server, e.g. http://127.0.0.1:8787")
    String server;

    @Option(names = "--data", paramLabel = "DIR", required = true, description = "A server's data directory (read-only).")
    Path data;

    @Option(names = "--pg", paramLabel = "URL", required = true,
        description = "A server's PostgreSQL storage (a JDBC URL); the servers using it may be running.")
    String pg;
  }

  @Spec CommandSpec spec;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Source source;

  @Option(names = "--dataset", required = true, paramLabel = "NAME", description = "The dataset.")
  String dataset;

  @Mixin TokenOption tokenOption;

  @Option(names = "--tenant", defaultValue = "default", paramLabel = "T",
      description = "With --data or --pg: the dataset's tenant (with --server the token names it). Default: ${DEFAULT-VALUE}")
  String tenant;

  @Option(names = "--limit", defaultValue = "100", paramLabel = "N", description = "Most entries to list, 1..5000. Default: ${DEFAULT-VALUE}")
  int limit;

  @Option(names = "--after", defaultValue = "0", paramLabel = "ID", description = "List entries after this id (paging). Default: ${DEFAULT-VALUE}")
  long after;

  @Override
  public Integer call() {
    String ds = Checks.dataset(spec.commandLine(), dataset);
    if (limit < 1 || limit > 5000) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--limit': must be 1..5000, got " + limit);
    }
    if (after < 0) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--after': must be >= 0, got " + after);
    }
    List<JsonNode> conflicts;
    String where;
    if (source.server != null) {
      String url = Checks.serverUrl(spec.commandLine(), "--server", source.server);
      conflicts = ConflictLog.fromServer(new ServerApi(url, tokenOption.token()), ds, after, limit);
      where = url;
    } else if (source.pg != null) {
      StorageOptions storage = StorageOptions.pg(source.pg);
      conflicts = ConflictLog.fromStorage(storage, DatasetCommand.tenant(spec.commandLine(), tenant), ds, after, limit);
      where = storage.describe();
    } else {
      conflicts = ConflictLog.fromDataDir(source.data, DatasetCommand.tenant(spec.commandLine(), tenant), ds, after, limit);
      where = source.data.toString();
    }
    PrintWriter out = spec.commandLine().getOut();
    if (conflicts.isEmpty()) {
      out.println("no conflicts" + (after > 0 ? " after #" + after : "") + " in dataset " + ds + " (" + where + ")");
    } else {
      for (JsonNode c : conflicts) {
        ConflictLog.print(out, c);
      }
      long last = conflicts.get(conflicts.size() - 1).path("id").asLong();
      out.println(conflicts.size() + " conflict(s) in dataset " + ds
          + (conflicts.size() == limit ? "; more may follow: --after " + last : ""));
    }
    out.flush();
    return Main.EXIT_OK;
  }
}
