package dev.tidesync.core;

import java.util.List;
import java.util.Optional;

/**
 * A server's collection of datasets (a directory of SQLite files, or PostgreSQL schemas), grouped
 * by tenant, and its server-wide state. Every method is thread-safe.
 */
public interface Storage extends AutoCloseable {
  /** The tenant of a server that runs without auth, and of the single-tenant helpers below. */
  String DEFAULT_TENANT = "default";

  /** The dataset, or empty when it does not exist. */
  Optional<DatasetStore> find(DatasetId id);

  /** The dataset, created empty when it does not exist. */
  DatasetStore openOrCreate(DatasetId id);

  /** Every dataset of every tenant, sorted by tenant then name. */
  List<DatasetId> datasets();

  /** Every dataset of one tenant, sorted by name. */
  default List<DatasetId> datasets(String tenant) {
    return datasets().stream().filter(d -> d.tenant().equals(tenant)).toList();
  }

  /** Deletes the dataset and all its data; false when it did not exist. */
  boolean drop(DatasetId id);

  ServerState state();

  /** {@link #find(DatasetId)} in {@link #DEFAULT_TENANT}. */
  default Optional<DatasetStore> find(String dataset) {
    return find(DatasetId.of(dataset));
  }

  /** {@link #openOrCreate(DatasetId)} in {@link #DEFAULT_TENANT}. */
  default DatasetStore openOrCreate(String dataset) {
    return openOrCreate(DatasetId.of(dataset));
  }

  @Override
  void close();
}
