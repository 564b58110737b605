package dev.tidesync.it;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line that runs the real {@code tidesync} executable ({@code dev.tidesync.cli.Main}) in a JVM of its own. */
public final class CliProcess {
  private CliProcess() {}

  public static List<String> command(String... args) {
    String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    // Short-lived JVMs: C1 only and the serial GC start faster and use less CPU on a busy CI box.
    // The CLI's own logback.xml, as a user gets it, not this module's logback-test.xml.
    List<String> cmd = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
    if (Runtime.version().feature() >= 22) {
      // What the jar's Enable-Native-Access manifest entry does for `java -jar`: without it,
      // JDK 22+ warns on stderr when sqlite-jdbc loads its native library.
      cmd.add("--enable-native-access=ALL-UNNAMED");
    }
    cmd.addAll(List.of("-Dlogback.configurationFile=logback.xml", "-cp", System.getProperty("java.class.path"), "dev.tidesync.cli.Main"));
    cmd.addAll(List.of(args));
    return cmd;
  }
}
