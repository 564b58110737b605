package dev.tidesync.it.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.it.ServerStores;
import dev.tidesync.it.auth.Api;
import dev.tidesync.server.Role;
import dev.tidesync.server.Tokens;
import java.time.Duration;
import dev.tidesync.pg.PgTestDatabase;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@code tidesync} command line as a user runs it: each command is a separate JVM
 * ({@code java -cp <test class path> dev.tidesync.cli.Main ...}), judged by exit code and output.
 * The server-side scenarios run once per storage: a data directory ({@code --data}) and a fresh
 * PostgreSQL database of their own ({@code --pg}).
 */
class CliEndToEndTest {
  private static final Pattern LISTENING = Pattern.compile("Tidesync server listening on (http://\\S+) \\(data: (.+)\\)");

  @TempDir Path dir;

  private Process server;
  private Store store;

  /**
   * Where the server and the operator commands keep the datasets: a directory of SQLite files, or
   * a PostgreSQL database created for the test (dropped afterwards). Read back as a backend would.
   */
  private final class Store implements AutoCloseable {
    private final Path data;
    private final PgTestDatabase pg;

    Store(String kind, String name) {
      this.data = dir.resolve(name);
      this.pg = kind.equals("pg") ? PgTestDatabase.create() : null;
    }

    /** The command line with this storage's option appended: {@code --data DIR} or {@code --pg URL}. */
    String[] with(String... args) {
      List<String> all = new ArrayList<>(List.of(args));
      all.addAll(pg == null ? List.of("--data", data.toString()) : List.of("--pg", pg.url()));
      return all.toArray(String[]::new);
    }

    /** Every row of a dataset's table, ordered by its first column, as "a|b|c". */
    List<String> rows(String tenant, String dataset, String table) throws Exception {
      if (pg == null) {
        return dev.tidesync.it.replica.Db.rows(file(tenant, dataset), "SELECT * FROM " + table + " ORDER BY 1");
      }
      try (Connection c = pg.connect()) {
        return ServerStores.rows(c, "SELECT * FROM " + schema(c, tenant, dataset) + "." + table + " ORDER BY 1");
      }
    }

    boolean tableExists(String tenant, String dataset, String table) throws Exception {
      if (pg == null) {
        return dev.tidesync.it.replica.Db.tableExists(file(tenant, dataset), table);
      }
      try (Connection c = pg.connect()) {
        return !ServerStores.rows(c, "SELECT 1 FROM information_schema.tables WHERE table_schema = '" + schema(c, tenant, dataset)
            + "' AND table_name = '" + table + "'").isEmpty();
      }
    }

    private Path file(String tenant, String dataset) {
      return data.resolve(tenant).resolve(dataset + ".db");
    }

    /** The dataset's schema, from the catalog every server process shares (README, PostgreSQL storage). */
    private String schema(Connection c, String tenant, String dataset) throws Exception {
      List<String> s = ServerStores.rows(c, "SELECT schema_name FROM tidesync.datasets WHERE tenant = '" + tenant + "' AND name = '" + dataset + "'");
      assertThat(s).as("dataset %s of tenant %s in the catalog", dataset, tenant).hasSize(1);
      return s.get(0);
    }

    @Override
    public void close() {
      if (pg != null) {
        pg.close();
      }
    }
  }

  /** What a finished command printed, and its exit code. */
  record Run(int exit, String out, String err) {
    @Override
    public String toString() {
      return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
  }

  @AfterEach
  void killServer() throws Exception {
    if (server != null && server.isAlive()) {
      server.destroyForcibly();
      server.waitFor(10, TimeUnit.SECONDS);
    }
    if (store != null) {
      store.close();
    }
  }

  @ParameterizedTest(name = "[{0}]")
  @ValueSource(strings = {"sqlite", "pg"})
  @Timeout(value = 180, unit = TimeUnit.SECONDS)
  void serverSyncStatusConflictsThroughTheRealExecutable(String storage) throws Exception {
    store = new Store(storage, "server-data");
    server = start(store.with("server", "--port", "0"));
    String url = awaitUrl(server);
    BlockingQueue<String> serverOutput = serverDone;

    // Operator commands on the storage of the running server: a dataset from a schema file, tokens.
    Path schema = dir.resolve("schema.sql");
    java.nio.file.Files.writeString(schema, "CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT, body TEXT);");
    Run created = run(store.with("dataset", "create", "--tenant", "acme", "--dataset", "notes", "--schema", schema.toString()));
    assertThat(created.exit()).as("%s", created).isZero();
    assertThat(created.out()).contains("created dataset notes of tenant acme with tables notes");
    Run listed = run(store.with("dataset", "list", "--tenant", "acme"));
    assertThat(listed.out()).as("%s", listed).containsPattern("acme\\s+notes").contains("1 dataset(s)");
    String laptop = token(store, "acme", "notes", "laptop", "write");
    String phone = token(store, "acme", "notes", "phone", "write");
    String ops = token(store, "acme", "*", "ops", "admin");

    Path a = dir.resolve("a.db");
    Path b = dir.resolve("b.db");
    sql(a, "CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT, body TEXT)",
        "INSERT INTO notes VALUES ('n1', 'hello', 'from a')",
        "INSERT INTO notes VALUES ('n2', 'second', 'from a')",
        "CREATE TABLE scratch (line TEXT)"); // no primary key: reported, not synced
    sql(b, "CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT, body TEXT)",
        "INSERT INTO notes VALUES ('n3', 'third', 'from b')");

    Run noToken = run("sync", "--db", a.toString(), "--server", url, "--dataset", "notes", "--device", "laptop");
    assertThat(noToken.exit()).as("%s", noToken).isEqualTo(1);
    assertThat(noToken.err()).contains("401").contains("token_missing");
    Run otherDevice = run("sync", "--db", a.toString(), "--server", url, "--dataset", "notes", "--device", "phone", "--token", laptop);
    assertThat(otherDevice.exit()).as("a token acts only for its own device: %s", otherDevice).isEqualTo(1);
    assertThat(otherDevice.err()).contains("403");

    Run syncA = run("sync", "--db", a.toString(), "--server", url, "--dataset", "notes", "--device", "laptop", "--token", laptop,
        "--batch-bytes", "64KiB");
    assertThat(syncA.exit()).as("%s", syncA).isZero();
    assertThat(syncA.out()).contains("synced laptop with dataset notes: pushed 2");
    assertThat(syncA.err()).contains("scratch").contains("no primary key");

    // No --device: the token's device.
    Run syncB = run("sync", "--db", b.toString(), "--server", url, "--dataset", "notes", "--token", phone);
    assertThat(syncB.exit()).as("%s", syncB).isZero();
    assertThat(syncB.out()).contains("synced phone with dataset notes: pushed 1").contains("(bootstrap)");
    assertThat(rows(b, "notes")).hasSize(3);

    Run again = run("sync", "--db", a.toString(), "--server", url, "--dataset", "notes", "--token", laptop);
    assertThat(again.exit()).as("%s", again).isZero();
    assertThat(rows(a, "notes")).hasSize(3).isEqualTo(rows(b, "notes"));

    // Offline edits of the same row on both sides, different columns: field-merge keeps both.
    sql(a, "UPDATE notes SET title = 'hello world' WHERE id = 'n1'");
    sql(b, "UPDATE notes SET body = 'edited on the phone' WHERE id = 'n1'");
    for (Path db : List.of(a, b, a)) {
      Run r = run("sync", "--db", db.toString(), "--server", url, "--dataset", "notes", "--token", db.equals(a) ? laptop : phone);
      assertThat(r.exit()).as("%s", r).isZero();
    }
    assertThat(rows(a, "notes")).isEqualTo(rows(b, "notes")).contains("n1|hello world|edited on the phone");

    Run status = run("status", "--db", a.toString());
    assertThat(status.exit()).as("%s", status).isZero();
    assertThat(status.out()).containsPattern("device:\\s+laptop").containsPattern("pending:\\s+0\\b")
        .containsPattern("tables:\\s+notes").contains("scratch");

    Run serverStatus = run("status", "--server", url, "--token", ops);
    assertThat(serverStatus.exit()).as("%s", serverStatus).isZero();
    assertThat(serverStatus.out()).contains("dataset notes").contains("laptop").contains("phone");

    Run writerConflicts = run("conflicts", "--server", url, "--dataset", "notes", "--token", phone);
    assertThat(writerConflicts.exit()).as("the conflict log needs an admin token: %s", writerConflicts).isEqualTo(1);
    assertThat(writerConflicts.err()).contains("403");
    Run conflicts = run("conflicts", "--server", url, "--dataset", "notes", "--token", ops);
    assertThat(conflicts.exit()).as("%s", conflicts).isZero();
    assertThat(conflicts.out()).contains("notes n1").contains("field-merge").contains("device phone")
        .contains("incoming: body='edited on the phone'").contains("1 conflict(s)");

    // `conflicts --data|--pg` reads the server's storage itself, the server running or not: the
    // same log as over HTTP (relative times aside).
    Run fromStorage = run(store.with("conflicts", "--tenant", "acme", "--dataset", "notes"));
    assertThat(fromStorage.exit()).as("%s", fromStorage).isZero();
    assertThat(withoutAgo(fromStorage.out())).isEqualTo(withoutAgo(conflicts.out()));
    assertThat(store.rows("acme", "notes", "_tidesync_conflicts")).as("the server's conflict log, read as a backend would").hasSize(1);

    // Revocation reaches the running server on the device's next request; a newer token works again.
    Run revoked = run(store.with("device", "revoke", "--tenant", "acme", "--device", "phone"));
    assertThat(revoked.exit()).as("%s", revoked).isZero();
    Run refused = run("sync", "--db", b.toString(), "--server", url, "--dataset", "notes", "--token", phone);
    assertThat(refused.exit()).as("%s", refused).isEqualTo(1);
    assertThat(refused.err()).contains("token_revoked");
    phone = token(store, "acme", "notes", "phone", "write");
    Run readmitted = run("sync", "--db", b.toString(), "--server", url, "--dataset", "notes", "--token", phone);
    assertThat(readmitted.exit()).as("%s", readmitted).isZero();

    // --watch: a local write reaches the server without another command; SIGTERM stops it cleanly.
    Process watch = start("sync", "--db", b.toString(), "--server", url, "--dataset", "notes", "--watch", "--interval", "1s", "--token", phone);
    BlockingQueue<String> watchOut = drain(watch.getInputStream());
    BlockingQueue<String> watchErr = drain(watch.getErrorStream());
    sql(b, "INSERT INTO notes VALUES ('n9', 'written while watching', 'from b')");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!store.rows("acme", "notes", "notes").contains("n9|written while watching|from b") && System.nanoTime() < deadline) {
      Thread.sleep(200);
    }
    assertThat(store.rows("acme", "notes", "notes")).contains("n9|written while watching|from b");
    sigterm(watch);
    assertThat(watch.waitFor(10, TimeUnit.SECONDS)).as("sync --watch exits within 10 s of SIGTERM").isTrue();
    String watched = watchOut.take();
    String watchedErr = watchErr.take();
    assertThat(watched).as("exit %d, stdout:%n%s%nstderr:%n%s", watch.exitValue(), watched, watchedErr)
        .contains("watching " + b).contains("pushed 1 ")
        .contains("stopped watching");

    // SIGTERM: the shutdown hook closes the server and its storage, and the JVM ends promptly.
    sigterm(server);
    assertThat(server.waitFor(10, TimeUnit.SECONDS)).as("server exits within 10 s of SIGTERM").isTrue();
    serverOutput.poll(10, TimeUnit.SECONDS); // the drain thread ends at end of stream
    assertThat(String.join("\n", serverLines)).contains("Tidesync server stopped");
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void failuresAreOneLineWithExitCodes() throws Exception {
    Path db = dir.resolve("c.db");
    sql(db, "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES ('x', 'y')");

    // Nothing listens on the port: a sync failure, exit 1, one line with the reason.
    Run refused = run("sync", "--db", db.toString(), "--server", "http://127.0.0.1:" + freePort(), "--dataset", "d");
    assertThat(refused.exit()).as("%s", refused).isEqualTo(1);
    assertThat(refused.out()).isEmpty();
    assertThat(refused.err().lines().toList()).as("%s", refused).hasSize(1);
    assertThat(refused.err()).startsWith("tidesync: ").contains("cannot reach the server").contains("connection refused");

    Run missingFile = run("sync", "--db", dir.resolve("nope.db").toString(), "--server", "http://127.0.0.1:1", "--dataset", "d");
    assertThat(missingFile.exit()).isEqualTo(1);
    assertThat(missingFile.err().lines().toList()).containsExactly("tidesync: no such database file: " + dir.resolve("nope.db"));

    // Usage errors: exit 2, one line.
    Run usage = run("sync", "--db", db.toString());
    assertThat(usage.exit()).isEqualTo(2);
    assertThat(usage.err().lines().toList()).hasSize(1);
    assertThat(usage.err()).startsWith("tidesync: Missing required options");

    Run badDataset = run("sync", "--db", db.toString(), "--server", "http://127.0.0.1:1", "--dataset", "Not Valid");
    assertThat(badDataset.exit()).isEqualTo(2);
    assertThat(badDataset.err()).contains("dataset name must match");

    Run tinyBatch = run("sync", "--db", db.toString(), "--server", "http://127.0.0.1:1", "--dataset", "d", "--batch-bytes", "1k");
    assertThat(tinyBatch.exit()).as("%s", tinyBatch).isEqualTo(2);
    assertThat(tinyBatch.err().lines().toList()).singleElement().asString()
        .contains("'--batch-bytes': must be 16 KiB..256 MiB, got 1 KiB");
    Run notASize = run("sync", "--db", db.toString(), "--server", "http://127.0.0.1:1", "--dataset", "d", "--batch-bytes", "8x");
    assertThat(notASize.exit()).as("%s", notASize).isEqualTo(2);
    assertThat(notASize.err()).contains("'8x' is not a size");

    Run pg = run("server", "--pg", "jdbc:postgresql://127.0.0.1:1/tidesync");
    assertThat(pg.exit()).isNotZero();
    assertThat(pg.err().lines().toList()).singleElement().asString().contains("cannot open PostgreSQL storage");
    Run notPg = run("server", "--pg", "postgres://127.0.0.1/tidesync");
    assertThat(notPg.exit()).isNotZero();
    assertThat(notPg.err()).contains("not a PostgreSQL JDBC URL");

    Run badRole = run("token", "create", "--data", dir.resolve("d").toString(), "--tenant", "t", "--dataset", "d", "--device", "x",
        "--role", "root");
    assertThat(badRole.exit()).as("%s", badRole).isEqualTo(2);
    assertThat(badRole.err()).contains("role must be read, write or admin");

    Run version = run("--version");
    assertThat(version.exit()).isZero();
    assertThat(version.out()).startsWith("tidesync ");
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void demoConvergesAndSaysSo() throws Exception {
    Run demo = run("demo", "--devices", "3");
    assertThat(demo.exit()).as("%s", demo).isZero();
    assertThat(demo.out()).contains("replicas identical: yes").contains("conflict(s)")
        .contains("different columns: field-merge kept both edits");
    assertThat(demo.err()).as("%s", demo).isEmpty();
  }

  @ParameterizedTest(name = "[{0}]")
  @ValueSource(strings = {"sqlite", "pg"})
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void datasetCommandsWithoutAServer(String storage) throws Exception {
    store = new Store(storage, "ops-data");
    Path json = dir.resolve("schema.json");
    java.nio.file.Files.writeString(json, "[{\"name\":\"forms\",\"policy\":\"last-write-wins\",\"columns\":[{\"name\":\"id\",\"type\":\"TEXT\","
        + "\"notNull\":true}],\"primaryKey\":[\"id\"],\"foreignKeys\":[]}]");
    assertThat(run(store.with("dataset", "create", "--tenant", "acme", "--dataset", "forms", "--schema", json.toString())).out())
        .contains("created dataset forms of tenant acme with tables forms");
    assertThat(run(store.with("dataset", "create", "--tenant", "zeta", "--dataset", "forms")).out())
        .contains("created dataset forms of tenant zeta (no tables yet");
    Run again = run(store.with("dataset", "create", "--tenant", "acme", "--dataset", "forms"));
    assertThat(again.exit()).isEqualTo(1);
    assertThat(again.err()).contains("already exists");
    assertThat(store.tableExists("acme", "forms", "forms")).isTrue();

    Path evil = dir.resolve("evil.sql");
    java.nio.file.Files.writeString(evil, "CREATE TABLE \"x\"\"; DROP TABLE t; --\" (id TEXT PRIMARY KEY);");
    Run refused = run(store.with("dataset", "create", "--tenant", "acme", "--dataset", "evil", "--schema", evil.toString()));
    assertThat(refused.exit()).as("%s", refused).isEqualTo(1);
    assertThat(refused.err()).contains("DROP TABLE t").contains("names use letters");

    Run all = run(store.with("dataset", "list"));
    assertThat(all.out()).containsPattern("acme\\s+forms").containsPattern("zeta\\s+forms").contains("2 dataset(s)");
    assertThat(run(store.with("dataset", "drop", "--tenant", "zeta", "--dataset", "forms")).out()).contains("dropped dataset forms of tenant zeta");
    Run dropAgain = run(store.with("dataset", "drop", "--tenant", "zeta", "--dataset", "forms"));
    assertThat(dropAgain.exit()).isEqualTo(1);
    assertThat(dropAgain.err()).contains("no dataset forms in tenant zeta");
    assertThat(run(store.with("dataset", "list", "--tenant", "acme")).out()).containsPattern("acme\\s+forms").contains("1 dataset(s)");
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void insecureServerSaysSoOnStderr() throws Exception {
    server = start("server", "--data", dir.resolve("insecure-data").toString(), "--port", "0", "--insecure");
    String url = awaitUrl(server);
    Path db = dir.resolve("i.db");
    sql(db, "CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES ('x', 'y')");
    Run sync = run("sync", "--db", db.toString(), "--server", url, "--dataset", "d");
    assertThat(sync.exit()).as("no token needed: %s", sync).isZero();
    sigterm(server);
    assertThat(server.waitFor(10, TimeUnit.SECONDS)).isTrue();
    String err = serverErr.poll(10, TimeUnit.SECONDS);
    assertThat(err).contains("WARNING: AUTH IS OFF (--insecure)");
    assertThat(String.join("\n", serverLines)).contains("INSECURE: no auth");
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void rateLimitsSetOnTheCommandLineAnswer429WithRetryAfter() throws Exception {
    RatedServer limited = startServerWithRates("1:3", "1:5");
    Api api = limited.api();
    String noisy = limited.token("noisy");
    String quiet = limited.token("quiet");

    // The device's burst of 3 (one more if a second passed meanwhile), then 429 for the device.
    int noisyPassed = api.untilLimited(noisy, 20);
    assertThat(noisyPassed).isBetween(3, 4);
    Api.Answer overDevice = api.get("/v1/datasets", noisy);
    assertThat(overDevice.status()).isEqualTo(429);
    assertThat(overDevice.retryAfter()).as("at 1 request/s the next token comes within a second").isEqualTo("1");
    assertThat(overDevice.body()).contains("too many requests for this device");
    // Other devices of the tenant have buckets of their own but share the tenant's 5 (a refused
    // request takes none): one more device uses up what is left, and a third one, its own bucket
    // full, is refused for the tenant (its device bucket could bind only after 3 s of refills).
    assertThat(api.untilLimited(quiet, 20)).isPositive();
    String third = limited.token("third");
    assertThat(api.untilLimited(third, 20)).isLessThan(3);
    Api.Answer overTenant = api.get("/v1/datasets", third);
    assertThat(overTenant.status()).isEqualTo(429);
    assertThat(overTenant.retryAfter()).isEqualTo("1");
    assertThat(overTenant.body()).contains("too many requests for this tenant");

    assertThat(stopServer()).as("-v logs the limits in force").contains("rate limits: per device 1/s (burst 3), per tenant 1/s (burst 5)");
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void rateLimitsCanBeTurnedOff() throws Exception {
    RatedServer unlimited = startServerWithRates("off", "off");
    // One device, as fast as it can, until it has sent more than the default device limit (100/s,
    // bursts of 200) would have let through in the time taken, by a margin: none is refused.
    String device = unlimited.token("busy");
    long start = System.nanoTime();
    int passed = 0;
    double allowedByDefault = 200;
    while (passed <= allowedByDefault + 50 && System.nanoTime() - start < TimeUnit.SECONDS.toNanos(60)) {
      Api.Answer r = unlimited.api().get("/v1/datasets", device);
      assertThat(r.status()).as("request %d: %s", passed + 1, r).isEqualTo(200);
      passed++;
      allowedByDefault = 200 + 100 * (System.nanoTime() - start) / 1e9;
    }
    assertThat((double) passed).as("requests sent, more than the default limit allows in %d ms", (System.nanoTime() - start) / 1_000_000)
        .isGreaterThan(allowedByDefault);
    assertThat(stopServer()).contains("rate limits: per device off, per tenant off");
  }

  // ------------------------------------------------------------------------------------ helpers

  /** A server process with rate limits, and the signing key it shares with this test. */
  private record RatedServer(Api api, Tokens tokens) {
    /** A read token of tenant acme for the device. */
    String token(String device) {
      return tokens.create("acme", List.of("*"), device, Role.READ, Duration.ofHours(1));
    }
  }

  /**
   * Starts {@code tidesync -v server --rate-device DEVICE --rate-tenant TENANT} with a key file
   * this test also reads, so that it mints tokens itself rather than start a JVM per token.
   */
  private RatedServer startServerWithRates(String device, String tenant) throws Exception {
    String key = Tokens.newKey();
    Path keyFile = dir.resolve("jwt.key");
    java.nio.file.Files.writeString(keyFile, key);
    server = start("-v", "server", "--data", dir.resolve("rated-data").toString(), "--port", "0", "--jwt-key", keyFile.toString(),
        "--rate-device", device, "--rate-tenant", tenant);
    return new RatedServer(new Api(awaitUrl(server)), Tokens.withKey(key));
  }

  /** SIGTERM to the server; returns what it printed on stderr once it has ended. */
  private String stopServer() throws Exception {
    sigterm(server);
    assertThat(server.waitFor(10, TimeUnit.SECONDS)).as("server exits within 10 s of SIGTERM").isTrue();
    return serverErr.poll(10, TimeUnit.SECONDS);
  }

  /** {@code tidesync token create ...}: the token is the last line of its output. */
  private static String token(Store store, String tenant, String dataset, String device, String role) throws Exception {
    Run r = run(store.with("token", "create", "--tenant", tenant, "--dataset", dataset, "--device", device, "--role", role,
        "--ttl", "1h"));
    assertThat(r.exit()).as("%s", r).isZero();
    List<String> lines = r.out().lines().toList();
    assertThat(lines.get(0)).contains("device " + device).contains("role " + role);
    return lines.get(lines.size() - 1);
  }

  private static ProcessBuilder command(String... args) {
    return new ProcessBuilder(dev.tidesync.it.CliProcess.command(args));
  }


  private static Process start(String... args) throws IOException {
    return command(args).start();
  }

  private static Run run(String... args) throws Exception {
    Process p = command(args).start();
    p.getOutputStream().close();
    // Drain both pipes concurrently so that neither fills up and blocks the child.
    var out = drain(p.getInputStream());
    var err = drain(p.getErrorStream());
    if (!p.waitFor(90, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("tidesync " + String.join(" ", args) + " did not finish within 90 s");
    }
    return new Run(p.exitValue(), out.take(), err.take());
  }

  private static BlockingQueue<String> drain(InputStream in) {
    BlockingQueue<String> result = new LinkedBlockingQueue<>();
    Thread t = new Thread(() -> {
      ByteArrayOutputStream buf = new ByteArrayOutputStream();
      try (in) {
        in.transferTo(buf);
      } catch (IOException e) {
        // the process ended
      }
      result.add(buf.toString(StandardCharsets.UTF_8));
    }, "drain");
    t.setDaemon(true);
    t.start();
    return result;
  }

  /** Every line the server printed to stdout so far. */
  private final List<String> serverLines = new java.util.concurrent.CopyOnWriteArrayList<>();
  /** Everything the server printed to stderr, once it has ended. */
  private BlockingQueue<String> serverErr;
  /** Gets an element when the server's stdout has ended. */
  private final BlockingQueue<String> serverDone = new LinkedBlockingQueue<>();

  /**
   * Sends SIGTERM, as {@code kill} would. Not {@link Process#destroy()}: that also closes our ends
   * of the child's pipes at once, so what it prints while shutting down would be lost.
   */
  private static void sigterm(Process p) {
    p.toHandle().destroy();
  }

  /** Reads the server's stdout until the "listening" line and returns its URL; keeps draining after. */
  private String awaitUrl(Process server) throws Exception {
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread t = new Thread(() -> {
      try (var r = server.inputReader(StandardCharsets.UTF_8)) {
        String line;
        while ((line = r.readLine()) != null) {
          lines.add(line);
          serverLines.add(line);
        }
      } catch (IOException e) {
        // the server ended
      }
      serverDone.add("end");
    }, "server-stdout");
    t.setDaemon(true);
    t.start();
    serverErr = drain(server.getErrorStream());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      String line = lines.poll(250, TimeUnit.MILLISECONDS);
      if (line != null) {
        Matcher m = LISTENING.matcher(line);
        if (m.find()) {
          return m.group(1);
        }
      }
      if (!server.isAlive() && lines.isEmpty()) {
        throw new AssertionError("the server exited with " + server.exitValue() + " before listening");
      }
    }
    throw new AssertionError("the server printed no 'listening' line within 60 s");
  }

  private static String withoutAgo(String s) {
    return s.replaceAll(" \\([^)]* ago\\)", "");
  }

  private static int freePort() throws IOException {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static void sql(Path db, String... statements) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db); Statement s = c.createStatement()) {
      s.execute("PRAGMA busy_timeout = 10000");
      for (String q : statements) {
        s.execute(q);
      }
    }
  }

  private static List<String> rows(Path db, String table) throws Exception {
    return dev.tidesync.it.replica.Db.rows(db, "SELECT * FROM " + table + " ORDER BY 1");
  }
}
