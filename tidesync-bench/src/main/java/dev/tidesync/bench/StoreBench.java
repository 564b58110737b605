package dev.tidesync.bench;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.HlcClock;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.WallClock;
import dev.tidesync.sqlite.DeviceReplica;
import dev.tidesync.sqlite.SqliteStorage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

/**
 * The server store alone: {@code DatasetStore.push} of batches of new readings, already decoded,
 * with no HTTP, JSON or device, against a raw batched insert of rows of the same shape in the same
 * run. Shows how much of an end-to-end push the store's own work is.
 *
 * <pre>java -cp tidesync-bench/target/tidesync-bench.jar dev.tidesync.bench.StoreBench [rows] [batch] [reps]</pre>
 */
public final class StoreBench {
  private StoreBench() {}

  public static void main(String[] args) throws Exception {
    int rows;
    int batch;
    int reps;
    try {
      if (args.length > 3 || (args.length > 0 && args[0].startsWith("-"))) {
        throw new NumberFormatException();
      }
      rows = args.length > 0 ? Integer.parseInt(args[0]) : 100_000;
      batch = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
      reps = args.length > 2 ? Integer.parseInt(args[2]) : 5;
      if (rows < 1 || batch < 1 || reps < 1) {
        throw new NumberFormatException();
      }
    } catch (NumberFormatException e) {
      System.err.println("usage: ./bench store [ROWS (default 100000) [BATCH (default 1000) [REPS (default 5)]]], all positive integers");
      System.exit(2);
      return;
    }
    Path root = Files.createTempDirectory("tidesync-storebench");
    try {
      Path dev = root.resolve("schema.db");
      Data.createSchema(dev);
      List<TableSchema> schema;
      try (DeviceReplica r = DeviceReplica.open(dev, DeviceReplica.Options.defaults().withDevice("bench"))) {
        schema = r.tables();
      }
      List<Double> ratios = new ArrayList<>();
      List<Double> stores = new ArrayList<>();
      List<Double> cpus = new ArrayList<>();
      for (int rep = -1; rep < reps; rep++) {
        List<PushRequest> batches = batches(schema, rows, batch, 42 + rep);
        Path raw = root.resolve("raw" + rep + ".db");
        Data.createSchema(raw);
        double rawS = Data.insert(raw, rows, 100, 42 + rep) / 1e9;
        Data.deleteDb(raw);
        double storeS;
        double cpuS;
        try (SqliteStorage storage = SqliteStorage.open(root.resolve("server" + rep))) {
          DatasetStore store = storage.openOrCreate(DatasetId.of("bench"));
          java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
          long c0 = mx.getCurrentThreadCpuTime();
          long t0 = System.nanoTime();
          for (PushRequest req : batches) {
            store.push(req);
          }
          storeS = (System.nanoTime() - t0) / 1e9;
          cpuS = (mx.getCurrentThreadCpuTime() - c0) / 1e9;
        }
        if (rep >= 0) {
          ratios.add(storeS / rawS);
          stores.add(storeS);
          cpus.add(cpuS);
        }
        System.out.printf(Locale.ROOT, "%s store %.3f s, raw %.3f s, ratio %.2f×%n", rep < 0 ? "warm-up" : "rep " + rep, storeS, rawS,
            storeS / rawS);
      }
      ratios.sort(null);
      stores.sort(null);
      cpus.sort(null);
      System.out.printf(Locale.ROOT, "median store ÷ raw: %.2f×, median store %.3f s, fastest %.3f s, median thread CPU %.3f s (%d rows in batches of %d)%n",
          ratios.get(ratios.size() / 2), stores.get(stores.size() / 2), stores.get(0), cpus.get(cpus.size() / 2), rows, batch);
    } finally {
      BenchSupport.deleteTree(root);
    }
  }

  /** Sessions, then readings in key order (as a device's scan sends them), in batches. */
  private static List<PushRequest> batches(List<TableSchema> schema, int rows, int batch, long seed) {
    Random r = new Random(seed);
    HlcClock clock = new HlcClock("bench-device", WallClock.SYSTEM, 0, null);
    List<Change> sessions = new ArrayList<>();
    List<String> sessionIds = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      String id = new UUID(r.nextLong(), r.nextLong()).toString();
      sessionIds.add(id);
      Map<String, Object> cols = new LinkedHashMap<>();
      cols.put("name", "Session " + i);
      cols.put("started_at", 1_700_000_000_000L + i * 3_600_000L);
      sessions.add(new Change("sessions", List.of(id), false, cols, clock.tick().toString(), null, 0, 0));
    }
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < rows; i++) {
      ids.add(new UUID(r.nextLong(), r.nextLong()).toString());
    }
    ids.sort(null);
    List<Change> readings = new ArrayList<>();
    String hlc = clock.tick().toString();
    for (String id : ids) {
      Map<String, Object> cols = new LinkedHashMap<>();
      cols.put("session_id", sessionIds.get(r.nextInt(sessionIds.size())));
      cols.put("at", 1_700_000_000_000L + r.nextInt(1_000_000_000));
      cols.put("a", 20 + r.nextGaussian() * 5);
      cols.put("b", r.nextDouble() * 100);
      cols.put("c", (long) r.nextInt(1000));
      cols.put("note", "x".repeat(90 + r.nextInt(21)));
      readings.add(new Change("readings", List.of(id), false, cols, hlc, null, 0, 0));
    }
    List<PushRequest> out = new ArrayList<>();
    out.add(new PushRequest("bench", "bench-device", UUID.randomUUID().toString(), schema, sessions));
    for (int i = 0; i < readings.size(); i += batch) {
      out.add(new PushRequest("bench", "bench-device", UUID.randomUUID().toString(), schema,
          readings.subList(i, Math.min(readings.size(), i + batch))));
    }
    return out;
  }
}
