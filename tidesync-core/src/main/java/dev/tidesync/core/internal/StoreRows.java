package dev.tidesync.core.internal;

import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DeviceStatus;
import dev.tidesync.core.MergeResult;
import dev.tidesync.core.RowState;
import dev.tidesync.protocol.Change;
import dev.tidesync.protocol.TableSchema;
import java.util.LinkedHashMap;
import java.util.Locale;

/**
 * How both server stores write and read their bookkeeping tables (conflict log, devices): the
 * same column lists, values and mapping to the SPI's records, with no JDBC here (a store binds
 * the values itself and reads rows by passing {@code resultSet::getObject}).
 */
public final class StoreRows {
  private StoreRows() {}

  /** A row being read: the value of column {@code index} (1-based, in the order of the SELECT). */
  @FunctionalInterface
  public interface Columns<E extends Exception> {
    Object get(int index) throws E;
  }

  /** {@code _tidesync_devices}' columns in the order {@link #device} reads them. */
  public static final String DEVICE_COLUMNS = "device, last_push, last_pull, pushes, pulls, changes";

  /** A row of {@link #DEVICE_COLUMNS}. */
  public static <E extends Exception> DeviceStatus device(Columns<E> row) throws E {
    return new DeviceStatus((String) row.get(1), number(row.get(2)), number(row.get(3)), number(row.get(4)), number(row.get(5)),
        number(row.get(6)));
  }

  /** {@code _tidesync_conflicts}' columns that a store writes, in the order of {@link #conflictValues}. */
  public static final String CONFLICT_WRITTEN = "tbl, pk, policy, outcome, device, at, base, stored_ver, stored, incoming, result";

  /** The statement that adds an entry to the conflict log {@code table}; bind {@link #conflictValues}. */
  public static String insertConflict(String table) {
    return "INSERT INTO " + table + " (" + CONFLICT_WRITTEN + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  }

  /**
   * The values of one conflict log entry, in {@link #CONFLICT_WRITTEN} order: the change {@code in}
   * that {@code device} made on an older base than the {@code stored} row, and how {@code m} resolved
   * it; the three versions as JSON objects of the row's values (null: no row).
   */
  public static Object[] conflictValues(TableSchema t, String key, String device, long atMillis, Change in, RowState stored,
      MergeResult m) {
    return new Object[] {t.name(), key, t.policy().wireName(), m.outcome().name().toLowerCase(Locale.ROOT), device, atMillis,
        in.base(), stored.version(), stored.deleted() ? null : Keys.valuesJson(stored.values()),
        in.deleted() ? null : Keys.valuesJson(new LinkedHashMap<>(in.cols())),
        m.state().deleted() ? null : Keys.valuesJson(m.state().values())};
  }

  /** A page of the conflict log {@code table}: entries after id {@code ?}, oldest first, at most {@code ?}. */
  public static String conflictPage(String table) {
    return "SELECT id, " + CONFLICT_WRITTEN + " FROM " + table + " WHERE id > ? ORDER BY id LIMIT ?";
  }

  /** A row of {@link #conflictPage}. */
  public static <E extends Exception> ConflictRecord conflict(Columns<E> row) throws E {
    return new ConflictRecord(number(row.get(1)), (String) row.get(2), (String) row.get(3), (String) row.get(4), (String) row.get(5),
        (String) row.get(6), number(row.get(7)), number(row.get(8)), number(row.get(9)), (String) row.get(10), (String) row.get(11),
        (String) row.get(12));
  }

  /** An integer column as a long, SQL NULL as 0 (as JDBC's {@code getLong}); SQLite gives small ones as Integer. */
  static long number(Object v) {
    return v == null ? 0 : ((Number) v).longValue();
  }
}
