package dev.tidesync.pg;

import dev.tidesync.tck.StorageFactory;
import dev.tidesync.tck.StoreContract;

/** The store contract suite against the PostgreSQL store. */
class PgStoreContractTest extends StoreContract {
  @Override
  protected StorageFactory factory() {
    return new PgStorageFactory();
  }
}
