package dev.tidesync.cli;

import dev.tidesync.cli.internal.CliException;
import dev.tidesync.cli.internal.RateLimits;
import dev.tidesync.cli.internal.StorageOptions;
import dev.tidesync.core.Storage;
import dev.tidesync.server.RateLimit;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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
    description = "Runs the sync server. Each dataset is one SQLite file, DIR/<tenant>/<dataset>.db, or with --pg one PostgreSQL "
        + "schema. Every request needs a token "
        + "('tidesync token create') unless --insecure. Prints one line with the URL once it listens; stops cleanly on Ctrl-C or SIGTERM.")
final class ServerCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin StorageOptions storageOptions;

  @Option(names = "--host", paramLabel = "HOST", defaultValue = ServerConfig.DEFAULT_HOST,
      description = "Interface to listen on; 0.0.0.0 for every interface. Default: ${DEFAULT-VALUE}")
  String host;

  @Option(names = "--port", paramLabel = "PORT", defaultValue = "" + ServerConfig.DEFAULT_PORT,
      description = "TCP port; 0 picks a free one (see the printed URL). Default: ${DEFAULT-VALUE}")
  int port;

  @Option(names = "--insecure", description = "No auth: anyone who can connect reads and writes tenant 'default'. Local development only.")
  boolean insecure;

  @Option(names = "--jwt-key", paramLabel = "FILE",
      description = "Token signing key (a JWK or base64 of >= 32 bytes) instead of the one kept in the storage.")
  Path jwtKey;

  // No defaultValue: the fields start at the server's own defaults, so there is one source of them.
  @Option(names = "--rate-device", paramLabel = "RATE", converter = RateLimits.class,
      description = "Requests per device: PER_SECOND[:BURST] (e.g. 100:200; without BURST, twice the rate) or off. "
          + "Over it: 429 with Retry-After. Default: ${DEFAULT-VALUE}")
  RateLimit deviceLimit = ServerConfig.DEFAULT_DEVICE_LIMIT;

  @Option(names = "--rate-tenant", paramLabel = "RATE", converter = RateLimits.class,
      description = "Requests per tenant, all its devices together (with --insecure: every request): PER_SECOND[:BURST] or off. "
          + "Default: ${DEFAULT-VALUE}")
  RateLimit tenantLimit = ServerConfig.DEFAULT_TENANT_LIMIT;

  @Override
  public Integer call() throws InterruptedException {
    if (port < 0 || port > 65_535) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--port': must be 0..65535, got " + port);
    }
    if (host.isBlank()) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--host': empty");
    }
    if (insecure && jwtKey != null) {
      throw new ParameterException(spec.commandLine(), "--insecure and --jwt-key exclude each other");
    }
    ServerConfig config = ServerConfig.defaults().withHost(host).withPort(port).withInsecure(insecure)
        .withDeviceLimit(deviceLimit).withTenantLimit(tenantLimit);
    if (jwtKey != null) {
      config = config.withSigningKey(readKey(jwtKey));
    }
    Storage storage = storageOptions.open();
    TidesyncServer server;
    try {
      server = TidesyncServer.start(storage, config);
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
    if (insecure) {
      PrintWriter err = spec.commandLine().getErr();
      err.println("tidesync: WARNING: AUTH IS OFF (--insecure). Anyone who can reach " + server.url()
          + " reads and writes every dataset of tenant 'default'. Never use this outside local development.");
      err.flush();
      LoggerFactory.getLogger(ServerCommand.class).warn("server started with --insecure: auth is off");
    }
    LoggerFactory.getLogger(ServerCommand.class).info("rate limits: per device {}, per tenant {}", deviceLimit, tenantLimit);
    out.println("Tidesync server listening on " + server.url() + " (data: " + storageOptions.describe() + ")"
        + (insecure ? " INSECURE: no auth" : ""));
    out.flush();
    // Serve until the JVM is asked to stop; the shutdown hook does the rest.
    new CountDownLatch(1).await();
    return Main.EXIT_OK;
  }

  static String readKey(Path file) {
    try {
      return Files.readString(file).strip();
    } catch (IOException e) {
      throw new CliException("cannot read --jwt-key " + file + ": " + e.getMessage(), e);
    }
  }
}
