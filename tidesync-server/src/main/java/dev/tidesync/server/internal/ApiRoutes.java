package dev.tidesync.server.internal;

import com.fasterxml.jackson.core.JsonGenerator;
import dev.tidesync.core.CrashPoints;
import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetNames;
import dev.tidesync.core.DatasetNotFoundException;
import dev.tidesync.core.DatasetStatus;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.DeviceStatus;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.Wire;
import dev.tidesync.server.Role;
import dev.tidesync.server.ServerConfig;
import io.javalin.config.JavalinConfig;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/** The protocol v1 HTTP API over a {@link Storage}. Every route but /health asks {@link Auth} who is calling first. */
public final class ApiRoutes {
  public static final String SERVER_VERSION = "0.1.0";
  private static final int DEFAULT_CONFLICT_LIMIT = 100;
  private static final int MAX_DEVICE_LENGTH = 128;

  private final Storage storage;
  private final ServerConfig config;
  private final Auth auth;

  public ApiRoutes(Storage storage, ServerConfig config, Auth auth) {
    this.storage = storage;
    this.config = config;
    this.auth = auth;
  }

  /** Installs the routes and the error handling (Javalin's and Jetty's) into {@code c}. */
  public void configure(JavalinConfig c) {
    c.jetty.modifyServer(server -> server.setErrorHandler(new JettyErrors()));
    RoutesConfig routes = c.routes;
    Errors.register(routes);
    routes.get("/health", ctx -> Json.send(ctx, Json.write(g -> {
      g.writeStartObject();
      g.writeStringField("status", "ok");
      g.writeEndObject();
    })));
    routes.post("/v1/datasets/{dataset}/push", this::push);
    routes.get("/v1/datasets/{dataset}/pull", this::pull);
    routes.get("/v1/datasets/{dataset}/conflicts", this::conflicts);
    routes.get("/v1/datasets", this::datasets);
    routes.get("/v1/status", this::status);
  }

  // ---------------------------------------------------------------- sync

  private void push(Context ctx) {
    Caller caller = auth.caller(ctx);
    String dataset = DatasetNames.check(ctx.pathParam("dataset"));
    caller.requireDataset(dataset, Role.WRITE);
    PushRequest body = PushBodies.read(ctx.bodyInputStream(), ctx.header("Content-Encoding"),
        ctx.header(Wire.CHECKSUM_HEADER), ctx.req().getContentLengthLong(), config.maxRequestBytes(), config.maxBatchChanges());
    if (body.dataset() != null && !body.dataset().equals(dataset)) {
      throw new ProtocolException("dataset_mismatch",
          "body names dataset '" + body.dataset() + "' but the URL names '" + dataset + "'");
    }
    caller.requireDevice(body.device());
    PushRequest request = new PushRequest(dataset, body.device(), body.batch(), body.schema(), body.changes());
    DatasetId id = caller.dataset(dataset);
    DatasetStore store = storage.find(id).orElseGet(() -> {
      if (!caller.mayCreate(dataset)) {
        throw new DatasetNotFoundException(dataset);
      }
      return storage.openOrCreate(id);
    });
    PushResult result = store.push(request);
    CrashPoints.hit(CrashPoints.SERVER_PUSH_COMMITTED);
    Json.send(ctx, Wire.writePushResult(result));
  }

  private void pull(Context ctx) {
    Caller caller = auth.caller(ctx);
    String dataset = DatasetNames.check(ctx.pathParam("dataset"));
    caller.requireDataset(dataset, Role.READ);
    String device = ctx.queryParam("device");
    if (device == null || device.isEmpty()) {
      throw new ProtocolException("missing_device", "query parameter 'device' is required");
    }
    if (device.length() > MAX_DEVICE_LENGTH) {
      throw new ProtocolException("bad_device", "device id must be 1.." + MAX_DEVICE_LENGTH + " characters");
    }
    caller.requireDevice(device);
    int limit = limit(ctx, config.defaultPullLimit());
    String cursor = ctx.queryParam("cursor");
    if (cursor != null && cursor.isEmpty()) {
      cursor = null; // "cursor=" is the same as no cursor: bootstrap
    }
    PullPage page = existing(caller.dataset(dataset)).pull(cursor, limit, device);
    Json.send(ctx, Wire.writePull(page));
  }

  // ---------------------------------------------------------------- discovery and status

  private void datasets(Context ctx) {
    Caller caller = auth.caller(ctx);
    Json.send(ctx, Json.write(g -> {
      g.writeStartObject();
      g.writeArrayFieldStart("datasets");
      for (DatasetId id : visible(caller)) {
        String name = id.name();
        Optional<DatasetStore> store = storage.find(id);
        if (store.isEmpty()) {
          continue; // dropped since it was listed
        }
        DatasetStatus status = store.get().status();
        g.writeStartObject();
        g.writeStringField("name", name);
        g.writeArrayFieldStart("tables");
        // Schema order (parents first), then any table only the row counts know of.
        Set<String> tables = new LinkedHashSet<>();
        for (TableSchema t : store.get().schema()) {
          tables.add(t.name());
        }
        tables.addAll(new TreeMap<>(status.rows()).keySet());
        for (String t : tables) {
          g.writeStartObject();
          g.writeStringField("name", t);
          g.writeNumberField("rows", status.rows().getOrDefault(t, 0L));
          g.writeEndObject();
        }
        g.writeEndArray();
        g.writeNumberField("version", status.version());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    }));
  }

  private void status(Context ctx) {
    Caller caller = auth.caller(ctx);
    Json.send(ctx, Json.write(g -> {
      g.writeStartObject();
      g.writeStringField("server", "tidesync");
      g.writeStringField("version", SERVER_VERSION);
      g.writeArrayFieldStart("datasets");
      for (DatasetId id : visible(caller)) {
        Optional<DatasetStore> store = storage.find(id);
        if (store.isPresent()) {
          writeStatus(g, store.get().status());
        }
      }
      g.writeEndArray();
      g.writeEndObject();
    }));
  }

  private static void writeStatus(JsonGenerator g, DatasetStatus s) throws IOException {
    g.writeStartObject();
    g.writeStringField("name", s.name());
    g.writeNumberField("version", s.version());
    g.writeNumberField("conflicts", s.conflicts());
    g.writeObjectFieldStart("rows");
    for (Map.Entry<String, Long> e : new TreeMap<>(s.rows()).entrySet()) {
      g.writeNumberField(e.getKey(), e.getValue());
    }
    g.writeEndObject();
    g.writeArrayFieldStart("devices");
    for (DeviceStatus d : s.devices()) {
      g.writeStartObject();
      g.writeStringField("device", d.device());
      g.writeNumberField("lastPush", d.lastPush());
      g.writeNumberField("lastPull", d.lastPull());
      g.writeNumberField("pushes", d.pushes());
      g.writeNumberField("pulls", d.pulls());
      g.writeNumberField("changes", d.changes());
      g.writeEndObject();
    }
    g.writeEndArray();
    g.writeEndObject();
  }

  private void conflicts(Context ctx) {
    Caller caller = auth.caller(ctx);
    String dataset = DatasetNames.check(ctx.pathParam("dataset"));
    caller.requireDataset(dataset, Role.ADMIN);
    long after = 0;
    String a = ctx.queryParam("after");
    if (a != null && !a.isEmpty()) {
      try {
        after = Long.parseLong(a);
      } catch (NumberFormatException e) {
        after = -1;
      }
      if (after < 0) {
        throw new ProtocolException("bad_after", "'after' must be a conflict id (an integer >= 0), got '" + a + "'");
      }
    }
    int limit = limit(ctx, Math.min(DEFAULT_CONFLICT_LIMIT, config.maxPullLimit()));
    var records = existing(caller.dataset(dataset)).conflicts(after, limit);
    Json.send(ctx, Json.write(g -> {
      g.writeStartObject();
      g.writeArrayFieldStart("conflicts");
      for (ConflictRecord c : records) {
        g.writeStartObject();
        g.writeNumberField("id", c.id());
        g.writeStringField("table", c.table());
        g.writeStringField("pk", c.pk());
        g.writeStringField("policy", c.policy());
        g.writeStringField("outcome", c.outcome());
        g.writeStringField("device", c.device());
        g.writeNumberField("at", c.at());
        g.writeNumberField("baseVersion", c.baseVersion());
        g.writeNumberField("storedVersion", c.storedVersion());
        // The row images are JSON already (protocol v1 values): embed, do not quote.
        raw(g, "stored", c.stored());
        raw(g, "incoming", c.incoming());
        raw(g, "result", c.result());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    }));
  }

  private static void raw(JsonGenerator g, String field, String json) throws IOException {
    g.writeFieldName(field);
    if (json == null || json.isEmpty()) {
      g.writeNull();
    } else {
      g.writeRawValue(json);
    }
  }

  // ---------------------------------------------------------------- helpers

  private DatasetStore existing(DatasetId id) {
    // The message names the dataset as the caller wrote it, never its tenant.
    return storage.find(id).orElseThrow(() -> new DatasetNotFoundException(id.name()));
  }

  /** The caller's tenant's datasets that its token grants; nothing of another tenant is ever listed. */
  private List<DatasetId> visible(Caller caller) {
    return storage.datasets(caller.tenant()).stream().filter(d -> d.tenant().equals(caller.tenant()) && caller.grants(d.name())).toList();
  }

  /** The {@code limit} query parameter: 1..maxPullLimit, {@code fallback} when absent. */
  private int limit(Context ctx, int fallback) {
    String s = ctx.queryParam("limit");
    if (s == null || s.isEmpty()) {
      return fallback;
    }
    int n;
    try {
      n = Integer.parseInt(s);
    } catch (NumberFormatException e) {
      n = -1;
    }
    if (n < 1 || n > config.maxPullLimit()) {
      throw new ProtocolException("bad_limit", "'limit' must be an integer 1.." + config.maxPullLimit() + ", got '" + s + "'");
    }
    return n;
  }
}
