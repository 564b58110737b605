package dev.tidesync.sqlite;

import dev.tidesync.tck.StorageFactory;
import dev.tidesync.tck.StoreContract;

/** The store contract suite against the embedded SQLite store. */
class SqliteStoreContractTest extends StoreContract {
  @Override
  protected StorageFactory factory() {
    return new SqliteStorageFactory();
  }
}
