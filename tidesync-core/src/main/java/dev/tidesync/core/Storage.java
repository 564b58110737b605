package dev.tidesync.core;

import java.util.List;
import java.util.Optional;

/** A server's collection of datasets (a directory of SQLite files, or PostgreSQL schemas). */
public interface Storage extends AutoCloseable {
  /** The dataset, or empty when it does not exist. Names are checked by {@link DatasetNames}. */
  Optional<DatasetStore> find(String dataset);

  /** The dataset, created empty when it does not exist. */
  DatasetStore openOrCreate(String dataset);

  List<String> datasets();

  @Override
  void close();
}
