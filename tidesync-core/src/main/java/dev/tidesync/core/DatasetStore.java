package dev.tidesync.core;

import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import java.util.List;

/**
 * The storage seam of the server: one dataset, in whatever database holds it. The SQLite store
 * implements it now; a PostgreSQL store implements the same contract. Every method is
 * thread-safe.
 */
public interface DatasetStore extends AutoCloseable {
  String name();

  /** The dataset's tables, parents before children. Empty for a dataset nothing was pushed to. */
  List<TableSchema> schema();

  /**
   * Applies a batch in one transaction: reconciles the schema (creates tables, adds nullable
   * columns, refuses incompatible changes with {@link IncompatibleSchemaException}), merges every
   * change by its table's policy, logs conflicts, and records the answer under
   * (device, batch id). A batch id seen before is not applied again: its recorded answer is
   * returned with {@code replayed=true}. A change that violates a constraint is rejected on its
   * own; the others still apply.
   */
  PushResult push(PushRequest request);

  /**
   * Up to {@code limit} changes after {@code cursor} in version order. A null cursor starts a
   * bootstrap: the full current state, tombstones included (a replica may hold rows of its own
   * that were deleted elsewhere). Changes whose latest write came from {@code device} unmodified
   * are skipped (no echo), in a bootstrap too: a device id names one replica file, which holds
   * them already. A cursor this dataset did not make is refused with a {@code ProtocolException}
   * ({@code 409 cursor_invalid} for one of another dataset or incarnation, or one past the
   * dataset's newest version, as after a restore from a backup).
   */
  PullPage pull(String cursor, int limit, String device);

  DatasetStatus status();

  /** Conflict log entries with id greater than {@code afterId}, oldest first. */
  List<ConflictRecord> conflicts(long afterId, int limit);

  @Override
  void close();
}
