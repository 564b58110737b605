package dev.tidesync.cli;

import dev.tidesync.cli.internal.ByteSizes;
import dev.tidesync.cli.internal.Checks;
import dev.tidesync.cli.internal.CliException;
import dev.tidesync.cli.internal.Durations;
import dev.tidesync.cli.internal.ServerApi;
import dev.tidesync.cli.internal.TokenOption;
import dev.tidesync.cli.internal.SyncProgress;
import dev.tidesync.client.ClientConfig;
import dev.tidesync.client.SyncReport;
import dev.tidesync.client.SyncStatus;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.TidesyncException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalTime;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code tidesync sync}: syncs an existing SQLite file with a server, once or (with
 * {@code --watch}) until stopped. Tables are discovered and captured by triggers, so the app
 * that owns the file needs no change.
 */
@Command(
    name = "sync",
    header = "Sync a SQLite file with a server, once or --watch.",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = "Syncs a SQLite file with a server: pushes local changes, then pulls everything new. Every table with a "
        + "primary key is synced unless --tables narrows the set; Tidesync adds its own _tidesync_* tables and triggers to the "
        + "file. A one-line summary goes to stdout, progress of long syncs to stderr (see --progress). With --watch it keeps "
        + "syncing until Ctrl-C or SIGTERM, one line per sync.")
final class SyncCommand implements Callable<Integer> {
  private static final String CONFIGURED_OUT = "not in the configured table list";

  @Spec CommandSpec spec;

  @Option(names = "--db", required = true, paramLabel = "FILE", description = "The SQLite database to sync (must exist).")
  Path db;

  @Option(names = "--server", required = true, paramLabel = "URL", description = "The sync server, e.g. http://127.0.0.1:8787")
  String server;

  @Option(names = "--dataset", required = true, paramLabel = "NAME",
      description = "Dataset on the server ([a-z0-9][a-z0-9_-]*); created by the first push.")
  String dataset;

  @Option(names = "--device", paramLabel = "ID",
      description = "This replica's device id (default: the token's device; without a token, the one stored in the file, or a new random one).")
  String device;

  @Mixin TokenOption tokenOption;

  @Option(names = "--tables", split = ",", paramLabel = "TABLE",
      description = "Sync only these tables (comma-separated). Default: every table with a primary key.")
  List<String> tables;

  @Option(names = "--batch", defaultValue = "1000", paramLabel = "N",
      description = "Changes per push request, 1..10000. Default: ${DEFAULT-VALUE}")
  int batch;

  @Option(names = "--batch-bytes", defaultValue = "8MiB", paramLabel = "SIZE", converter = ByteSizes.class,
      description = "Largest push request body (uncompressed JSON), 16KiB..256MiB: fewer rows go in a batch of large rows. "
          + "Default: ${DEFAULT-VALUE}")
  long batchBytes;

  @Option(names = "--watch", description = "Keep syncing in the background: on an interval and soon after local writes.")
  boolean watch;

  @Option(names = "--interval", defaultValue = "30s", paramLabel = "DURATION", converter = Durations.class,
      description = "With --watch: longest time between syncs (500ms, 30s, 5m, 1h). Default: ${DEFAULT-VALUE}")
  Duration interval;

  @Option(names = "--progress", negatable = true,
      description = "Progress lines on stderr for syncs longer than 2 s. Default: on when run from a terminal.")
  Boolean showProgress;

  /**
   * The largest --batch-bytes. A server refuses bodies over its own limit (64 MiB by default) with
   * 413, and the client then halves its budget for the rest of the sync; this bound only stops
   * a typo from asking for batches of gigabytes.
   */
  static final long MAX_BATCH_BYTES = 256L << 20;

  private volatile boolean stopping;

  @Override
  public Integer call() throws InterruptedException {
    String url = Checks.serverUrl(spec.commandLine(), "--server", server);
    String ds = Checks.dataset(spec.commandLine(), dataset);
    if (batch < 1 || batch > 10_000) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--batch': must be 1..10000, got " + batch);
    }
    if (batchBytes < ClientConfig.MIN_BATCH_BYTES || batchBytes > MAX_BATCH_BYTES) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--batch-bytes': must be "
          + ByteSizes.human(ClientConfig.MIN_BATCH_BYTES) + ".." + ByteSizes.human(MAX_BATCH_BYTES) + ", got " + ByteSizes.human(batchBytes));
    }
    if (device != null && (device.isBlank() || device.length() > 128)) {
      throw new ParameterException(spec.commandLine(), "Invalid value for option '--device': must be 1..128 characters");
    }
    Set<String> only = null;
    if (tables != null) {
      only = new LinkedHashSet<>();
      for (String t : tables) {
        if (!t.isBlank()) {
          only.add(t.strip());
        }
      }
      if (only.isEmpty()) {
        throw new ParameterException(spec.commandLine(), "Invalid value for option '--tables': no table names");
      }
    }
    Checks.existingFile("database file", db);
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    // Like git and curl: progress when someone watches (a terminal), or when asked for.
    boolean progressLines = showProgress != null ? showProgress : System.console() != null;
    SyncProgress progress = new SyncProgress(progressLines ? err : null, err, watch ? out : null);
    Set<String> selected = only;
    progress.begin("opening " + db + " (the first time, every existing row is logged for sync)");
    String token = tokenOption.token();
    String deviceId = device != null ? device : tokenOption.device();
    TidesyncClient client;
    try {
      client = TidesyncClient.create(c -> c.database(db).server(url).dataset(ds).deviceId(deviceId).token(token)
          .tables(selected).batchLimit(batch).batchBytes(batchBytes).interval(interval).listener(progress));
    } catch (RuntimeException e) {
      progress.close();
      throw e;
    }
    if (watch) {
      return watch(client, progress, url, ds, out, err); // closes the client on shutdown
    }
    try (client) {
      warnSkipped(client, err);
      SyncReport report;
      try {
        report = flush(client, url);
      } finally {
        progress.ended();
        progress.close();
      }
      SyncStatus status = client.status();
      out.println(summary(client.deviceId(), ds, report) + ", pending " + status.pendingTotal());
      out.flush();
      for (String lost : report.superseded()) {
        err.println("tidesync: warning: " + Checks.oneLine(lost));
      }
      warnMissing(client, selected, err);
      if (!report.ok()) {
        throw new CliException("sync finished with " + report.errors().size() + " error(s): " + String.join("; ", report.errors()));
      }
      return Main.EXIT_OK;
    }
  }

  private static SyncReport flush(TidesyncClient client, String url) {
    try {
      return client.flush();
    } catch (TidesyncException e) {
      String reason = Checks.reason(e);
      if (e.retriable() && e.getCause() instanceof java.io.IOException) {
        reason = ServerApi.unreachable(url, e.getCause());
      }
      throw new CliException("sync failed: " + reason + "; local changes stay pending", e);
    }
  }

  // ------------------------------------------------------------------------------------ watch

  private int watch(TidesyncClient client, SyncProgress progress, String url, String ds, PrintWriter out, PrintWriter err)
      throws InterruptedException {
    warnSkipped(client, err);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      stopping = true;
      client.stop(Duration.ofSeconds(5));
      // close() waits for a sync in flight; do not let a hung request hold the JVM forever.
      Thread closer = new Thread(client::close, "tidesync-close");
      closer.setDaemon(true);
      closer.start();
      try {
        closer.join(5_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      out.println(LocalTime.now().truncatedTo(ChronoUnit.SECONDS) + " stopped watching " + db);
      out.flush();
    }, "tidesync-shutdown"));
    out.println("watching " + db + " (device " + client.deviceId() + ", dataset " + ds + " on " + url + "): syncing every "
        + Durations.human(interval) + " and soon after local writes; Ctrl-C to stop");
    out.flush();
    client.start();
    // Successful syncs are printed by the listener; failed ones only show in the client's status.
    Instant seenSuccess = null;
    String shownError = null;
    while (!stopping) {
      Thread.sleep(500);
      if (stopping) {
        break;
      }
      SyncStatus s;
      try {
        s = client.status();
      } catch (RuntimeException e) {
        if (stopping) {
          break;
        }
        throw e;
      }
      if (!Objects.equals(s.lastSuccess(), seenSuccess)) {
        seenSuccess = s.lastSuccess();
        shownError = null; // a sync went through (its report was printed)
      } else if (s.lastError() != null && !s.lastError().equals(shownError)) {
        shownError = s.lastError();
        progress.ended();
        err.println(LocalTime.now().truncatedTo(ChronoUnit.SECONDS) + " sync failed: " + Checks.oneLine(s.lastError())
            + " (retrying with backoff; local changes stay pending)");
        err.flush();
      }
    }
    // Shutdown in progress: the hook stops the client; this thread just waits for the JVM to end.
    Thread.sleep(Long.MAX_VALUE);
    return Main.EXIT_OK;
  }

  // ------------------------------------------------------------------------------------ output

  static String summary(String device, String dataset, SyncReport r) {
    StringBuilder sb = new StringBuilder();
    sb.append("synced ").append(device).append(" with dataset ").append(dataset).append(": pushed ").append(r.pushed())
        .append(" (applied ").append(r.applied()).append(", conflicts ").append(r.conflicts()).append(", rejected ").append(r.rejected())
        .append("), pulled ").append(r.pulled()).append(" in ").append(r.pages()).append(r.pages() == 1 ? " page" : " pages");
    if (r.bootstrap()) {
      sb.append(" (bootstrap)");
    }
    sb.append(", ").append(r.millis()).append(" ms");
    if (!r.ok()) {
      sb.append(", ").append(r.errors().size()).append(" error(s)");
    }
    if (!r.superseded().isEmpty()) {
      sb.append(", ").append(r.superseded().size()).append(" refused change(s) superseded");
    }
    return sb.toString();
  }

  private void warnSkipped(TidesyncClient client, PrintWriter err) {
    for (Map.Entry<String, String> e : client.replica().skipped().entrySet()) {
      if (!e.getValue().equals(CONFIGURED_OUT)) {
        // Reasons usually name the table already ("table 'logs' has no primary key; ...").
        String why = e.getValue().contains("'" + e.getKey() + "'") ? e.getValue() : "table '" + e.getKey() + "': " + e.getValue();
        err.println("tidesync: warning: not synced: " + why);
      }
    }
    err.flush();
  }

  private void warnMissing(TidesyncClient client, Set<String> selected, PrintWriter err) {
    Set<String> present = new LinkedHashSet<>(client.replica().skipped().keySet());
    for (TableSchema t : client.replica().tables()) {
      present.add(t.name());
    }
    if (selected != null) {
      for (String t : selected) {
        if (!present.contains(t)) {
          err.println("tidesync: warning: table '" + t + "' (from --tables) is neither in " + db + " nor on the server");
        }
      }
    }
    if (client.replica().tables().isEmpty()) {
      err.println("tidesync: warning: nothing was synced: " + db + " has no table with a primary key"
          + (selected == null ? "" : " among --tables") + " and the dataset has none yet");
    }
    err.flush();
  }
}
