package dev.tidesync.tck;

import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.ConflictPolicy;
import dev.tidesync.protocol.ForeignKey;
import dev.tidesync.protocol.Hlc;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import dev.tidesync.protocol.Values;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * What every part of the contract shares: a fresh, empty storage per test (closed after it),
 * the dataset {@link #ID} in it, a small schema, and builders for changes as a device sends them.
 */
public abstract class ContractSupport {
  protected static final DatasetId ID = DatasetId.of("ds");

  /** items(id TEXT PRIMARY KEY, name TEXT, qty INTEGER, price REAL, img BLOB), field-merge. */
  protected static final TableSchema ITEMS = table("items", List.of("id"),
      col("id", "TEXT"), col("name", "TEXT"), col("qty", "INTEGER"), col("price", "REAL"), col("img", "BLOB"));

  @TempDir protected Path dir;
  protected Storage storage;
  /** The millis of the last clock {@link #hlc} made. */
  private final AtomicLong clockMillis = new AtomicLong();

  /** The store under test. */
  protected abstract StorageFactory factory();

  @BeforeEach
  void openStorage() {
    storage = factory().open(dir.resolve("storage"));
  }

  @AfterEach
  void closeStorage() {
    if (storage != null) {
      storage.close();
    }
  }

  protected DatasetStore store() {
    return storage.openOrCreate(ID);
  }

  // ------------------------------------------------------------------ schema builders

  protected static ColumnSchema col(String name, String type) {
    return new ColumnSchema(name, type, false, null);
  }

  protected static ColumnSchema notNull(String name, String type) {
    return new ColumnSchema(name, type, true, null);
  }

  protected static TableSchema table(String name, List<String> pk, ColumnSchema... cols) {
    return new TableSchema(name, List.of(cols), pk, List.of(), ConflictPolicy.FIELD_MERGE);
  }

  protected static TableSchema child(String name, String fkCol, String parent, String onDelete, ColumnSchema... cols) {
    return new TableSchema(name, List.of(cols), List.of("id"),
        List.of(new ForeignKey(List.of(fkCol), parent, List.of("id"), onDelete)), ConflictPolicy.FIELD_MERGE);
  }

  // ------------------------------------------------------------------ changes

  /** A clock of {@code node} at the wall clock's time, newer than every clock this test made before. */
  protected String hlc(String node) {
    return new Hlc(clockMillis.updateAndGet(last -> Math.max(last + 1, System.currentTimeMillis())), 0, node).toString();
  }

  /** Column values in order; nulls allowed (Map.of refuses them). */
  protected static Map<String, Object> cols(Object... nameValue) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < nameValue.length; i += 2) {
      m.put((String) nameValue[i], nameValue[i + 1]);
    }
    return m;
  }

  protected Change upsert(String device, String table, Object pk, long base, Map<String, Object> cols) {
    return new Change(table, keyOf(pk), false, cols, hlc(device), null, base, 0);
  }

  protected Change delete(String device, String table, Object pk, long base) {
    return new Change(table, keyOf(pk), true, null, hlc(device), null, base, 0);
  }

  private static List<Object> keyOf(Object pk) {
    if (pk instanceof List<?> l) {
      return new ArrayList<>(l);
    }
    return Arrays.asList(pk);
  }

  protected static PushRequest request(String device, String batch, List<TableSchema> schema, List<Change> changes) {
    return new PushRequest(ID.name(), device, batch, schema, changes);
  }

  /** Pushes one batch (new batch id) with {@link #ITEMS} as the schema. */
  protected PushResult push(String device, Change... changes) {
    return push(store(), device, List.of(ITEMS), changes);
  }

  protected static PushResult push(DatasetStore s, String device, List<TableSchema> schema, Change... changes) {
    return s.push(new PushRequest(s.name(), device, UUID.randomUUID().toString(), schema, List.of(changes)));
  }

  // ------------------------------------------------------------------ pulls

  /** Every page of a pull from {@code cursor} until has_more is false. */
  protected record Pulled(List<Change> changes, String cursor, List<PullPage> pages) {
    /** The last change of each row, keyed "table pk". */
    public Map<String, Change> latest() {
      Map<String, Change> out = new LinkedHashMap<>();
      for (Change c : changes) {
        out.put(c.table() + " " + c.pk(), c);
      }
      return out;
    }

    public Change row(String table, Object... pk) {
      return latest().get(table + " " + Arrays.asList(pk));
    }
  }

  protected static Pulled pullAll(DatasetStore s, String cursor, int limit, String device) {
    List<Change> changes = new ArrayList<>();
    List<PullPage> pages = new ArrayList<>();
    String c = cursor;
    for (int i = 0; i < 1_000_000; i++) {
      PullPage p = s.pull(c, limit, device);
      pages.add(p);
      changes.addAll(p.changes());
      c = p.cursor();
      if (!p.hasMore()) {
        return new Pulled(changes, c, pages);
      }
    }
    throw new AssertionError("pull did not end");
  }

  protected Pulled pullAll(String cursor, String device) {
    return pullAll(store(), cursor, 1000, device);
  }

  // ------------------------------------------------------------------ backend SQL

  /** Plain SQL in the dataset's database, as a backend service writes it. */
  protected void backendSql(DatasetId id, String... sql) {
    factory().backendSql(storage, id, sql);
  }

  /** Every row of a query in the dataset's database, each as a list of normalised values. */
  protected List<List<Object>> backendQuery(DatasetId id, String sql) {
    try (Connection c = factory().backend(storage, id); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      List<List<Object>> out = new ArrayList<>();
      int n = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        List<Object> row = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
          row.add(Values.normalize(rs.getObject(i)));
        }
        out.add(row);
      }
      return out;
    } catch (SQLException e) {
      throw new IllegalStateException("backend query in " + id + " failed: " + e.getMessage(), e);
    }
  }
}
