package dev.tidesync.cli;

import dev.tidesync.cli.internal.StorageOptions;
import dev.tidesync.core.Storage;
import java.time.Instant;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code tidesync device revoke}: refuses a device's tokens from its next request on. */
@Command(
    name = "device",
    header = "Revoke devices.",
    mixinStandardHelpOptions = true,
    synopsisSubcommandLabel = "COMMAND",
    subcommands = {DeviceCommand.Revoke.class})
final class DeviceCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "a subcommand is needed: revoke");
  }

  @Command(name = "revoke", mixinStandardHelpOptions = true, sortOptions = false,
      header = "Refuse every token the device has been given so far.",
      description = "Writes the revocation into the server's storage; a running server reads it on every request, so it takes "
          + "effect on the device's next request. A token issued after this works again.")
  static final class Revoke implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin StorageOptions storageOptions;

    @Option(names = "--tenant", required = true, paramLabel = "T", description = "The device's tenant.")
    String tenant;

    @Option(names = "--device", required = true, paramLabel = "X", description = "The device id.")
    String device;

    @Override
    public Integer call() {
      String t = DatasetCommand.tenant(spec.commandLine(), tenant);
      if (device.isEmpty() || device.length() > 128) {
        throw new ParameterException(spec.commandLine(), "Invalid value for option '--device': must be 1..128 characters");
      }
      long at = System.currentTimeMillis();
      try (Storage storage = storageOptions.open()) {
        storage.state().revokeDevice(t, device, at);
      }
      spec.commandLine().getOut().println("revoked device " + device + " of tenant " + t + " at " + Instant.ofEpochMilli(at)
          + ": its tokens issued until then are refused from its next request");
      spec.commandLine().getOut().flush();
      return Main.EXIT_OK;
    }
  }
}
