package dev.tidesync.cli;

import dev.tidesync.cli.internal.CliException;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.core.Storage;
import dev.tidesync.pg.PgStorage;
import dev.tidesync.sqlite.SqliteStorage;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code tidesync server}: the sync server over the embedded SQLite store, until SIGINT/SIGTERM. */
@Command(
    name = "server",
    header = "Run the sync server (embedded SQLite store, or PostgreSQL).",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = "Runs the sync server. Each dataset is one SQLite file, DIR/<tenant>/<dataset>.db, or with --pg one "
        + "PostgreSQL schema, created by its first push. "
        + "Prints one line with the URL once it listens; stops cleanly on Ctrl-C or SIGTERM.")
final class ServerCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--data", paramLabel = "DIR", defaultValue = "./tidesync-data",
      description = "Directory of the dataset files (created if missing). Default: ${DEFAULT-VALUE}")
  Path data;

  @Option(names = "--host", paramLabel = "HOST", defaultValue = ServerConfig.DEFAULT_HOST,
      description = "Interface to listen on; 0.0.0.0 for every interface. Default: ${DEFAULT-VALUE}")
  String host;

  @Option(names = "--port", paramLabel = "PORT", defaultValue = "" + ServerConfig.DEFAULT_PORT,
      description = "TCP port; 0 picks a free one (see the printed URL). Default: ${DEFAULT-VALUE}")
  int port;

  @Option(names = "--pg", paramLabel = "URL",
      description = "PostgreSQL storage instead of --data: a JDBC URL, e.g. "
          + "jdbc:postgresql://127.0.0.1:5432/tidesync?user=tidesync. Several server processes may share one database.")
  String pg;

  @Override
  public Integer call() throws InterruptedException {
    if (port < 0 || port > 65_535) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--port': must be 0..65535, got " + port);
    }
    if (host.isBlank()) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--host': empty");
    }
    Storage storage;
    String where;
    if (pg != null) {
      if (spec.commandLine().getParseResult().hasMatchedOption("--data")) {
        throw new ParameterException(spec.commandLine(), "--data and --pg exclude each other: one storage per server");
      }
      try {
        storage = PgStorage.open(pg);
      } catch (IllegalArgumentException e) {
        throw new CliException(e.getMessage());
      } catch (RuntimeException e) {
        throw new CliException("cannot open PostgreSQL storage " + pg + ": " + rootMessage(e));
      }
      where = "postgresql: " + pg.replaceAll("password=[^&]*", "password=***");
    } else {
      if (Files.exists(data) && !Files.isDirectory(data)) {
        throw new CliException("--data " + data + " is a file, not a directory");
      }
      Path dir = data.toAbsolutePath().normalize();
      storage = SqliteStorage.open(dir);
      where = "data: " + dir;
    }
    TidesyncServer server;
    try {
      server = TidesyncServer.start(storage, ServerConfig.defaults().withHost(host).withPort(port));
    } catch (RuntimeException e) {
      storage.close();
      throw e;
    }
    PrintWriter out = spec.commandLine().getOut();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      // The HTTP server first, so that no request still in flight finds its storage closed.
      try {
        server.close();
      } finally {
        storage.close();
      }
      out.println("Tidesync server stopped");
      out.flush();
    }, "tidesync-shutdown"));
    out.println("Tidesync server listening on " + server.url() + " (" + where + ")");
    out.flush();
    // Serve until the JVM is asked to stop; the shutdown hook does the rest.
    new CountDownLatch(1).await();
    return Main.EXIT_OK;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t.getMessage();
  }
}
