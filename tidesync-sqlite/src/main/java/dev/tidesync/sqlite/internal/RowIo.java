package dev.tidesync.sqlite.internal;

import static dev.tidesync.sqlite.internal.Sql.q;

import dev.tidesync.protocol.ColumnSchema;
import dev.tidesync.protocol.TableSchema;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Reads and writes user rows by primary key, with prepared statements cached per connection.
 * Not thread-safe: one instance per connection, used under that connection's lock.
 */
public final class RowIo implements AutoCloseable {
  private final Connection c;
  private final Map<String, PreparedStatement> cache = new HashMap<>();
  /** SQL text by (kind, table, column list): building it is most of the cost of a small write. */
  private final Map<List<Object>, String> sqlText = new HashMap<>();
  /** Upsert statements by table name, for the table as it was described last, by set of columns written (see {@link #upsert}). */
  private final Map<String, Upserts> upsertSql = new HashMap<>();

  private record Upserts(TableSchema table, Map<java.util.BitSet, String> bySet) {}
  /**
   * Batching writes (see {@link #startBatching}): the user-row statement whose executions are
   * queued, and the metadata statements with queued executions, in first-use order.
   */
  private boolean batching;
  private PreparedStatement rowBatch;
  private final java.util.LinkedHashSet<PreparedStatement> sideBatches = new java.util.LinkedHashSet<>();

  public RowIo(Connection c) {
    this.c = c;
  }

  private PreparedStatement prepare(String sql) throws SQLException {
    PreparedStatement ps = cache.get(sql);
    if (ps == null) {
      ps = c.prepareStatement(sql);
      cache.put(sql, ps);
    }
    return ps;
  }

  /**
   * From here until {@link #stopBatching} or {@link #discard}, {@link #upsert} and {@link #write}
   * queue their executions and send them as JDBC batches: for sqlite-jdbc a batch of 1,000 rows
   * costs about half as much as 1,000 single executions (BENCHMARKS.md, session 5).
   *
   * <p>User-row writes keep their order among themselves: consecutive executions of one statement
   * are queued, and a different user-row statement first sends the queue (a foreign key or a
   * unique value may depend on that order). Metadata writes ({@link #write}) go to tables that no
   * constraint or trigger looks at, so they may wait until the next {@link #flush}.
   *
   * <p>Nothing queued is visible to a read: {@link #read} and {@link #delete} flush first, and a
   * caller flushes before its own reads of rows it may have written, and before it lets triggers
   * fire again. A failure surfaces at the flush, not at the write that caused it: the caller must
   * then undo the whole batch (a savepoint); the queue is already dropped.
   */
  public void startBatching() {
    // Anything still queued was left by a block that failed (and whose transaction rolled back):
    // it is dropped, never sent with this one.
    discard();
    batching = true;
  }

  /** Sends the queued writes, if any; batching goes on. On failure the queue is dropped and batching stops. */
  public void flush() throws SQLException {
    if (rowBatch == null && sideBatches.isEmpty()) {
      return;
    }
    try {
      flushRows();
      for (PreparedStatement ps : sideBatches) {
        ps.executeBatch();
      }
      sideBatches.clear();
    } catch (SQLException | RuntimeException e) {
      discard();
      throw e;
    }
  }

  /** Sends the queued writes and stops batching. */
  public void stopBatching() throws SQLException {
    flush();
    batching = false;
  }

  /** Drops the queued writes unsent and stops batching (after a failure, before the rollback). */
  public void discard() {
    batching = false;
    if (rowBatch != null) {
      clearQuietly(rowBatch);
      rowBatch = null;
    }
    for (PreparedStatement ps : sideBatches) {
      clearQuietly(ps);
    }
    sideBatches.clear();
  }

  private static void clearQuietly(PreparedStatement ps) {
    try {
      ps.clearBatch();
    } catch (SQLException ignored) {
      // the statement is unusable anyway; reset() closes it
    }
  }

  private void flushRows() throws SQLException {
    if (rowBatch != null) {
      PreparedStatement ps = rowBatch;
      rowBatch = null;
      try {
        ps.executeBatch();
      } catch (SQLException | RuntimeException e) {
        clearQuietly(ps);
        throw e;
      }
    }
  }

  /**
   * Runs a metadata write ({@code sql} with {@code args}) now, or queues it while batching (see
   * {@link #startBatching}). Queued statements are sent one after the other, each with all its
   * executions: a block must not queue two different statements that write the same row.
   */
  public void write(String sql, Object... args) throws SQLException {
    PreparedStatement ps = prepare(sql);
    for (int i = 0; i < args.length; i++) {
      Sql.bind(ps, i + 1, args[i]);
    }
    if (batching) {
      ps.addBatch();
      sideBatches.add(ps);
    } else {
      ps.executeUpdate();
    }
  }

  /** Drops cached statements (after DDL changed a table). */
  public void reset() {
    discard();
    for (PreparedStatement ps : cache.values()) {
      try {
        ps.close();
      } catch (SQLException ignored) {
        // closing a statement of a changed table; nothing to do
      }
    }
    cache.clear();
    sqlText.clear();
    upsertSql.clear();
  }

  private static String where(TableSchema t) {
    return t.primaryKey().stream().map(k -> q(k) + " = ?").collect(Collectors.joining(" AND "));
  }

  /** The row's values for {@code columns} (all columns when null), or null when the row does not exist. */
  public Map<String, Object> read(TableSchema t, List<Object> pk, List<String> columns) throws SQLException {
    flush();
    List<String> cols = columns != null ? columns : t.columns().stream().map(cs -> cs.name()).toList();
    String sql = sqlText.computeIfAbsent(List.of("read", t.name(), cols), k -> "SELECT "
        + (cols.isEmpty() ? "1" : cols.stream().map(Sql::q).collect(Collectors.joining(", "))) + " FROM " + q(t.name()) + " WHERE " + where(t));
    PreparedStatement ps = prepare(sql);
    Sql.bindAll(ps, 1, pk);
    try (ResultSet rs = ps.executeQuery()) {
      if (!rs.next()) {
        return null;
      }
      Map<String, Object> out = new LinkedHashMap<>();
      for (int i = 0; i < cols.size(); i++) {
        out.put(cols.get(i), Sql.read(rs, i + 1));
      }
      return out;
    }
  }

  /**
   * Inserts the row or updates the given columns of it, key columns taken from {@code pk} (a key
   * column among {@code values} is ignored); a value naming no column of {@code t} is a caller's
   * bug, refused with {@link IllegalArgumentException}. An upsert,
   * not INSERT OR REPLACE: REPLACE deletes first, which would fire ON DELETE CASCADE on the row's
   * children.
   */
  public void upsert(TableSchema t, List<Object> pk, Map<String, Object> values) throws SQLException {
    // The columns written, in the table's order, as a set of column positions: the statement is
    // found by (table, set) without building a list of names per row (that, and hashing it, was
    // a tenth of the server's store of a pushed row).
    List<ColumnSchema> all = t.columns();
    java.util.BitSet present = new java.util.BitSet(all.size());
    int named = 0;
    for (int i = 0; i < all.size(); i++) {
      String col = all.get(i).name();
      if (values.containsKey(col)) {
        named++;
        if (!t.isPrimaryKey(col)) {
          present.set(i);
        }
      }
    }
    if (named != values.size()) {
      List<String> unknown = values.keySet().stream().filter(col -> t.column(col).isEmpty()).toList();
      throw new IllegalArgumentException("table '" + t.name() + "' has no column(s) " + unknown);
    }
    Upserts u = upsertSql.get(t.name());
    if (u == null || (u.table() != t && !u.table().equals(t))) {
      // A table described differently (a column added) numbers its columns differently.
      u = new Upserts(t, new HashMap<>());
      upsertSql.put(t.name(), u);
    }
    String sql = u.bySet().computeIfAbsent(present, k -> {
      List<String> cols = new ArrayList<>(t.primaryKey());
      k.stream().forEach(i -> cols.add(all.get(i).name()));
      String key = t.primaryKey().stream().map(Sql::q).collect(Collectors.joining(", "));
      List<String> sets = cols.stream().filter(col -> !t.isPrimaryKey(col)).map(col -> q(col) + " = excluded." + q(col)).toList();
      // Not OR ABORT, though it would make a constraint declared ON CONFLICT ROLLBACK, REPLACE or
      // IGNORE fail this statement alone: SQLite hands a statement's OR clause down to the
      // statements of the triggers it fires, and an app's or backend's trigger that says INSERT
      // OR IGNORE / OR REPLACE would then fail (found in review).
      return "INSERT INTO " + q(t.name()) + " (" + cols.stream().map(Sql::q).collect(Collectors.joining(", ")) + ") VALUES ("
          + "?, ".repeat(cols.size() - 1) + "?) ON CONFLICT (" + key + ") DO "
          + (sets.isEmpty() ? "NOTHING" : "UPDATE SET " + String.join(", ", sets));
    });
    PreparedStatement ps = prepare(sql);
    if (ps != rowBatch) {
      flush(); // an earlier user-row statement goes first (see startBatching)
    }
    int at = 1;
    for (Object v : pk) {
      Sql.bind(ps, at++, v);
    }
    for (int i = present.nextSetBit(0); i >= 0; i = present.nextSetBit(i + 1)) {
      Sql.bind(ps, at++, values.get(all.get(i).name()));
    }
    if (batching) {
      ps.addBatch();
      rowBatch = ps;
    } else {
      ps.executeUpdate();
    }
  }

  public int delete(TableSchema t, List<Object> pk) throws SQLException {
    flush();
    PreparedStatement ps = prepare(sqlText.computeIfAbsent(List.of("delete", t.name()), k -> "DELETE FROM " + q(t.name()) + " WHERE " + where(t)));
    Sql.bindAll(ps, 1, pk);
    return ps.executeUpdate();
  }

  /**
   * A cached statement for metadata access. If {@link #write} has queued executions of the same
   * SQL, they are sent first: sqlite-jdbc would otherwise run the statement with the first queued
   * parameters, not the ones the caller binds.
   */
  public PreparedStatement statement(String sql) throws SQLException {
    PreparedStatement ps = prepare(sql);
    if (ps == rowBatch || sideBatches.contains(ps)) {
      flush();
    }
    return ps;
  }

  @Override
  public void close() {
    reset();
  }
}
