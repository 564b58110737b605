package dev.tidesync.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tidesync.cli.internal.CliException;
import dev.tidesync.cli.internal.ConflictLog;
import dev.tidesync.cli.internal.ServerApi;
import dev.tidesync.cli.internal.SqliteFiles;
import dev.tidesync.cli.internal.Text;
import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.server.Role;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import dev.tidesync.server.Tokens;
import dev.tidesync.sqlite.SqliteStorage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.sqlite.SQLiteConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code tidesync demo}: an embedded server and simulated field tablets that sync, go offline,
 * edit the same rows, reconnect and converge, narrated step by step; it ends by comparing every
 * replica with the server row by row and exits 0 only when they are identical.
 */
@Command(
    name = "demo",
    header = "Server + simulated devices: offline edits, conflicts, convergence.",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = "Runs a server and simulated devices in one process: they sync, go offline and edit the same rows, "
        + "reconnect and converge. Prints the conflicts and how they were resolved, then compares every table of every "
        + "replica with the server row by row. Exit code 0 only when all are identical.")
final class DemoCommand implements Callable<Integer> {
  private static final String DATASET = "field";
  private static final String TENANT = "fieldco";
  private static final String[] SCHEMA = {
      "CREATE TABLE sessions (id TEXT PRIMARY KEY, name TEXT NOT NULL, site TEXT, started_at TEXT, score INTEGER)",
      "CREATE TABLE events (id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id), at TEXT, kind TEXT, "
          + "value REAL, note TEXT)"
  };

  @Spec CommandSpec spec;

  @Option(names = "--devices", defaultValue = "3", paramLabel = "N", description = "Simulated devices, 2..8. Default: ${DEFAULT-VALUE}")
  int devices;

  @Option(names = "--port", defaultValue = "0", paramLabel = "PORT",
      description = "Port of the embedded server; 0 picks a free one. Default: ${DEFAULT-VALUE}")
  int port;

  @Option(names = "--keep", description = "Keep the server's and the devices' files afterwards (and print where they are).")
  boolean keep;

  private PrintWriter out;
  /** Offline edits of existing rows, by "table key": who changed which column (for explaining conflicts). */
  private final Map<String, List<String[]>> edits = new LinkedHashMap<>();

  private record Device(String name, Path file, TidesyncClient client) {}

  @Override
  public Integer call() throws Exception {
    if (devices < 2 || devices > 8) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--devices': must be 2..8, got " + devices);
    }
    if (port < 0 || port > 65_535) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--port': must be 0..65535, got " + port);
    }
    out = spec.commandLine().getOut();
    long start = System.nanoTime();
    Path root = Files.createTempDirectory("tidesync-demo-");
    boolean identical;
    try {
      identical = run(root);
    } finally {
      if (!keep) {
        deleteTree(root);
      }
    }
    String took = String.format(Locale.ROOT, "%.1f s", (System.nanoTime() - start) / 1e9);
    if (keep) {
      out.println("Done in " + took + ". Files kept in " + root + "; look with:");
      out.println("   tidesync status --db " + root.resolve("devices/tablet-1.db"));
      out.println("   tidesync conflicts --data " + root.resolve("server") + " --tenant " + TENANT + " --dataset " + DATASET);
    } else {
      out.println("Done in " + took + " (files removed; --keep keeps them).");
    }
    out.flush();
    if (!identical) {
      throw new CliException("the replicas do not hold the same rows (see above)");
    }
    return Main.EXIT_OK;
  }

  /** What the server answers a request that has no token: shown once, so that the demo shows auth is on. */
  private static String refusedWithoutToken(String url) {
    try {
      new ServerApi(url, null).get("/v1/datasets");
      return "accepted (auth is off?)";
    } catch (CliException e) {
      return "refused, " + e.getMessage().replaceFirst("^GET \\S+ answered ", "").replaceFirst(":.*$", "");
    }
  }

  private boolean run(Path root) throws Exception {
    Path data = root.resolve("server");
    Path deviceDir = Files.createDirectories(root.resolve("devices"));
    List<Device> tablets = new ArrayList<>();
    List<TidesyncClient> open = new ArrayList<>();
    try (SqliteStorage storage = SqliteStorage.open(data);
        TidesyncServer server = TidesyncServer.start(storage, ServerConfig.defaults().withPort(port))) {
      String url = server.url();
      // Minted in-process with the key kept in the server's storage, as 'tidesync token create' does.
      Tokens tokens = Tokens.of(storage);
      out.println("Tidesync demo: " + devices + " field tablets record sessions offline, conflict, and converge.");
      out.println("   server     " + url + "   (status: " + url + "/v1/status; there is no web dashboard yet)");
      out.println("   data       " + root);
      out.println("   schema     sessions(id, name, site, started_at, score), events(id, session_id -> sessions, at, kind, value, note)");
      out.println("   auth       tenant " + TENANT + "; each tablet has its own write token for dataset " + DATASET
          + " (tidesync token create), the operator an admin token for the conflict log");
      out.println("              without a token: " + refusedWithoutToken(url));
      for (int i = 1; i <= devices; i++) {
        String name = "tablet-" + i;
        Path file = deviceDir.resolve(name + ".db");
        sql(file, SCHEMA);
        String token = tokens.create(TENANT, List.of(DATASET), name, Role.WRITE, Duration.ofHours(1));
        TidesyncClient client = TidesyncClient.create(c -> c.database(file).server(url).dataset(DATASET).deviceId(name).token(token));
        open.add(client);
        tablets.add(new Device(name, file, client));
      }
      Device first = tablets.get(0);
      Device second = tablets.get(1);
      Device last = tablets.get(tablets.size() - 1);
      seed(first.file());

      out.println();
      out.println("1. Every tablet has the schema; " + first.name() + " also has 2 sessions with 4 events. First sync:");
      for (Device d : tablets) {
        out.println("   " + Text.pad(d.name(), 9) + describe(d.client().flush()));
      }

      out.println();
      out.println("2. Offline: no network. Each tablet keeps recording with plain SQL on its own file.");
      offlineEdits(tablets, first, second, last);
      List<String> pending = new ArrayList<>();
      for (Device d : tablets) {
        pending.add(d.name() + " " + d.client().status().pendingTotal());
      }
      out.println("   pending changes, kept on the tablets: " + String.join(", ", pending));

      out.println();
      out.println("3. Back online, last tablet first, twice round (so every tablet hears of every change):");
      List<Device> order = new ArrayList<>(tablets);
      order.sort(Comparator.comparing(Device::name).reversed());
      for (int round = 1; round <= 2; round++) {
        for (Device d : order) {
          out.println("   round " + round + "  " + Text.pad(d.name(), 9) + describe(d.client().flush()));
        }
      }

      out.println();
      String admin = tokens.create(TENANT, List.of(DATASET), "operator", Role.ADMIN, Duration.ofHours(1));
      List<JsonNode> conflicts = ConflictLog.fromServer(new ServerApi(url, admin), DATASET, 0, 100);
      out.println("4. The server logged " + conflicts.size() + " conflict(s), each with both versions (tidesync conflicts):");
      for (JsonNode c : conflicts) {
        explain(c);
      }

      closeAll(open); // the files are compared at rest
      out.println();
      out.println("5. Verify: every table of every replica against the server's dataset file, row by row:");
      return verify(storage.fileOf(new dev.tidesync.core.DatasetId(TENANT, DATASET)), tablets);
    } finally {
      closeAll(open);
    }
  }

  private static void closeAll(List<TidesyncClient> clients) {
    for (TidesyncClient c : clients) {
      c.close();
    }
    clients.clear();
  }

  // ------------------------------------------------------------------------------------ story

  private static void seed(Path file) throws SQLException {
    sql(file, "INSERT INTO sessions VALUES ('s1', 'Dawn transect', 'North pier', '2026-05-04T06:10', 72)",
        "INSERT INTO sessions VALUES ('s2', 'Reef count', 'Reef', '2026-05-04T09:30', 64)",
        "INSERT INTO events VALUES ('e1', 's1', '06:12', 'temp', 14.2, 'calm')",
        "INSERT INTO events VALUES ('e2', 's1', '06:20', 'salinity', 35.1, NULL)",
        "INSERT INTO events VALUES ('e3', 's2', '09:41', 'count', 12.0, 'parrotfish')",
        "INSERT INTO events VALUES ('e4', 's2', '09:55', 'temp', 15.0, NULL)");
  }

  /**
   * The offline writes. Order matters: the first tablet writes before the others, so the last
   * tablet's change of the same column is the newer one (by HLC) even though it syncs first.
   */
  private void offlineEdits(List<Device> tablets, Device first, Device second, Device last) throws Exception {
    String a = first.name();
    sql(first.file(), "INSERT INTO events VALUES ('" + a + "-e1', 's1', '06:31', 'temp', 14.8, NULL)",
        "INSERT INTO events VALUES ('" + a + "-e2', 's1', '06:40', 'wind', 3.5, 'gusts')",
        "UPDATE sessions SET name = 'Dawn transect (north)' WHERE id = 's1'",
        "UPDATE sessions SET site = 'Reef west' WHERE id = 's2'");
    edit("sessions s1", a, "name");
    edit("sessions s2", a, "site");
    out.println("   " + Text.pad(a, 9) + "adds 2 events to s1; renames s1 to 'Dawn transect (north)'; sets s2.site = 'Reef west'");
    Thread.sleep(5); // a later wall clock for every write below

    String b = second.name();
    sql(second.file(), "INSERT INTO sessions VALUES ('s3', 'Seagrass plot', 'Bay', '2026-05-04T11:00', 58)",
        "INSERT INTO events VALUES ('" + b + "-e1', 's3', '11:05', 'cover', 0.42, NULL)",
        "INSERT INTO events VALUES ('" + b + "-e2', 's3', '11:20', 'cover', 0.37, 'patchy')",
        "UPDATE sessions SET score = 87 WHERE id = 's1'");
    edit("sessions s1", b, "score");
    out.println("   " + Text.pad(b, 9) + "starts session s3 with 2 events; sets s1.score = 87 (same row as " + a + "'s rename)");

    for (Device d : tablets.subList(2, Math.max(2, tablets.size() - 1))) {
      sql(d.file(), "INSERT INTO events VALUES ('" + d.name() + "-e1', 's1', '07:00', 'temp', 14.9, NULL)");
      out.println("   " + Text.pad(d.name(), 9) + "adds 1 event to s1");
    }

    Thread.sleep(5);
    String c = last.name();
    List<String> statements = new ArrayList<>();
    if (last != second) {
      statements.add("INSERT INTO events VALUES ('" + c + "-e1', 's2', '10:02', 'count', 9.0, 'wrasse')");
      statements.add("INSERT INTO events VALUES ('" + c + "-e2', 's2', '10:15', 'temp', 15.4, NULL)");
    }
    statements.add("UPDATE sessions SET site = 'Reef east' WHERE id = 's2'");
    sql(last.file(), statements.toArray(String[]::new));
    edit("sessions s2", c, "site");
    out.println("   " + Text.pad(c, 9) + (last != second ? "adds 2 events to s2; " : "also ") + "sets s2.site = 'Reef east', after "
        + a + " set it to 'Reef west'");
  }

  private void edit(String row, String device, String column) {
    edits.computeIfAbsent(row, k -> new ArrayList<>()).add(new String[] {device, column});
  }

  private static String describe(SyncReport r) {
    String s = "pushed " + r.pushed() + ", pulled " + r.pulled() + (r.bootstrap() ? " (bootstrap)" : "");
    if (r.conflicts() > 0) {
      s += "; " + r.conflicts() + " conflict(s) resolved by the server";
    }
    if (!r.ok()) {
      s += "; errors: " + String.join("; ", r.errors());
    }
    return s;
  }

  /** Three lines per conflict: what came in, what the server had, the result and why. */
  private void explain(JsonNode c) {
    String device = c.path("device").asText();
    String row = c.path("table").asText() + " " + Text.key(c.path("pk").asText());
    JsonNode incoming = c.get("incoming");
    Set<String> mine = new LinkedHashSet<>();
    if (incoming != null && incoming.isObject()) {
      incoming.properties().forEach(e -> mine.add(e.getKey()));
    }
    Set<String> shown = new LinkedHashSet<>(mine);
    String sharedColumn = null;
    String otherWriter = null;
    for (String[] e : edits.getOrDefault(row, List.of())) {
      if (!e[0].equals(device)) {
        shown.add(e[1]);
        if (mine.contains(e[1])) {
          sharedColumn = e[1];
          otherWriter = e[0];
        }
      }
    }
    String why;
    if (sharedColumn == null) {
      why = "different columns: field-merge kept both edits";
    } else if (same(c.get("result"), incoming, sharedColumn)) {
      why = "same column: " + device + "'s write is newer (HLC) and wins";
    } else {
      why = "same column: " + otherWriter + "'s later write wins by HLC, though " + device + " synced last";
    }
    out.println("   #" + c.path("id").asLong() + " " + row + ": " + device + " pushed " + Text.row(only(incoming, mine)) + "  ("
        + c.path("policy").asText() + " -> " + c.path("outcome").asText() + ")");
    out.println("        server had  " + Text.row(only(c.get("stored"), shown)));
    out.println("        result      " + Text.row(only(c.get("result"), shown)) + "   <- " + why);
  }

  private static boolean same(JsonNode a, JsonNode b, String column) {
    return a != null && b != null && a.path(column).equals(b.path(column));
  }

  private static JsonNode only(JsonNode row, Set<String> columns) {
    if (row == null || !row.isObject()) {
      return row;
    }
    com.fasterxml.jackson.databind.node.ObjectNode o = ((com.fasterxml.jackson.databind.node.ObjectNode) row).objectNode();
    for (String col : columns) {
      if (row.has(col)) {
        o.set(col, row.get(col));
      }
    }
    return o;
  }

  // ------------------------------------------------------------------------------------ verify

  private boolean verify(Path serverFile, List<Device> tablets) throws SQLException {
    Map<String, SqliteFiles.Table> tables;
    try (Connection c = SqliteFiles.readOnly(serverFile)) {
      tables = SqliteFiles.tables(c);
    }
    Map<String, List<String>> expected = SqliteFiles.snapshot(serverFile, tables);
    Map<String, Map<String, List<String>>> actual = new LinkedHashMap<>();
    boolean identical = !tables.isEmpty();
    for (Device d : tablets) {
      try (Connection c = SqliteFiles.readOnly(d.file())) {
        Set<String> names = SqliteFiles.tables(c).keySet();
        if (!names.equals(tables.keySet())) {
          out.println("   " + d.name() + " has tables " + names + ", the server " + tables.keySet());
          identical = false;
          continue;
        }
      }
      actual.put(d.name(), SqliteFiles.snapshot(d.file(), tables));
    }
    for (String t : tables.keySet()) {
      List<String> rows = expected.get(t);
      List<String> equal = new ArrayList<>();
      List<String> differ = new ArrayList<>();
      for (Device d : tablets) {
        List<String> theirs = actual.containsKey(d.name()) ? actual.get(d.name()).get(t) : null;
        (rows.equals(theirs) ? equal : differ).add(d.name());
      }
      String line = "   " + Text.pad(t, 10) + String.format(Locale.ROOT, "%3d rows   ", rows.size());
      if (differ.isEmpty()) {
        out.println(line + String.join(" = ", equal) + " = server");
      } else {
        identical = false;
        out.println(line + "DIFFERENT on " + String.join(", ", differ));
        for (String name : differ) {
          List<String> theirs = actual.containsKey(name) ? actual.get(name).get(t) : List.of();
          out.println("        " + name + ": " + firstDifference(rows, theirs));
        }
      }
    }
    out.println("   replicas identical: " + (identical ? "yes" : "no"));
    out.flush();
    return identical;
  }

  private static String firstDifference(List<String> server, List<String> replica) {
    for (int i = 0; i < Math.max(server.size(), replica.size()); i++) {
      String s = i < server.size() ? server.get(i) : "(none)";
      String r = i < replica.size() ? replica.get(i) : "(none)";
      if (!s.equals(r)) {
        return "row " + (i + 1) + " is [" + r + "], the server's is [" + s + "]";
      }
    }
    return "same rows";
  }

  // ------------------------------------------------------------------------------------ files

  private static void sql(Path file, String... statements) throws SQLException {
    SQLiteConfig cfg = new SQLiteConfig();
    cfg.setBusyTimeout(10_000);
    try (Connection c = cfg.createConnection("jdbc:sqlite:" + file.toAbsolutePath())) {
      for (String s : statements) {
        try (PreparedStatement ps = c.prepareStatement(s)) {
          ps.execute();
        }
      }
    }
  }

  private static void deleteTree(Path root) {
    try (Stream<Path> walk = Files.walk(root)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot remove the demo files in " + root, e);
    }
  }
}
