package dev.tidesync.pg;

import dev.tidesync.protocol.TidesyncException;
import java.sql.SQLException;

/** A PostgreSQL failure, classified by SQLSTATE as retriable (try again later) or permanent. */
public class PgStoreException extends TidesyncException {
  public PgStoreException(String message, SQLException cause) {
    super(message + ": " + cause.getMessage(), isRetriable(cause), cause);
  }

  /**
   * Connection loss (08), serialization failure and deadlock (40), insufficient resources (53),
   * operator intervention such as a shutdown (57) and lock timeouts (55P03) pass with time;
   * everything else is a fault in the request or the schema.
   */
  public static boolean isRetriable(SQLException e) {
    String state = state(e);
    if (state == null) {
      return true; // pgjdbc leaves it null for I/O failures below the protocol
    }
    return state.startsWith("08") || state.startsWith("40") || state.startsWith("53") || state.startsWith("57")
        || state.equals("55P03");
  }

  /** 23503: a referenced row is missing; may succeed once it arrives. */
  public static boolean isForeignKey(SQLException e) {
    return "23503".equals(state(e));
  }

  /** Integrity (23) and data (22) errors: the change itself cannot be stored. */
  public static boolean isConstraintOrData(SQLException e) {
    String state = state(e);
    return state != null && (state.startsWith("23") || state.startsWith("22"));
  }

  /** 3F000 / 42P01: the dataset's schema or a table vanished (dropped by another process). */
  public static boolean isMissing(SQLException e) {
    String state = state(e);
    return "3F000".equals(state) || "42P01".equals(state);
  }

  /** The SQLSTATE of the failure itself: a failed JDBC batch carries it on its next exception. */
  static String state(SQLException e) {
    SQLException next = e.getNextException();
    if (e instanceof java.sql.BatchUpdateException && next != null && next.getSQLState() != null) {
      return next.getSQLState();
    }
    return e.getSQLState();
  }
}
