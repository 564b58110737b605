package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Bytes;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.Values;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Values are kept exactly: a pushed value comes back from every pull with the same class and
 * the same value (REALs bit for bit), and the dataset's own table holds it natively, so a backend
 * reading plain SQL sees it too.
 */
public abstract class ValuesContract extends ContractSupport {
  static final Map<String, Object> INTS = new LinkedHashMap<>();
  static final Map<String, Object> REALS = new LinkedHashMap<>();
  static final Map<String, Object> TEXTS = new LinkedHashMap<>();
  static final Map<String, Object> BLOBS = new LinkedHashMap<>();

  static {
    INTS.put("min", Long.MIN_VALUE);
    INTS.put("max", Long.MAX_VALUE);
    INTS.put("zero", 0L);
    INTS.put("minus-one", -1L);
    INTS.put("above-int", (long) Integer.MAX_VALUE + 1);
    INTS.put("null", null);
    REALS.put("tenth", 0.1);
    REALS.put("third", 1 / 3.0);
    REALS.put("subnormal", 1e-310);
    REALS.put("min-value", Double.MIN_VALUE);
    REALS.put("max-value", Double.MAX_VALUE);
    REALS.put("minus-max", -Double.MAX_VALUE);
    REALS.put("integral", 2.0);
    REALS.put("infinity", Double.POSITIVE_INFINITY);
    REALS.put("minus-infinity", Double.NEGATIVE_INFINITY);
    REALS.put("null", null);
    TEXTS.put("emoji", "😀 grinning 🌊");
    TEXTS.put("zwj-family", "👩\u200D👩\u200D👧\u200D👦");
    TEXTS.put("flags", "🇯🇵🇧🇷 🏳️\u200D🌈");
    TEXTS.put("arabic", "مرحبا بالعالم");
    TEXTS.put("hebrew", "שלום עולם");
    TEXTS.put("bidi-mixed", "abc \u202Bשלום\u202C 123 مرحبا!");
    TEXTS.put("combining", "e\u0301 a\u0308 \u0915\u094D\u0937");
    TEXTS.put("controls", "tab\there\nnewline\r\nCRLF \u0001\u001F\u007F\u0085 end");
    TEXTS.put("quotes", "\"double\" 'single' \\backslash\\ {\"$b64\":\"AA==\"}");
    TEXTS.put("digits", "00123");
    TEXTS.put("empty", "");
    TEXTS.put("long", "tide€sync😀-".repeat(20_000));
    TEXTS.put("null", null);
    byte[] all = new byte[256];
    for (int i = 0; i < all.length; i++) {
      all[i] = (byte) i;
    }
    BLOBS.put("all-bytes", Bytes.of(all));
    BLOBS.put("empty", Bytes.of(new byte[0]));
    BLOBS.put("zeros", Bytes.of(new byte[] {0, 0, 0}));
    BLOBS.put("utf8-looking", Bytes.of("not text".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    BLOBS.put("null", null);
  }

  /** Pushes one row per value into {@code table(id TEXT, v TYPE)}, then checks every way back. */
  private void roundTrip(String type, Map<String, Object> values) {
    TableSchema t = table("vals", List.of("id"), col("id", "TEXT"), col("v", type));
    List<Change> changes = new ArrayList<>();
    values.forEach((k, v) -> changes.add(upsert("dev-a", "vals", k, 0, cols("v", v))));
    push(store(), "dev-a", List.of(t), changes.toArray(Change[]::new));
    Pulled bootstrap = pullAll(null, "dev-b");
    Pulled delta = pullAll(store().pull(null, 1, "dev-c").cursor(), "dev-c");
    for (Map.Entry<String, Object> e : values.entrySet()) {
      Object want = e.getValue();
      assertSame("bootstrap " + e.getKey(), bootstrap.row("vals", e.getKey()).cols().get("v"), want);
      if (delta.row("vals", e.getKey()) != null) {
        assertSame("delta " + e.getKey(), delta.row("vals", e.getKey()).cols().get("v"), want);
      }
      List<List<Object>> stored = backendQuery(ID, "SELECT v FROM vals WHERE id = '" + e.getKey() + "'");
      assertSame("stored " + e.getKey(), stored.get(0).get(0), want);
    }
  }

  static void assertSame(String what, Object got, Object want) {
    assertThat(Values.same(Values.normalize(got), want))
        .as("%s: got %s (%s), want %s (%s)", what, show(got), got == null ? "null" : got.getClass().getSimpleName(), show(want),
            want == null ? "null" : want.getClass().getSimpleName())
        .isTrue();
  }

  private static String show(Object v) {
    if (v instanceof Double d) {
      return d + " bits " + Long.toHexString(Double.doubleToRawLongBits(d));
    }
    String s = String.valueOf(v);
    return s.length() > 60 ? s.substring(0, 60) + "..." : s;
  }

  @Test
  void integersKeepAll64Bits() {
    roundTrip("INTEGER", INTS);
  }

  @Test
  void realsKeepEveryBit() {
    Map<String, Object> reals = new LinkedHashMap<>(REALS);
    if (factory().realColumnsKeepNegativeZero()) {
      reals.put("minus-zero", -0.0);
    }
    roundTrip("REAL", reals);
  }

  @Test
  void anyUnicodeTextIsKept() {
    roundTrip("TEXT", TEXTS);
  }

  @Test
  void blobsAreKeptByteForByteIncludingTheEmptyBlob() {
    roundTrip("BLOB", BLOBS);
  }

  /** A device's SQLite table may have a column without a declared type: every class must survive in it. */
  @Test
  void aColumnWithoutATypeKeepsEachValuesClassAndBits() {
    Map<String, Object> mixed = new LinkedHashMap<>();
    mixed.put("int", Long.MIN_VALUE);
    mixed.put("real", 0.1);
    mixed.put("minus-zero", -0.0);
    mixed.put("integral-real", 3.0);
    mixed.put("text", "3");
    mixed.put("blob", Bytes.of(new byte[] {1, 2}));
    mixed.put("null", null);
    if (factory().untypedColumnsHoldAnyClass()) {
      roundTrip("", mixed);
      return;
    }
    // A typed store keeps text (and NULL) exactly and refuses every other class, naming the column.
    roundTrip("", new LinkedHashMap<>(Map.of("text", "3", "empty", "", "emoji", "😀 نص")));
    TableSchema t = table("vals", List.of("id"), col("id", "TEXT"), col("v", ""));
    List<Change> others = new ArrayList<>();
    mixed.forEach((k, v) -> {
      if (v != null && !(v instanceof String)) {
        others.add(upsert("dev-a", "vals", "other-" + k, 0, cols("v", v)));
      }
    });
    PushResult r = push(store(), "dev-a", List.of(t), others.toArray(Change[]::new));
    assertThat(r.results()).allSatisfy(x -> {
      assertThat(x.status()).isEqualTo(ChangeResult.REJECTED);
      assertThat(x.reason()).contains("'v'");
    });
    assertThat(backendQuery(ID, "SELECT count(*) FROM vals WHERE id LIKE 'other-%'")).containsExactly(List.of(0L));
  }

  @Test
  void compositeKeysOfMixedTypesIdentifyRows() {
    TableSchema t = table("scores", List.of("player", "round"), col("player", "TEXT"), col("round", "INTEGER"), col("points", "INTEGER"));
    List<List<Object>> keys = List.of(List.of("ann", 1L), List.of("ann", 2L), List.of("😀 بوب", Long.MIN_VALUE), List.of("1", 1L),
        List.of("ann", Long.MAX_VALUE));
    List<Change> inserts = new ArrayList<>();
    for (int i = 0; i < keys.size(); i++) {
      inserts.add(upsert("dev-a", "scores", keys.get(i), 0, cols("points", (long) i)));
    }
    push(store(), "dev-a", List.of(t), inserts.toArray(Change[]::new));
    Pulled first = pullAll(null, "dev-b");
    assertThat(first.changes()).hasSize(keys.size());
    for (int i = 0; i < keys.size(); i++) {
      Change c = first.row("scores", keys.get(i).toArray());
      assertThat(c).as("row %s", keys.get(i)).isNotNull();
      assertThat(Values.sameList(c.pk(), keys.get(i))).isTrue();
      assertThat(c.cols()).containsEntry("points", (long) i);
    }
    long v1 = first.row("scores", "ann", 1L).version();
    long v2 = first.row("scores", "ann", 2L).version();
    push(store(), "dev-b", List.of(t), upsert("dev-b", "scores", List.of("ann", 1L), v1, cols("points", 100L)),
        delete("dev-b", "scores", List.of("ann", 2L), v2));
    Pulled delta = pullAll(first.cursor(), "dev-a");
    assertThat(delta.changes()).hasSize(2);
    assertThat(delta.row("scores", "ann", 1L).cols()).containsEntry("points", 100L);
    assertThat(delta.row("scores", "ann", 2L).deleted()).isTrue();
    assertThat(backendQuery(ID, "SELECT player, round, points FROM scores ORDER BY points")).containsExactly(
        List.of("😀 بوب", Long.MIN_VALUE, 2L), List.of("1", 1L, 3L), List.of("ann", Long.MAX_VALUE, 4L), List.of("ann", 1L, 100L));
  }

  @Test
  void integerPrimaryKeysKeepAll64Bits() {
    TableSchema t = table("counters", List.of("id"), col("id", "INTEGER"), col("n", "INTEGER"));
    push(store(), "dev-a", List.of(t), upsert("dev-a", "counters", Long.MAX_VALUE, 0, cols("n", 1L)),
        upsert("dev-a", "counters", Long.MIN_VALUE, 0, cols("n", 2L)), upsert("dev-a", "counters", 0L, 0, cols("n", 3L)));
    Pulled all = pullAll(null, "dev-b");
    assertThat(all.changes()).extracting(c -> c.pk().get(0)).containsExactlyInAnyOrder(Long.MAX_VALUE, Long.MIN_VALUE, 0L);
    assertThat(all.row("counters", Long.MIN_VALUE).cols()).containsEntry("n", 2L);
    assertThat(Arrays.asList(all.row("counters", Long.MAX_VALUE).cols().get("n"))).containsExactly(1L);
  }
}
