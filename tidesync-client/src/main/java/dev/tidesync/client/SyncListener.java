package dev.tidesync.client;

/**
 * Observes a client's syncs. Every method has a no-op default; {@link #NONE} ignores everything.
 * Called on the syncing thread: keep implementations quick.
 */
public interface SyncListener {
  SyncListener NONE = new SyncListener() {};

  default void syncStarted() {}

  default void batchPushed(String table, int changes, int conflicts, int rejected) {}

  default void pageApplied(int changes, boolean bootstrap) {}

  default void syncFinished(SyncReport report) {}

  /** Called after {@code consecutive} failed syncs in a row (3, 6, 12, ...) in background mode. */
  default void repeatedFailure(int consecutive, Throwable lastError) {}
}
