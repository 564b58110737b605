package dev.tidesync.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.WallClock;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server store reads a batch's metadata ahead with one query per table, and skips even that
 * when every key sorts after the table's greatest stored key ({@code allAfterStored}): a row it
 * takes for new although it is stored would be overwritten as an insert, not merged. Seeded
 * batches of keys that straddle the stored ones (text with and without non-ASCII characters,
 * integers, whose canonical text sorts otherwise than their numbers) must find exactly the
 * stored rows. Replay with {@code -Dtidesync.seed=N}.
 */
class ReadAheadTest {
  static final TableSchema T = new TableSchema("t", List.of(new ColumnSchema("id", "", false, null),
      new ColumnSchema("v", "INTEGER", false, null)), List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);

  @TempDir Path dir;
  long millis = System.currentTimeMillis() - 600_000;

  @Test
  void aBatchFindsExactlyTheRowsThatAreStoredWhereverItsKeysSortAgainstThem() {
    String seedProp = System.getProperty("tidesync.seed", "");
    long seed = seedProp.isBlank() ? new Random().nextLong() : Long.parseLong(seedProp.trim());
    Random r = new Random(seed);
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", dir.resolve("ds.db"), WallClock.SYSTEM, 60_000)) {
      Set<Object> stored = new HashSet<>();
      for (int round = 0; round < 60; round++) {
        // Mostly keys after the stored ones (the skip), sometimes keys among or before them.
        List<Object> keys = new ArrayList<>();
        int n = 1 + r.nextInt(12);
        boolean ascending = r.nextBoolean();
        for (int i = 0; i < n; i++) {
          keys.add(key(r, ascending ? round : -1));
        }
        if (!stored.isEmpty() && r.nextInt(3) == 0) {
          keys.add(new ArrayList<>(stored).get(r.nextInt(stored.size())));
        }
        List<Change> changes = new ArrayList<>();
        for (Object k : keys) {
          changes.add(new Change("t", List.of(k), false, Map.of("v", (long) round), new Hlc(++millis, 0, "dev-a").toString(), null, 0, 0));
        }
        PushResult res = s.push(new PushRequest("ds", "dev-a", UUID.randomUUID().toString(), List.of(T), changes));
        Set<Object> seenInBatch = new HashSet<>();
        for (int i = 0; i < keys.size(); i++) {
          Object k = keys.get(i);
          // A key stored before the batch, or written earlier in it, was seen with base 0: a
          // conflict (resolved by policy). A key never stored is a plain insert.
          String expected = stored.contains(k) || seenInBatch.contains(k) ? ChangeResult.CONFLICT : ChangeResult.APPLIED;
          assertThat(res.results().get(i).status()).as("seed %d, round %d, key %s (stored %s)", seed, round, k, stored).isEqualTo(expected);
          seenInBatch.add(k);
        }
        stored.addAll(keys);
      }
    }
  }

  /** A text key (ASCII; sometimes with a character outside it) or an integer; {@code round} >= 0 makes it grow with the round. */
  private static Object key(Random r, int round) {
    if (r.nextInt(4) == 0) {
      long base = round >= 0 ? round * 1000L : 0;
      return base + r.nextInt(round >= 0 ? 1000 : 100_000);
    }
    StringBuilder sb = new StringBuilder(round >= 0 ? String.format("k%04d-", round) : "k");
    String alphabet = "abcxyzABC019-_ é~";
    int len = 1 + r.nextInt(4);
    for (int i = 0; i < len; i++) {
      sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
    }
    return sb.toString();
  }

  static TableSchema table(String name) {
    return new TableSchema(name, List.of(new ColumnSchema("id", "", false, null), new ColumnSchema("v", "INTEGER", false, null)),
        List.of("id"), List.of(), ConflictPolicy.FIELD_MERGE);
  }

  static final TableSchema A = table("a");
  static final TableSchema B = table("b");

  private List<String> push(SqliteDatasetStore s, String table, Object... keys) {
    List<Change> cs = new ArrayList<>();
    for (Object k : keys) {
      cs.add(new Change(table, List.of(k), false, Map.of("v", 1L), new Hlc(++millis, 0, "dev-a").toString(), null, 0, 0));
    }
    return s.push(new PushRequest("ds", "dev-a", UUID.randomUUID().toString(), List.of(A, B), cs)).results().stream()
        .map(ChangeResult::status).toList();
  }

  @Test
  void edgeCasesOfTheKeysOrderFindExactlyTheStoredRows() {
    try (SqliteDatasetStore s = SqliteDatasetStore.open("ds", dir.resolve("ds.db"), WallClock.SYSTEM, 60_000)) {
      assertThat(push(s, "a", "m", 9L, "k\u0001")).containsOnly("applied");
      // the greatest stored key itself, first and with a greater one
      assertThat(push(s, "a", "z", "m")).containsExactly("applied", "conflict");
      // integers: [10] sorts before [9] as text; [9] is stored
      assertThat(push(s, "a", 10L, 9L)).containsExactly("applied", "conflict");
      // a key with an escaped control character, stored, sent with keys after everything
      assertThat(push(s, "a", "zz", "k\u0001")).containsExactly("applied", "conflict");
      // duplicates in one batch, after every stored key
      assertThat(push(s, "a", "zzz", "zzz")).containsExactly("applied", "conflict");
      // another table's greater keys do not hide this table's
      assertThat(push(s, "b", "zzzz")).containsExactly("applied");
      assertThat(push(s, "a", "zzzz", "m")).containsExactly("applied", "conflict");
      assertThat(push(s, "b", "zzzz", "zzzzz")).containsExactly("conflict", "applied");
      // non-ASCII keys: stored greatest is not ASCII, and a non-ASCII key in a batch of ASCII ones
      assertThat(push(s, "a", "\u00e9")).containsExactly("applied");
      assertThat(push(s, "a", "\u00e9", "\uffff", "\ud83d\ude00", "zzzzzz")).containsExactly("conflict", "applied", "applied", "applied");
      assertThat(push(s, "a", "\uffff", "\ud83d\ude00")).containsExactly("conflict", "conflict");
      // deleted (tombstoned) row is still "stored"
      List<Change> del = List.of(new Change("a", List.of("zzzzzzz"), false, Map.of("v", 1L), new Hlc(++millis, 0, "dev-a").toString(), null, 0, 0));
      s.push(new PushRequest("ds", "dev-a", UUID.randomUUID().toString(), List.of(A, B), del));
      long ver = s.pull(null, 1000, "dev-b").changes().stream().filter(c -> c.pk().get(0).equals("zzzzzzz")).findFirst().orElseThrow().version();
      s.push(new PushRequest("ds", "dev-a", UUID.randomUUID().toString(), List.of(A, B),
          List.of(new Change("a", List.of("zzzzzzz"), true, Map.of(), new Hlc(++millis, 0, "dev-a").toString(), null, ver, 0))));
      assertThat(push(s, "a", "zzzzzzz")).containsExactly("conflict");
    }
  }
}
