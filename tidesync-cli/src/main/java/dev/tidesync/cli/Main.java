package dev.tidesync.cli;

import dev.tidesync.cli.internal.Checks;
import dev.tidesync.cli.internal.Logging;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code tidesync} executable. Exit codes: 0 success, 1 the command failed (one line
 * {@code tidesync: <reason>} on stderr), 2 a usage error.
 */
@Command(
    name = "tidesync",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    sortOptions = false,
    usageHelpAutoWidth = true,
    synopsisSubcommandLabel = "COMMAND",
    description = "Offline-first sync for SQLite: a sync server, a tool that syncs any SQLite file, and a demo.",
    subcommands = {
        ServerCommand.class,
        SyncCommand.class,
        StatusCommand.class,
        ConflictsCommand.class,
        DemoCommand.class,
        DatasetCommand.class,
        TokenCommand.class,
        DeviceCommand.class,
        CommandLine.HelpCommand.class
    },
    footer = {"", "Run 'tidesync COMMAND --help' for a command's options. Start with: tidesync demo"})
public final class Main implements Callable<Integer> {
  public static final int EXIT_OK = 0;
  public static final int EXIT_FAILED = 1;
  public static final int EXIT_USAGE = 2;

  @Spec CommandSpec spec;

  @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
      description = "Log more to stderr: -v for INFO, -vv for DEBUG (default: warnings only).")
  boolean[] verbose = new boolean[0];

  @Override
  public Integer call() {
    PrintWriter err = spec.commandLine().getErr();
    err.println("tidesync: a command is needed");
    spec.commandLine().usage(err);
    return EXIT_USAGE;
  }

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line and returns the exit code (without exiting). */
  public static int execute(String... args) {
    return commandLine().execute(args);
  }

  /** The configured command line: logging set from {@code -v}, one-line errors, exit codes. */
  public static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionStrategy(parsed -> {
      Logging.configure(verbosity(parsed));
      return new CommandLine.RunLast().execute(parsed);
    });
    cl.setParameterExceptionHandler((ex, args) -> {
      CommandLine cmd = ex.getCommandLine();
      cmd.getErr().println("tidesync: " + Checks.oneLine(ex.getMessage()) + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
      return EXIT_USAGE;
    });
    cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
      cmd.getErr().println("tidesync: " + Checks.reason(ex));
      if (verbosity(parsed) > 0) {
        ex.printStackTrace(cmd.getErr());
      }
      cmd.getErr().flush();
      return EXIT_FAILED;
    });
    return cl;
  }

  /** How often -v was given, on the root command or on the subcommand (the option is inherited). */
  static int verbosity(ParseResult parsed) {
    int n = 0;
    for (ParseResult p = parsed; p != null; p = p.subcommand()) {
      OptionSpec o = p.matchedOption("--verbose");
      if (o != null) {
        boolean[] v = o.getValue();
        n = Math.max(n, v == null ? 0 : v.length);
      }
    }
    return n;
  }

  /** The version from the build (tidesync-cli.properties is filtered by Maven). */
  public static String version() {
    try (InputStream in = Main.class.getResourceAsStream("/tidesync-cli.properties")) {
      if (in != null) {
        Properties p = new Properties();
        p.load(in);
        String v = p.getProperty("version", "");
        if (!v.isEmpty() && !v.startsWith("${")) {
          return v;
        }
      }
    } catch (IOException e) {
      // fall through
    }
    return "unknown";
  }

  static final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {
          "tidesync " + version() + " (protocol v" + dev.tidesync.protocol.Wire.VERSION + ")",
          "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ")"
      };
    }
  }
}
