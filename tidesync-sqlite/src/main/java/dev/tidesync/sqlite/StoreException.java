package dev.tidesync.sqlite;

import dev.tidesync.protocol.TidesyncException;
import java.sql.SQLException;

/**
 * A failure of the SQLite storage layer, classified by SQLite result code: BUSY, LOCKED, I/O and
 * "full" conditions are retriable; everything else (constraints, corruption, misuse) is permanent.
 */
public class StoreException extends TidesyncException {
  public StoreException(String message, SQLException cause) {
    super(message + ": " + cause.getMessage(), isRetriable(cause), cause);
  }

  public static boolean isRetriable(SQLException e) {
    int primary = e.getErrorCode() & 0xff;
    // SQLITE_BUSY=5, SQLITE_LOCKED=6, SQLITE_IOERR=10, SQLITE_FULL=13, SQLITE_PROTOCOL=15
    return primary == 5 || primary == 6 || primary == 10 || primary == 13 || primary == 15;
  }

  /** SQLITE_CONSTRAINT_FOREIGNKEY (787): may succeed once the referenced row arrives. */
  public static boolean isForeignKey(SQLException e) {
    return e.getErrorCode() == 787 || (e.getMessage() != null && e.getMessage().contains("FOREIGN KEY constraint failed"));
  }

  /** Any SQLITE_CONSTRAINT (19): a permanent error of this record. */
  public static boolean isConstraint(SQLException e) {
    return (e.getErrorCode() & 0xff) == 19 || (e.getMessage() != null && e.getMessage().contains("constraint failed"));
  }

  /**
   * A constraint failure as a row's reason: sqlite-jdbc writes {@code [CODE] generic text (SQLite's
   * own message)}, and the generic text is long enough that a cut reason would keep only it (for a
   * trigger's {@code RAISE(ABORT, 'qty must be >= 0')}, only "A RAISE function within a trigger
   * fired, causing the..."). The reason is the code and SQLite's own message.
   */
  public static String reason(SQLException e) {
    String m = e.getMessage() == null ? "" : e.getMessage();
    if (m.startsWith("[") && m.endsWith(")")) {
      int code = m.indexOf(']');
      int open = m.indexOf(" (", code);
      if (code > 1 && open > code) {
        return m.substring(1, code) + ": " + m.substring(open + 2, m.length() - 1);
      }
    }
    return m;
  }
}
