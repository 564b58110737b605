package dev.tidesync.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tidesync.cli.internal.Checks;
import dev.tidesync.cli.internal.CliException;
import dev.tidesync.cli.internal.ServerApi;
import dev.tidesync.cli.internal.TokenOption;
import dev.tidesync.cli.internal.Text;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.Wire;
import dev.tidesync.sqlite.DeviceReplica;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.sqlite.SQLiteConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code tidesync status}: a replica's sync state (--db) and/or a server's (--server). */
@Command(
    name = "status",
    header = "Show a replica's or a server's sync state.",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = "Shows sync state. With --db: a replica's device id, cursor, synced tables, pending changes per table, "
        + "failed rows with their reasons, and tables that are not synced. With --server: the server's version, its datasets, "
        + "and their devices with their last sync.")
final class StatusCommand implements Callable<Integer> {
  private static final String W = "%-10s";

  @Spec CommandSpec spec;

  @Option(names = "--db", paramLabel = "FILE", description = "A SQLite file that 'tidesync sync' has synced.")
  Path db;

  @Option(names = "--server", paramLabel = "URL", description = "A sync server, e.g. http://127.0.0.1:8787")
  String server;

  @Option(names = "--dataset", paramLabel = "NAME", description = "With --server: show only this dataset.")
  String dataset;

  @Mixin TokenOption tokenOption;

  @Override
  public Integer call() {
    if (db == null && server == null) {
      throw new ParameterException(spec.commandLine(), "Missing option: give --db FILE, --server URL, or both");
    }
    if (dataset != null && server == null) {
      throw new ParameterException(spec.commandLine(), "--dataset needs --server");
    }
    String url = server == null ? null : Checks.serverUrl(spec.commandLine(), "--server", server);
    String ds = dataset == null ? null : Checks.dataset(spec.commandLine(), dataset);
    PrintWriter out = spec.commandLine().getOut();
    if (db != null) {
      replica(out);
    }
    if (url != null) {
      if (db != null) {
        out.println();
      }
      server(out, url, ds, tokenOption.token());
    }
    out.flush();
    return Main.EXIT_OK;
  }

  // ------------------------------------------------------------------------------------ replica

  private void replica(PrintWriter out) {
    Checks.existingFile("database file", db);
    Path file = db.toAbsolutePath().normalize();
    Set<String> synced = syncedTables(file);
    if (synced == null) {
      line(out, "replica", file.toString());
      line(out, "state", "not synced yet (no Tidesync metadata); run 'tidesync sync --db " + db + " --server URL --dataset NAME'");
      return;
    }
    // Opened with the table set of the last sync, so that looking does not change what is synced.
    try (DeviceReplica r = DeviceReplica.open(file, DeviceReplica.Options.defaults().withTables(synced))) {
      DeviceReplica.Pending p = r.pending();
      List<String> tables = new ArrayList<>();
      for (TableSchema t : r.tables()) {
        tables.add(t.name());
      }
      line(out, "replica", file.toString());
      line(out, "device", r.deviceId());
      line(out, "cursor", r.cursor() == null ? "none (the next sync bootstraps)" : r.cursor());
      line(out, "tables", tables.isEmpty() ? "none" : String.join(", ", tables));
      line(out, "pending", p.total() + perTable(p.pending()));
      long failed = p.failed().values().stream().mapToLong(Long::longValue).sum();
      line(out, "failed", failed + perTable(p.failed()));
      for (Map.Entry<String, String> f : r.failures().entrySet()) {
        int space = f.getKey().indexOf(' ');
        String where = space < 0 ? f.getKey() : f.getKey().substring(0, space) + " " + Text.key(f.getKey().substring(space + 1));
        out.println("          " + where + ": " + Checks.oneLine(f.getValue()));
      }
      Map<String, String> skipped = r.skipped();
      if (skipped.isEmpty()) {
        line(out, "skipped", "none");
      } else {
        List<String> s = new ArrayList<>();
        for (Map.Entry<String, String> e : skipped.entrySet()) {
          String why = e.getValue().equals("not in the configured table list") ? "not synced yet, or left out by --tables"
              : e.getValue().replace("table '" + e.getKey() + "' ", "");
          s.add(e.getKey() + " (" + why + ")");
        }
        line(out, "skipped", String.join(", ", s));
      }
    }
  }

  /** The tables the last sync recorded, or null when the file has no Tidesync metadata. */
  private static Set<String> syncedTables(Path file) {
    SQLiteConfig cfg = new SQLiteConfig();
    cfg.setReadOnly(true);
    cfg.setBusyTimeout(10_000);
    try (Connection c = cfg.createConnection("jdbc:sqlite:" + file)) {
      try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_tidesync_meta'");
          ResultSet rs = ps.executeQuery()) {
        if (!rs.next() || rs.getInt(1) == 0) {
          return null;
        }
      }
      try (PreparedStatement ps = c.prepareStatement("SELECT v FROM _tidesync_meta WHERE k = 'schema'"); ResultSet rs = ps.executeQuery()) {
        Set<String> names = new LinkedHashSet<>();
        if (rs.next() && rs.getString(1) != null) {
          for (TableSchema t : Wire.readSchema(rs.getString(1).getBytes(StandardCharsets.UTF_8))) {
            names.add(t.name());
          }
        }
        return names;
      }
    } catch (SQLException e) {
      throw new CliException("cannot read " + file + ": " + Checks.reason(e), e);
    }
  }

  private static String perTable(Map<String, Long> counts) {
    if (counts.isEmpty()) {
      return "";
    }
    List<String> parts = new ArrayList<>();
    counts.forEach((t, n) -> parts.add(t + " " + n));
    return " (" + String.join(", ", parts) + ")";
  }

  private static void line(PrintWriter out, String label, String value) {
    out.println(String.format(W, label + ":") + value);
  }

  // ------------------------------------------------------------------------------------ server

  private static void server(PrintWriter out, String url, String only, String token) {
    ServerApi api = new ServerApi(url, token);
    JsonNode status = api.get("/v1/status");
    line(out, "server", url + " (" + status.path("server").asText("?") + " " + status.path("version").asText("?") + ")");
    List<JsonNode> datasets = new ArrayList<>();
    for (JsonNode d : status.path("datasets")) {
      if (only == null || only.equals(d.path("name").asText())) {
        datasets.add(d);
      }
    }
    if (only != null && datasets.isEmpty()) {
      throw new CliException("the server at " + url + " has no dataset '" + only + "'");
    }
    line(out, "datasets", datasets.isEmpty() ? "none yet (a dataset is created by its first push)" : Integer.toString(datasets.size()));
    for (JsonNode d : datasets) {
      out.println();
      out.println("dataset " + d.path("name").asText() + ": version " + d.path("version").asLong() + ", "
          + d.path("conflicts").asLong() + " conflict(s) logged");
      List<String> rows = new ArrayList<>();
      for (Map.Entry<String, JsonNode> e : d.path("rows").properties()) {
        rows.add(e.getKey() + " " + e.getValue().asLong());
      }
      out.println("  rows      " + (rows.isEmpty() ? "no tables yet" : String.join(", ", rows)));
      JsonNode devices = d.path("devices");
      out.println("  devices   " + devices.size());
      for (JsonNode dev : devices) {
        out.println("    " + Text.pad(dev.path("device").asText(), 14)
            + " last push " + Text.pad(Text.when(dev.path("lastPush").asLong()), 24)
            + " last pull " + Text.pad(Text.when(dev.path("lastPull").asLong()), 24)
            + " pushes " + dev.path("pushes").asLong() + ", pulls " + dev.path("pulls").asLong()
            + ", changes " + dev.path("changes").asLong());
      }
    }
  }
}
