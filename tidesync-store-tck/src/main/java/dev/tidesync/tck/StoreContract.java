package dev.tidesync.tck;

import org.junit.jupiter.api.Nested;

/**
 * The store contract: every {@link dev.tidesync.core.Storage} implementation must pass it. A store
 * module adds one test class that extends this one and names its {@link StorageFactory}:
 *
 * <pre>{@code
 * class SqliteStoreContractTest extends StoreContract {
 *   @Override
 *   protected StorageFactory factory() {
 *     return new SqliteStorageFactory();
 *   }
 * }
 * }</pre>
 *
 * Each part of the contract is an abstract class of its own (schema, values, push, conflicts,
 * pull, backend writes, storage and server state, status, concurrency), run here as a nested
 * class, so the one subclass runs all of them and a part can also be extended on its own.
 */
public abstract class StoreContract {
  /** The store under test; called once per test, each time for a fresh storage directory. */
  protected abstract StorageFactory factory();

  @Nested
  class Schema extends SchemaContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }

  @Nested
  class Values extends ValuesContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }

  @Nested
  class Push extends PushContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }

  @Nested
  class Conflicts extends ConflictContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }

  @Nested
  class Pull extends PullContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }

  @Nested
  class Backend extends BackendContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }

  @Nested
  class StorageAndServerState extends StorageContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }

  @Nested
  class Status extends StatusContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }

  @Nested
  class Concurrency extends ConcurrencyContract {
    @Override
    protected StorageFactory factory() {
      return StoreContract.this.factory();
    }
  }
}
