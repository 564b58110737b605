package dev.tidesync.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The server command's options as the user meets them, in-process: only errors that stop it
 * before it opens a storage or a port (usage errors, exit 2), and its help.
 */
class ServerCommandTest {
  record Result(int exit, String out, String err) {}

  private static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = Main.commandLine();
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    int exit = cl.execute(args);
    return new Result(exit, out.toString(), err.toString());
  }

  @Test
  void aBadRateLimitIsAUsageErrorOnOneLineNamingTheOption() {
    for (String[] bad : new String[][] {{"--rate-device", "lots"}, {"--rate-device", "0"}, {"--rate-tenant", "10:0"}}) {
      Result r = run("server", "--port", "0", bad[0], bad[1]);
      assertThat(r.exit()).as("%s %s: %s", bad[0], bad[1], r).isEqualTo(Main.EXIT_USAGE);
      assertThat(r.err().lines().toList()).as(r.err()).singleElement().asString()
          .startsWith("tidesync: Invalid value for option '" + bad[0] + "'").contains(bad[1]).contains("see 'tidesync server --help'");
      assertThat(r.out()).isEmpty();
    }
  }

  @Test
  void helpShowsTheRateOptionsWithTheServersDefaults() {
    Result r = run("server", "--help");
    assertThat(r.exit()).isZero();
    // help text wraps at the terminal's width: compare with whitespace folded
    assertThat(r.out().replaceAll("\\s+", " ")).contains("--rate-device=RATE").contains("--rate-tenant=RATE")
        .contains("Default: 100/s (burst 200)").contains("Default: 1000/s (burst 2000)");
  }
}
