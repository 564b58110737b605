package dev.tidesync.cli;

import dev.tidesync.cli.internal.Checks;
import dev.tidesync.cli.internal.Durations;
import dev.tidesync.cli.internal.StorageOptions;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.TidesyncException;
import dev.tidesync.server.Role;
import dev.tidesync.server.TokenClaims;
import dev.tidesync.server.Tokens;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code tidesync token create}: a signed device token, under the key kept in the server's storage. */
@Command(
    name = "token",
    header = "Issue device tokens.",
    mixinStandardHelpOptions = true,
    synopsisSubcommandLabel = "COMMAND",
    subcommands = {TokenCommand.Create.class})
final class TokenCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "a subcommand is needed: create");
  }

  @Command(name = "create", mixinStandardHelpOptions = true, sortOptions = false,
      header = "Issue a token for one device.",
      description = "Signs a token with the server's key (generated in the storage on first use, so the server and this command "
          + "agree without a running server). Prints what it grants, then the token itself as the last line.")
  static final class Create implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin StorageOptions storageOptions;

    @Option(names = "--tenant", required = true, paramLabel = "T", description = "The tenant the device belongs to.")
    String tenant;

    @Option(names = "--dataset", required = true, split = ",", paramLabel = "D",
        description = "Datasets the token reaches (repeat or comma-separate); '*' for every dataset of the tenant.")
    List<String> datasets = new ArrayList<>();

    @Option(names = "--device", required = true, paramLabel = "X", description = "The device id (the token's subject).")
    String device;

    @Option(names = "--role", defaultValue = "write", paramLabel = "ROLE",
        description = "read (pull), write (push and pull) or admin (also conflicts and creating datasets). Default: ${DEFAULT-VALUE}")
    String role;

    @Option(names = "--ttl", defaultValue = "30d", converter = Durations.class, paramLabel = "D",
        description = "How long the token is valid (1h, 30d, ...). Default: ${DEFAULT-VALUE}")
    Duration ttl;

    @Option(names = "--jwt-key", paramLabel = "FILE", description = "Sign with this key, as the server's --jwt-key, instead of the storage's.")
    Path jwtKey;

    @Override
    public Integer call() {
      String t = DatasetCommand.tenant(spec.commandLine(), tenant);
      for (String d : datasets) {
        if (!d.equals(TokenClaims.ALL)) {
          Checks.dataset(spec.commandLine(), d);
        }
      }
      Role r;
      try {
        r = Role.parse(role);
      } catch (TidesyncException e) {
        throw new ParameterException(spec.commandLine(), "Invalid value for option '--role': " + e.getMessage());
      }
      String token;
      try (Storage storage = storageOptions.open()) {
        Tokens tokens = jwtKey == null ? Tokens.of(storage) : Tokens.withKey(ServerCommand.readKey(jwtKey), storage);
        token = tokens.create(t, datasets, device, r, ttl);
      }
      PrintWriter out = spec.commandLine().getOut();
      out.println("token for device " + device + " of tenant " + t + ": datasets " + String.join(",", datasets) + ", role "
          + r.wireName() + ", valid until " + Instant.now().plus(ttl).truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
      out.println(token);
      out.flush();
      return Main.EXIT_OK;
    }
  }
}
