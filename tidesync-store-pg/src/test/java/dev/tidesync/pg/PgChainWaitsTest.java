package dev.tidesync.pg;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.DatasetId;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.tck.Differential;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The PostgreSQL store's retry passes skip, without a round trip, the attempts certain to fail a
 * table's key to itself again (ChainWaits, PgSelfKeys): a chain sent children first goes in
 * without trying every row left at every pass, and seeded random batches get the same answers,
 * rows and metadata with the skipping on and off, where the schema allows it and where a
 * backend's index or trigger turns it off. Replay with {@code -Dtidesync.seed=N}.
 */
class PgChainWaitsTest {
  private static final long START = System.currentTimeMillis() - 300_000;

  PgTestDatabase db;
  PgStorage storage;
  int datasets;

  @BeforeEach
  void setUp() {
    db = PgTestDatabase.create();
    // A frozen wall: the server's clock ticks alike in both datasets of a pair.
    storage = PgStorage.open(db.url(), () -> START, 600_000, 4);
  }

  @AfterEach
  void tearDown() {
    storage.close();
    db.close();
  }

  private static TableSchema n(String onDelete) {
    return new TableSchema("n", List.of(new ColumnSchema("id", "TEXT", true, null), new ColumnSchema("up", "TEXT", false, null),
        new ColumnSchema("v", "INTEGER", false, null)), List.of("id"), List.of(new ForeignKey(List.of("up"), "n", List.of("id"), onDelete)),
        ConflictPolicy.FIELD_MERGE);
  }

  /** A new dataset with table {@code t}, then {@code sql} run in its schema (a backend's changes). */
  private PgDatasetStore dataset(TableSchema t, String... sql) throws SQLException {
    DatasetId id = DatasetId.of("d" + (++datasets));
    PgDatasetStore s = (PgDatasetStore) storage.openOrCreate(id);
    s.push(new PushRequest(s.name(), "dev-a", UUID.randomUUID().toString(), List.of(t), List.of()));
    try (Connection c = db.connect(); Statement st = c.createStatement()) {
      st.execute("SET search_path TO " + s.schemaName());
      for (String q : sql) {
        st.execute(q);
      }
    }
    return s;
  }

  private static Change up(Object id, long millis, String device, Object... cols) {
    Map<String, Object> m = new HashMap<>();
    for (int i = 0; i < cols.length; i += 2) {
      m.put((String) cols[i], cols[i + 1]);
    }
    return new Change("n", List.of(id), false, m, new Hlc(millis, 0, device).toString(), null, 0, 0);
  }

  private static String answers(PgDatasetStore s, TableSchema t, String device, List<Change> batch) {
    try {
      return Differential.answers(s.push(new PushRequest(s.name(), device, UUID.randomUUID().toString(), List.of(t), batch)));
    } catch (RuntimeException e) {
      // Both datasets fail alike but name themselves.
      return (e.getClass().getName() + ": " + e.getMessage()).replace(s.schemaName(), "(schema)").replace(s.name(), "(dataset)");
    }
  }

  /**
   * The dataset's rows, metadata and server clock as text. Where a cascade deleted rows
   * ({@code cascades}), the clocks the server stamped are written as {@code (server)} (absorbing
   * a cascade's log ticks with PostgreSQL's own time), and those rows' versions are listed sorted
   * apart from them: PostgreSQL deletes a parent's children in the order it finds them in the
   * table's heap, where a failed attempt leaves a dead row version that a skipped one does not
   * (as VACUUM would change it too), so the tombstones of one cascade may take the same versions
   * in another order.
   */
  private String state(PgDatasetStore s, boolean cascades) throws SQLException {
    StringBuilder sb = new StringBuilder();
    List<Long> cascaded = new ArrayList<>();
    try (Connection c = db.connect(); Statement st = c.createStatement()) {
      for (String q : List.of("SELECT id, up, v FROM " + s.schemaName() + ".n ORDER BY id",
          "SELECT tbl, pk, ver, live, dead, clocks, tomb FROM " + s.schemaName() + "._tidesync_rows ORDER BY tbl, pk",
          "SELECT k, v FROM " + s.schemaName() + "._tidesync_meta WHERE k = 'hlc'")) {
        try (ResultSet rs = st.executeQuery(q)) {
          while (rs.next()) {
            boolean byCascade = cascades && rs.getMetaData().getColumnCount() == 7 && rs.getString(5) != null && rs.getString(5).endsWith(".server");
            if (byCascade) {
              cascaded.add(rs.getLong(3));
            }
            for (int k = 1; k <= rs.getMetaData().getColumnCount(); k++) {
              sb.append(byCascade && k == 3 ? "(cascade)" : rs.getString(k)).append('|');
            }
            sb.append('\n');
          }
        }
      }
    }
    java.util.Collections.sort(cascaded);
    sb.append("versions of rows a cascade deleted: ").append(cascaded);
    return cascades ? sb.toString().replaceAll("\\d{16}\\.\\d{5}\\.server", "(server)") : sb.toString();
  }

  @Test
  void aChainPushedChildrenFirstGoesInWithoutARoundTripForTheAttemptsCertainToFail() throws SQLException {
    // 400 rows each referring to the next one in the batch: 21 s before ChainWaits (a pass over
    // every row left per row, each attempt a few round trips).
    int rows = 400;
    TableSchema t = n(null);
    PgDatasetStore s = dataset(t);
    List<Change> batch = new ArrayList<>();
    long millis = START;
    for (int k = rows; k >= 1; k--) {
      batch.add(up("n" + k, ++millis, "dev-a", "up", k == 1 ? null : "n" + (k - 1), "v", (long) k));
    }
    long started = System.nanoTime();
    PushResult r = s.push(new PushRequest(s.name(), "dev-a", UUID.randomUUID().toString(), List.of(t), batch));
    long ms = (System.nanoTime() - started) / 1_000_000;
    System.out.printf("PostgreSQL: a chain of %,d rows pushed children first: %d ms, %,d attempts skipped%n", rows, ms, s.chainSkips);
    assertThat(r.results()).extracting(ChangeResult::status).containsOnly(ChangeResult.APPLIED);
    assertThat(s.chainSkips).isGreaterThan((long) rows * (rows - 1) / 2 - 2L * rows);
  }

  @Test
  void aParentABackendCommitsWhileThePassesRunIsSeenBeforeTheyEnd() throws Exception {
    // A backend's open transaction holds z and has written p, c's parent. Pass 1: d and c fail (no
    // c, no p), z's upsert waits for the backend, which commits meanwhile. Without skipping,
    // pass 2 applies c (p is now committed, and PostgreSQL reads committed rows at each statement)
    // and pass 3 d. With skipping, c waits for a change naming p, which never comes: ChainWaits
    // asks again before the passes end (found in review).
    TableSchema t = n(null);
    List<Change> batch = List.of(up("d", START + 1, "dev-a", "up", "c", "v", 1L), up("c", START + 2, "dev-a", "up", "p", "v", 2L),
        up("z", START + 3, "dev-a", "up", null, "v", 3L));
    Map<Boolean, String> got = new HashMap<>();
    for (boolean skipping : List.of(true, false)) {
      PgDatasetStore s = dataset(t);
      s.chainWaits = skipping;
      try (Connection backend = db.connect(); Statement st = backend.createStatement()) {
        backend.setAutoCommit(false);
        st.execute("INSERT INTO " + s.schemaName() + ".n (id, up, v) VALUES ('p', NULL, 0), ('z', NULL, 9)");
        Thread committer = new Thread(() -> {
          try {
            Thread.sleep(1_500);
            backend.commit();
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        });
        committer.start();
        got.put(skipping, answers(s, t, "dev-a", batch));
        committer.join();
      }
    }
    assertThat(got.get(false)).as("the case: every change applied").doesNotContain("rejected");
    assertThat(got.get(true)).isEqualTo(got.get(false));
  }

  /** Backend changes to the schema: none (skipping on), or one that turns skipping off. */
  private static final List<List<String>> BACKEND = List.of(List.of(), List.of("CREATE UNIQUE INDEX n_v ON n (v)"),
      List.of("CREATE FUNCTION make_parent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
          + "IF NEW.v < 5 THEN EXECUTE format('INSERT INTO %I.n (id, up, v) VALUES (''gone'', NULL, 50) ON CONFLICT DO NOTHING', TG_TABLE_SCHEMA); "
          + "END IF; RETURN NULL; END $$",
          "CREATE TRIGGER make_parent AFTER INSERT ON n FOR EACH ROW EXECUTE FUNCTION make_parent()"),
      List.of("ALTER TABLE n ADD COLUMN at timestamptz DEFAULT now()"));

  @Test
  void skippingCertainFailuresChangesNoAnswerNoRowAndNoMetadata() throws Exception {
    long seed = Differential.seed();
    long skips = 0;
    for (int schedule = 0; schedule < 8; schedule++) {
      Random r = new Random(seed + schedule);
      TableSchema t = n(schedule % 2 == 0 ? null : "CASCADE");
      List<String> backend = BACKEND.get(schedule / 2 % BACKEND.size());
      String label = "seed " + seed + " (schedule " + schedule + ")";
      PgDatasetStore on = dataset(t, backend.toArray(new String[0]));
      PgDatasetStore off = dataset(t, backend.toArray(new String[0]));
      off.chainWaits = false;
      long millis = START;
      for (int round = 0; round < 4; round++) {
        List<Change> batch = new ArrayList<>();
        int size = 1 + r.nextInt(25);
        for (int k = 0; k < size; k++) {
          millis += 1 + r.nextInt(3);
          int when = r.nextInt(16);
          batch.addAll(changes(r, round, millis + (when < 2 ? -200_000 : when == 2 ? 1_000_000_000L : 0)));
        }
        String device = r.nextBoolean() ? "dev-a" : "dev-b";
        String a = answers(on, t, device, batch);
        assertThat(a).as("%s, round %d: answers with skipping on and off", label, round).isEqualTo(answers(off, t, device, batch));
        boolean cascades = t.foreignKeys().get(0).onDelete().equals("CASCADE");
        assertThat(state(on, cascades)).as("%s, round %d: rows and metadata", label, round).isEqualTo(state(off, cascades));
      }
      assertThat(off.chainSkips).isZero();
      skips += on.chainSkips;
    }
    assertThat(skips).as("seed %d: attempts skipped over all schedules", seed).isPositive();
  }

  /** One random change, or a chain of new rows sent children first. */
  private static List<Change> changes(Random r, int round, long millis) {
    String device = "dev-" + (char) ('a' + r.nextInt(2));
    int pick = r.nextInt(20);
    if (pick < 4) {
      List<Change> chain = new ArrayList<>();
      int len = 2 + r.nextInt(10);
      String prefix = "c" + round + "_" + r.nextInt(1_000) + "_";
      for (int k = len; k >= 1; k--) {
        Object parent = k > 1 ? prefix + (k - 1) : r.nextBoolean() ? null : r.nextBoolean() ? "k" + r.nextInt(10) : "gone";
        chain.add(up(prefix + k, millis + k, device, "up", parent, "v", (long) r.nextInt(40)));
      }
      return chain;
    }
    Object id = r.nextInt(10) == 0 ? (Object) (long) r.nextInt(3) : "k" + r.nextInt(10);
    if (pick < 6) {
      return List.of(new Change("n", List.of(id), true, null, new Hlc(millis, 0, device).toString(), null, 0, 0));
    }
    if (pick < 8) {
      return List.of(up(id, millis, device, "v", (long) r.nextInt(40)));
    }
    Object parent = switch (r.nextInt(4)) {
      case 0 -> null;
      case 1 -> "gone";
      default -> "k" + r.nextInt(10);
    };
    return List.of(up(id, millis, device, "up", parent, "v", (long) r.nextInt(40)));
  }

  @Test
  void tablesWhoseAttemptsCannotBeForeseenHaveNoSelfReferenceToJudge() throws SQLException {
    Map<List<String>, Boolean> cases = new java.util.LinkedHashMap<>();
    cases.put(List.of(), true);
    cases.put(List.of("ALTER TABLE n ADD COLUMN w text DEFAULT 'x'", "ALTER TABLE n ADD COLUMN z bigint DEFAULT 3"), true);
    cases.put(List.of("ALTER TABLE n ADD COLUMN at timestamptz DEFAULT now()"), false);
    cases.put(List.of("CREATE SEQUENCE s", "ALTER TABLE n ADD COLUMN q bigint DEFAULT nextval('s')"), false);
    cases.put(List.of("ALTER TABLE n ADD CONSTRAINT v_pos CHECK (v >= 0)"), false);
    cases.put(List.of("CREATE UNIQUE INDEX n_v ON n (v)"), false);
    cases.put(List.of("CREATE DOMAIN small AS bigint CHECK (VALUE < 100)", "ALTER TABLE n ADD COLUMN d small"), false);
    cases.put(List.of("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
        "CREATE TRIGGER _tidesync_capture2 AFTER INSERT ON n FOR EACH ROW EXECUTE FUNCTION f()"), false);
    cases.put(List.of("CREATE RULE r AS ON INSERT TO n WHERE NEW.v = 99 DO ALSO DELETE FROM n WHERE id = 'zz'"), false);
    cases.put(List.of("ALTER TABLE n ENABLE ROW LEVEL SECURITY"), false);
    cases.put(List.of("ALTER TABLE n ADD COLUMN seqno bigint GENERATED BY DEFAULT AS IDENTITY"), false);
    cases.put(List.of("ALTER TABLE n ALTER COLUMN up TYPE varchar(5)"), false);
    cases.put(List.of("ALTER TABLE n ALTER COLUMN up TYPE varchar", "ALTER TABLE n ALTER COLUMN id TYPE varchar"), true);
    cases.put(List.of("CREATE TABLE p (id text PRIMARY KEY)", "INSERT INTO p VALUES ('root')", "ALTER TABLE n ALTER COLUMN id SET DEFAULT 'root'",
        "ALTER TABLE n ADD FOREIGN KEY (id) REFERENCES p (id) ON DELETE SET DEFAULT"), false);
    for (Map.Entry<List<String>, Boolean> e : cases.entrySet()) {
      PgDatasetStore s = dataset(n(null), e.getKey().toArray(new String[0]));
      try (Connection c = db.connect()) {
        c.setAutoCommit(false);
        // As the store's push does: the schema's tables as it knows them.
        String ref = new dev.tidesync.pg.internal.PgSelfKeys(c, s.schemaName(), Map.of("n", n(null))).selfReference("n");
        assertThat(ref != null).as(e.getKey().toString()).isEqualTo(e.getValue());
        c.rollback();
      }
    }
  }
}
