import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.pg.PgStorage;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.TableSchema;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The PostgreSQL store's cost of one pull, without HTTP: N delta pulls by one device with the
 * cursor at the head (an empty page each), straight on {@code PgStorage}, after 200 unmeasured
 * ones; prints the median and the device's pull count from status (which must be N + 201).
 * In a fresh database of its own on $TIDESYNC_BENCH_PG_URL (default: the local PostgreSQL), dropped
 * at the end. Run with the bench jar on the class path (see BENCHMARKS.md, PostgreSQL storage):
 *
 * <pre>java -cp tidesync-bench/target/tidesync-bench.jar tidesync-bench/scripts/PgPullLoop.java 3000</pre>
 */
public class PgPullLoop {
  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 3000;
    String admin = System.getenv().getOrDefault("TIDESYNC_BENCH_PG_URL", "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");
    String db = "tidesync_pullloop_" + ProcessHandle.current().pid();
    try (Connection c = DriverManager.getConnection(admin); Statement s = c.createStatement()) {
      s.execute("CREATE DATABASE " + db);
    }
    String url = admin.replaceFirst("(jdbc:postgresql://[^/]+/)[^?]*", "$1" + db);
    try (PgStorage storage = PgStorage.open(url)) {
      DatasetStore ds = storage.openOrCreate(DatasetId.of("d"));
      TableSchema t = new TableSchema("items", List.of(new ColumnSchema("id", "TEXT", true, null), new ColumnSchema("n", "INTEGER", false, null)),
          List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
      List<Change> changes = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        changes.add(new Change("items", List.of("r" + i), false, Map.of("id", "r" + i, "n", (long) i),
            new Hlc(System.currentTimeMillis(), 0, "w").toString(), null, 0, 0));
      }
      ds.push(new PushRequest("d", "writer", "b1", List.of(t), changes));
      String cursor = ds.pull(null, 1000, "reader").cursor();
      double[] ms = new double[n];
      for (int i = -200; i < n; i++) {
        long t0 = System.nanoTime();
        ds.pull(cursor, 1000, "reader");
        if (i >= 0) {
          ms[i] = (System.nanoTime() - t0) / 1e6;
        }
      }
      Arrays.sort(ms);
      long counted = ds.status().devices().stream().filter(d -> d.device().equals("reader")).findFirst().orElseThrow().pulls();
      System.out.printf(Locale.ROOT, "%d pulls: median %.3f ms, p10 %.3f ms, p90 %.3f ms; status counts %d pulls (expected %d)%n",
          n, ms[n / 2], ms[n / 10], ms[n * 9 / 10], counted, n + 201);
    } finally {
      try (Connection c = DriverManager.getConnection(admin); Statement s = c.createStatement()) {
        s.execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
      }
    }
  }
}
