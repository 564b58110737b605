package dev.tidesync.cli.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.Storage;
import dev.tidesync.core.internal.StoreRows;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * A dataset's conflict log, read over HTTP or straight from the server's dataset file, in the
 * shape of {@code GET /v1/datasets/{ds}/conflicts}: {@code id, table, pk, policy, outcome, device,
 * at, baseVersion, storedVersion, stored, incoming, result}.
 */
public final class ConflictLog {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ConflictLog() {}

  public static List<JsonNode> fromServer(ServerApi api, String dataset, long after, int limit) {
    JsonNode answer = api.get("/v1/datasets/" + URLEncoder.encode(dataset, StandardCharsets.UTF_8) + "/conflicts?after=" + after
        + "&limit=" + limit);
    List<JsonNode> out = new ArrayList<>();
    answer.path("conflicts").forEach(out::add);
    return out;
  }

  /**
   * Reads {@code DIR/<tenant>/<dataset>.db} read-only. Deliberately not through {@code SqliteStorage}:
   * opening a dataset store writes its metadata (sequence, clock), which would race with a server
   * process serving the same directory.
   */
  public static List<JsonNode> fromDataDir(Path dir, String tenant, String dataset, long after, int limit) {
    if (!Files.isDirectory(dir)) {
      throw new CliException("no such data directory: " + dir);
    }
    Path file = dir.resolve(tenant).resolve(dataset + ".db");
    if (!Files.isRegularFile(file)) {
      throw new CliException("no dataset '" + dataset + "' of tenant " + tenant + " in " + dir + " (no file " + tenant + "/" + file.getFileName() + ")");
    }
    List<JsonNode> out = new ArrayList<>();
    try (Connection c = SqliteFiles.readOnly(file)) {
      try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_tidesync_conflicts'");
          ResultSet rs = ps.executeQuery()) {
        if (!rs.next() || rs.getInt(1) == 0) {
          throw new CliException(file + " is not a Tidesync dataset file (no conflict log)");
        }
      }
      try (PreparedStatement ps = c.prepareStatement(StoreRows.conflictPage("_tidesync_conflicts"))) {
        ps.setLong(1, after);
        ps.setInt(2, limit);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(json(StoreRows.conflict(rs::getObject)));
          }
        }
      }
    } catch (SQLException e) {
      throw new CliException("cannot read the conflict log in " + file + ": " + Checks.reason(e), e);
    }
    return out;
  }

  /**
   * Reads through the storage's own {@link dev.tidesync.core.DatasetStore#conflicts} (PostgreSQL:
   * several processes share the database, so reading it beside running servers is safe).
   */
  public static List<JsonNode> fromStorage(StorageOptions options, String tenant, String dataset, long after, int limit) {
    List<JsonNode> out = new ArrayList<>();
    try (Storage storage = options.open()) {
      DatasetStore store = storage.find(new DatasetId(tenant, dataset))
          .orElseThrow(() -> new CliException("no dataset '" + dataset + "' of tenant " + tenant + " in " + options.describe()));
      for (ConflictRecord c : store.conflicts(after, limit)) {
        out.add(json(c));
      }
    }
    return out;
  }

  /** A conflict in the shape the server's API answers with. */
  private static JsonNode json(ConflictRecord c) {
    ObjectNode n = JSON.createObjectNode();
    n.put("id", c.id());
    n.put("table", c.table());
    n.put("pk", c.pk());
    n.put("policy", c.policy());
    n.put("outcome", c.outcome());
    n.put("device", c.device());
    n.put("at", c.at());
    n.put("baseVersion", c.baseVersion());
    n.put("storedVersion", c.storedVersion());
    n.set("stored", parse(c.stored()));
    n.set("incoming", parse(c.incoming()));
    n.set("result", parse(c.result()));
    return n;
  }

  private static JsonNode parse(String json) {
    if (json == null || json.isEmpty()) {
      return JSON.nullNode();
    }
    try {
      return JSON.readTree(json);
    } catch (IOException e) {
      return JSON.getNodeFactory().textNode(json);
    }
  }

  /** One conflict: a header line, then the stored, incoming and resulting row images. */
  public static void print(PrintWriter out, JsonNode c) {
    out.println("#" + c.path("id").asLong() + "  " + c.path("table").asText() + " " + Text.key(c.path("pk").asText())
        + "  " + c.path("policy").asText() + " -> " + c.path("outcome").asText()
        + "  device " + c.path("device").asText("?") + "  at " + Text.when(c.path("at").asLong())
        + "  (its base v" + c.path("baseVersion").asLong() + ", server had v" + c.path("storedVersion").asLong() + ")");
    out.println("    stored:   " + Text.row(c.get("stored")));
    out.println("    incoming: " + Text.row(c.get("incoming")));
    out.println("    result:   " + Text.row(c.get("result")));
  }
}
