package dev.tidesync.it.replica;

import static dev.tidesync.it.replica.Db.sql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.client.SyncReport;
import dev.tidesync.client.TidesyncClient;
import dev.tidesync.it.ServerStores;
import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.Values;
import dev.tidesync.server.ServerConfig;
import dev.tidesync.server.TidesyncServer;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Exact values through push and pull over real HTTP between two device files, with each server
 * store in between: every SQLite storage class keeps its class ({@code typeof}) and its exact
 * value (REALs bit for bit), on the devices and in the server's dataset as a backend reads it.
 */
class ValuesRoundTripTest extends ReplicaTestSupport {
  static final Map<String, Long> INTS = new LinkedHashMap<>();
  static final Map<String, Double> REALS = new LinkedHashMap<>();
  static final Map<String, String> TEXTS = new LinkedHashMap<>();
  static final Map<String, byte[]> BLOBS = new LinkedHashMap<>();

  static {
    INTS.put("min", Long.MIN_VALUE);
    INTS.put("max", Long.MAX_VALUE);
    INTS.put("zero", 0L);
    INTS.put("minus-one", -1L);
    INTS.put("int-max-plus-one", (long) Integer.MAX_VALUE + 1);
    INTS.put("null", null);

    REALS.put("tenth", 0.1);
    REALS.put("minus-zero", -0.0);
    REALS.put("subnormal", 1e-310);
    REALS.put("min-value", Double.MIN_VALUE);
    REALS.put("max-value", Double.MAX_VALUE);
    REALS.put("pi", Math.PI);
    REALS.put("third", 1 / 3.0);
    REALS.put("integral", 2.0);
    REALS.put("infinity", Double.POSITIVE_INFINITY);
    REALS.put("minus-infinity", Double.NEGATIVE_INFINITY);
    REALS.put("null", null);

    TEXTS.put("emoji", "😀 grinning");
    TEXTS.put("zwj-family", "👩\u200D👩\u200D👧\u200D👦");
    TEXTS.put("zwj-profession", "🧑🏽\u200D🚀 and 🏳️\u200D🌈");
    TEXTS.put("flag", "🇯🇵🇧🇷");
    TEXTS.put("arabic", "مرحبا بالعالم");
    TEXTS.put("hebrew", "שלום עולם");
    TEXTS.put("bidi-mixed", "abc \u202Bשלום\u202C 123 مرحبا!");
    TEXTS.put("combining", "e\u0301 a\u0308 Z\u0351\u0362 \u0915\u094D\u0937");
    TEXTS.put("controls", "tab\there\nnewline\r\nCRLF \u0001\u001F\u007F\u0085 end");
    TEXTS.put("quotes", "\"double\" 'single' \\backslash\\ {\"$b64\":\"AA==\"}");
    TEXTS.put("digits", "00123");
    TEXTS.put("empty", "");
    StringBuilder big = new StringBuilder(1 << 20);
    String unit = "tide€sync😀-";
    while (big.length() < (1 << 20)) {
      big.append(unit);
    }
    TEXTS.put("one-megabyte", big.toString());
    TEXTS.put("null", null);

    byte[] all = new byte[256];
    for (int i = 0; i < 256; i++) {
      all[i] = (byte) i;
    }
    BLOBS.put("all-bytes", all);
    BLOBS.put("zeros", new byte[] {0, 0, 0, 0});
    BLOBS.put("zero-inside", new byte[] {'a', 0, 'b', 0});
    BLOBS.put("empty", new byte[0]);
    BLOBS.put("utf8-looking", "not text".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    BLOBS.put("null", null);
  }

  private TidesyncServer server;

  @BeforeEach
  void setUp() {
    server = TidesyncServer.start(cluster.storage, ServerConfig.defaults().withInsecure(true).withPort(0));
  }

  @AfterEach
  void tearDown() {
    server.close();
  }

  private TidesyncClient httpDevice(String id) {
    return TidesyncClient.create(b -> b.database(cluster.db(id)).server(server.url()).dataset(Cluster.DATASET).deviceId(id));
  }

  /**
   * Whether table {@code reals} has the untyped column {@code raw}: only where the server store
   * keeps any class in an untyped column (SQLite). PostgreSQL makes an untyped column text and
   * refuses a REAL in it by design (README, PostgreSQL storage; the contract suite checks the
   * refusal), so there the table has only its typed column.
   */
  private boolean raw() {
    return store.untypedColumnsHoldAnyClass();
  }

  private void createTables(Path db) throws Exception {
    // "raw" has no declared type (BLOB affinity): SQLite stores every REAL in it as is. A REAL
    // column stores an integral REAL (such as -0.0) as an integer on disk, losing the sign of
    // zero inside SQLite itself; there Tidesync must carry whatever SQLite returns.
    sql(db, "CREATE TABLE ints (id TEXT PRIMARY KEY, v INTEGER)",
        raw() ? "CREATE TABLE reals (id TEXT PRIMARY KEY, typed REAL, raw)" : "CREATE TABLE reals (id TEXT PRIMARY KEY, typed REAL)",
        "CREATE TABLE texts (id TEXT PRIMARY KEY, v TEXT)",
        "CREATE TABLE blobs (id TEXT PRIMARY KEY, v BLOB)");
  }

  private void writeAll(Path db, String prefix) throws Exception {
    try (Connection c = Db.connect(db)) {
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO ints VALUES (?, ?)")) {
        for (var e : INTS.entrySet()) {
          ps.setString(1, prefix + e.getKey());
          if (e.getValue() == null) {
            ps.setNull(2, java.sql.Types.NULL);
          } else {
            ps.setLong(2, e.getValue());
          }
          ps.executeUpdate();
        }
      }
      try (PreparedStatement ps = c.prepareStatement(raw() ? "INSERT INTO reals VALUES (?, ?, ?)" : "INSERT INTO reals VALUES (?, ?)")) {
        for (var e : REALS.entrySet()) {
          ps.setString(1, prefix + e.getKey());
          for (int i = 2; i <= (raw() ? 3 : 2); i++) {
            if (e.getValue() == null) {
              ps.setNull(i, java.sql.Types.NULL);
            } else {
              ps.setDouble(i, e.getValue());
            }
          }
          ps.executeUpdate();
        }
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO texts VALUES (?, ?)")) {
        for (var e : TEXTS.entrySet()) {
          ps.setString(1, prefix + e.getKey());
          ps.setString(2, e.getValue());
          ps.executeUpdate();
        }
      }
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO blobs VALUES (?, ?)")) {
        for (var e : BLOBS.entrySet()) {
          ps.setString(1, prefix + e.getKey());
          ps.setBytes(2, e.getValue());
          ps.executeUpdate();
        }
      }
      c.commit();
    }
  }

  /** Asserts that device file {@code db} holds exactly the values written by {@link #writeAll} under {@code prefix}. */
  private void assertAll(Path db, String prefix, Path writer) throws Exception {
    String where = " WHERE id = ?";
    try (Connection c = Db.connect(db); Connection w = Db.connect(writer)) {
      for (var e : INTS.entrySet()) {
        try (PreparedStatement ps = c.prepareStatement("SELECT v, typeof(v) FROM ints" + where)) {
          ps.setString(1, prefix + e.getKey());
          try (ResultSet rs = ps.executeQuery()) {
            assertThat(rs.next()).as("ints row %s in %s", e.getKey(), db).isTrue();
            if (e.getValue() == null) {
              assertThat(rs.getString(2)).as("typeof ints.%s", e.getKey()).isEqualTo("null");
            } else {
              assertThat(rs.getString(2)).as("typeof ints.%s", e.getKey()).isEqualTo("integer");
              assertThat(rs.getLong(1)).as("ints.%s", e.getKey()).isEqualTo(e.getValue());
            }
          }
        }
      }
      for (var e : REALS.entrySet()) {
        String sql = "SELECT typed, typeof(typed)" + (raw() ? ", raw, typeof(raw)" : "") + " FROM reals" + where;
        try (PreparedStatement ps = c.prepareStatement(sql); PreparedStatement src = w.prepareStatement(sql)) {
          ps.setString(1, prefix + e.getKey());
          src.setString(1, prefix + e.getKey());
          try (ResultSet rs = ps.executeQuery(); ResultSet ws = src.executeQuery()) {
            assertThat(rs.next()).as("reals row %s in %s", e.getKey(), db).isTrue();
            assertThat(ws.next()).isTrue();
            if (e.getValue() == null) {
              assertThat(rs.getString(2) + "," + (raw() ? rs.getString(4) : "null")).as("typeof reals.%s", e.getKey()).isEqualTo("null,null");
              continue;
            }
            assertThat(rs.getString(2)).as("typeof reals.typed %s", e.getKey()).isEqualTo("real");
            // typed REAL column: bit-identical to what the writing device's own SQLite holds
            assertThat(Double.doubleToRawLongBits(rs.getDouble(1))).as("reals.typed %s (%s)", e.getKey(), rs.getDouble(1))
                .isEqualTo(Double.doubleToRawLongBits(ws.getDouble(1)));
            if (raw()) {
              assertThat(rs.getString(4)).as("typeof reals.raw %s", e.getKey()).isEqualTo("real");
              // untyped column: bit-identical to the value the app wrote
              assertThat(Double.doubleToRawLongBits(rs.getDouble(3))).as("reals.raw %s (%s)", e.getKey(), rs.getDouble(3))
                  .isEqualTo(Double.doubleToRawLongBits(e.getValue()));
            }
          }
        }
      }
      for (var e : TEXTS.entrySet()) {
        try (PreparedStatement ps = c.prepareStatement("SELECT v, typeof(v), length(CAST(v AS BLOB)) FROM texts" + where)) {
          ps.setString(1, prefix + e.getKey());
          try (ResultSet rs = ps.executeQuery()) {
            assertThat(rs.next()).as("texts row %s in %s", e.getKey(), db).isTrue();
            if (e.getValue() == null) {
              assertThat(rs.getString(2)).as("typeof texts.%s", e.getKey()).isEqualTo("null");
            } else {
              assertThat(rs.getString(2)).as("typeof texts.%s", e.getKey()).isEqualTo("text");
              assertThat(rs.getLong(3)).as("UTF-8 length of texts.%s", e.getKey())
                  .isEqualTo(e.getValue().getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
              assertThat(rs.getString(1).equals(e.getValue())).as("texts.%s equal", e.getKey()).isTrue();
            }
          }
        }
      }
      for (var e : BLOBS.entrySet()) {
        try (PreparedStatement ps = c.prepareStatement("SELECT v, typeof(v), length(v) FROM blobs" + where)) {
          ps.setString(1, prefix + e.getKey());
          try (ResultSet rs = ps.executeQuery()) {
            assertThat(rs.next()).as("blobs row %s in %s", e.getKey(), db).isTrue();
            if (e.getValue() == null) {
              assertThat(rs.getString(2)).as("typeof blobs.%s", e.getKey()).isEqualTo("null");
            } else {
              assertThat(rs.getString(2)).as("typeof blobs.%s", e.getKey()).isEqualTo("blob");
              assertThat(rs.getLong(3)).as("length of blobs.%s", e.getKey()).isEqualTo(e.getValue().length);
              byte[] got = rs.getBytes(1);
              assertThat(got == null ? new byte[0] : got).as("blobs.%s", e.getKey()).isEqualTo(e.getValue());
            }
          }
        }
      }
    }
  }

  /**
   * Asserts that the server's dataset holds exactly the values written by {@link #writeAll} under
   * {@code prefix}, each of its class, read through a plain JDBC connection as a backend would
   * (on SQLite the class is the stored one; on PostgreSQL the column's type).
   */
  private void assertServer(String prefix, Path writer) throws Exception {
    try (Connection s = store.backend(cluster.storage, Cluster.ID); Connection w = Db.connect(writer)) {
      for (var e : INTS.entrySet()) {
        assertThat(value(s, "SELECT v FROM ints WHERE id = ?", prefix + e.getKey())).as("server ints.%s", e.getKey()).isEqualTo(e.getValue());
      }
      for (var e : REALS.entrySet()) {
        Object typed = value(s, "SELECT typed FROM reals WHERE id = ?", prefix + e.getKey());
        // typed REAL column: bit-identical to what the writing device's own SQLite holds
        Object written = value(w, "SELECT typed FROM reals WHERE id = ?", prefix + e.getKey());
        assertThat(Values.same(typed, written)).as("server reals.typed %s: %s, the writer holds %s", e.getKey(), typed, written).isTrue();
        if (raw()) {
          // untyped column: bit-identical to the value the app wrote
          Object raw = value(s, "SELECT raw FROM reals WHERE id = ?", prefix + e.getKey());
          assertThat(Values.same(raw, e.getValue())).as("server reals.raw %s: %s", e.getKey(), raw).isTrue();
        }
      }
      for (var e : TEXTS.entrySet()) {
        Object v = value(s, "SELECT v FROM texts WHERE id = ?", prefix + e.getKey());
        // not isEqualTo: a failure would print the megabyte
        assertThat(java.util.Objects.equals(v, e.getValue())).as("server texts.%s equal (a %s)", e.getKey(), ServerStores.typeOf(v)).isTrue();
      }
      for (var e : BLOBS.entrySet()) {
        Object v = value(s, "SELECT v FROM blobs WHERE id = ?", prefix + e.getKey());
        assertThat(v).as("server blobs.%s", e.getKey()).isEqualTo(e.getValue() == null ? null : Bytes.of(e.getValue()));
      }
    }
  }

  /** The one value of a one-row query with one parameter, normalised (Long, Double, String, Bytes or null). */
  private static Object value(Connection c, String sql, String id) throws Exception {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, id);
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).as("a row for %s: %s", id, sql).isTrue();
        Object v = Values.normalize(rs.getObject(1));
        assertThat(rs.next()).as("one row for %s: %s", id, sql).isFalse();
        return v;
      }
    }
  }

  @Test
  void everyValueSurvivesPushAndPullOverHttpExactly() throws Exception {
    createTables(a);
    writeAll(a, "a:");
    int perDevice = INTS.size() + REALS.size() + TEXTS.size() + BLOBS.size();

    try (TidesyncClient ca = httpDevice("a"); TidesyncClient cb = httpDevice("b")) {
      SyncReport ra = ca.flush();
      assertThat(ra.ok()).as(ra.toString()).isTrue();
      assertThat(ra.pushed()).isEqualTo(perDevice);
      assertServer("a:", a);

      SyncReport rb = cb.flush();
      assertThat(rb.ok()).as(rb.toString()).isTrue();
      assertThat(rb.pulled()).isEqualTo(perDevice);
      assertAll(b, "a:", a);

      // and back: B writes the same values, A pulls them
      writeAll(b, "b:");
      SyncReport rb2 = cb.flush();
      assertThat(rb2.ok()).as(rb2.toString()).isTrue();
      assertThat(rb2.pushed()).isEqualTo(perDevice);
      SyncReport ra2 = ca.flush();
      assertThat(ra2.pulled()).isEqualTo(perDevice);
      assertAll(a, "b:", b);
      assertServer("b:", b);

      // nothing travels twice: the values are not seen as changed after the round trip
      assertThat(ca.flush().pushed()).isZero();
      assertThat(cb.flush().pushed()).isZero();
    }
  }
}
