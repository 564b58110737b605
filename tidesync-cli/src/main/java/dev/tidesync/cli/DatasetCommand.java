package dev.tidesync.cli;

import dev.tidesync.cli.internal.Checks;
import dev.tidesync.cli.internal.CliException;
import dev.tidesync.cli.internal.StorageOptions;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetNames;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.protocol.Wire;
import dev.tidesync.sqlite.internal.Introspect;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code tidesync dataset create|list|drop}: a server's datasets, straight on its storage (running or not). */
@Command(
    name = "dataset",
    header = "Create, list or drop a server's datasets.",
    mixinStandardHelpOptions = true,
    synopsisSubcommandLabel = "COMMAND",
    description = "Works on the server's storage directly, whether or not a server is running on it.",
    subcommands = {DatasetCommand.Create.class, DatasetCommand.ListDatasets.class, DatasetCommand.Drop.class})
final class DatasetCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "a subcommand is needed: create, list or drop");
  }

  static String tenant(CommandLine cmd, String tenant) {
    try {
      return DatasetNames.checkTenant(tenant);
    } catch (TidesyncException e) {
      throw new ParameterException(cmd, "Invalid value for option '--tenant': " + e.getMessage());
    }
  }

  @Command(name = "create", mixinStandardHelpOptions = true, sortOptions = false,
      header = "Create a dataset, optionally with its tables.",
      description = "Creates an empty dataset of a tenant. With --schema, also its tables: a .sql file of CREATE TABLE statements "
          + "(as in the app's SQLite file) or a .json file with the protocol's schema array (docs/PROTOCOL.md).")
  static final class Create implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin StorageOptions storageOptions;

    @Option(names = "--tenant", required = true, paramLabel = "T", description = "The tenant that owns the dataset.")
    String tenant;

    @Option(names = "--dataset", required = true, paramLabel = "D", description = "The dataset's name.")
    String dataset;

    @Option(names = "--schema", paramLabel = "FILE", description = "Tables to create: schema.sql or schema.json.")
    Path schema;

    @Override
    public Integer call() {
      DatasetId id = new DatasetId(tenant(spec.commandLine(), tenant), Checks.dataset(spec.commandLine(), dataset));
      List<TableSchema> tables = schema == null ? List.of() : readSchema(Checks.existingFile("schema file", schema));
      try (Storage storage = storageOptions.open()) {
        if (storage.find(id).isPresent()) {
          throw new CliException("dataset " + id.name() + " of tenant " + id.tenant() + " already exists");
        }
        DatasetStore store = storage.openOrCreate(id);
        if (!tables.isEmpty()) {
          // A schema-only push: the same reconciliation as a device's first push, in one transaction.
          store.push(new PushRequest(id.name(), "tidesync-cli", "schema-" + UUID.randomUUID(), tables, List.of()));
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println("created dataset " + id.name() + " of tenant " + id.tenant()
            + (tables.isEmpty() ? " (no tables yet: the first push brings them)" : " with tables "
            + String.join(", ", tables.stream().map(TableSchema::name).toList())));
        out.flush();
      }
      return Main.EXIT_OK;
    }

    static List<TableSchema> readSchema(Path file) {
      String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
      try {
        if (name.endsWith(".json")) {
          return Wire.readSchema(Files.readAllBytes(file));
        }
        if (name.endsWith(".sql")) {
          return fromSql(Files.readString(file));
        }
      } catch (IOException e) {
        throw new CliException("cannot read schema file " + file + ": " + e.getMessage(), e);
      } catch (TidesyncException e) {
        throw new CliException("schema file " + file + ": " + e.getMessage(), e);
      }
      throw new CliException("schema file " + file + " must end in .sql (CREATE TABLE statements) or .json (protocol schema)");
    }

    /** Runs the statements in a private in-memory database and reads its tables back, as a device would. */
    private static List<TableSchema> fromSql(String sql) {
      try (Connection c = DriverManager.getConnection("jdbc:sqlite::memory:"); Statement s = c.createStatement()) {
        s.executeUpdate(sql);
        Introspect.Result r = Introspect.tables(c, t -> dev.tidesync.protocol.ConflictPolicy.FIELD_MERGE);
        if (!r.skipped().isEmpty()) {
          throw new CliException("schema: cannot sync " + r.skipped());
        }
        if (r.tables().isEmpty()) {
          throw new CliException("schema: the file creates no table");
        }
        return r.tables();
      } catch (SQLException e) {
        throw new CliException("schema: " + Checks.oneLine(e.getMessage()), e);
      }
    }
  }

  @Command(name = "list", mixinStandardHelpOptions = true, sortOptions = false, header = "List datasets (tenant and name).")
  static final class ListDatasets implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin StorageOptions storageOptions;

    @Option(names = "--tenant", paramLabel = "T", description = "Only this tenant's datasets (default: every tenant).")
    String tenant;

    @Override
    public Integer call() {
      String t = tenant == null ? null : tenant(spec.commandLine(), tenant);
      PrintWriter out = spec.commandLine().getOut();
      try (Storage storage = storageOptions.open()) {
        List<DatasetId> ids = t == null ? storage.datasets() : storage.datasets(t);
        // Names only: opening a dataset here would load and save its metadata beside a server
        // process that caches it (the SQLite store); row counts come from 'status --server'.
        for (DatasetId id : ids) {
          out.printf(Locale.ROOT, "%-16s %s%n", id.tenant(), id.name());
        }
        out.println(ids.size() + " dataset(s)" + (t == null ? "" : " in tenant " + t));
        out.flush();
      }
      return Main.EXIT_OK;
    }
  }

  @Command(name = "drop", mixinStandardHelpOptions = true, sortOptions = false, header = "Delete a dataset and all its data.")
  static final class Drop implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin StorageOptions storageOptions;

    @Option(names = "--tenant", required = true, paramLabel = "T", description = "The tenant that owns the dataset.")
    String tenant;

    @Option(names = "--dataset", required = true, paramLabel = "D", description = "The dataset to delete.")
    String dataset;

    @Override
    public Integer call() {
      DatasetId id = new DatasetId(tenant(spec.commandLine(), tenant), Checks.dataset(spec.commandLine(), dataset));
      try (Storage storage = storageOptions.open()) {
        if (!storage.drop(id)) {
          throw new CliException("no dataset " + id.name() + " in tenant " + id.tenant());
        }
      }
      spec.commandLine().getOut().println("dropped dataset " + id.name() + " of tenant " + id.tenant());
      spec.commandLine().getOut().flush();
      return Main.EXIT_OK;
    }
  }
}
