package dev.tidesync.core.internal;

import dev.tidesync.core.DeviceStatus;

/**
 * How both server stores read their bookkeeping tables into the SPI's records: the same column
 * lists and the same mapping, with no JDBC here (a store passes {@code resultSet::getObject}).
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

  /** An integer column as a long, SQL NULL as 0 (as JDBC's {@code getLong}); SQLite gives small ones as Integer. */
  static long number(Object v) {
    return v == null ? 0 : ((Number) v).longValue();
  }
}
