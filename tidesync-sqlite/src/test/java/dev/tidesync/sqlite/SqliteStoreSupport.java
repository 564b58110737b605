package dev.tidesync.sqlite;

import dev.tidesync.tck.ContractSupport;
import dev.tidesync.tck.StorageFactory;
import java.nio.file.Path;

/** The contract tests' helpers on the SQLite store, with its dataset file and a reopen. */
abstract class SqliteStoreSupport extends ContractSupport {
  @Override
  protected StorageFactory factory() {
    return new SqliteStorageFactory();
  }

  /** The dataset {@link #ID}'s file. */
  protected Path file() {
    return ((SqliteStorage) storage).fileOf(ID);
  }

  /** Closes the storage and opens it again on the same directory. */
  protected void reopen() {
    storage.close();
    storage = factory().open(dir.resolve("storage"));
  }
}
