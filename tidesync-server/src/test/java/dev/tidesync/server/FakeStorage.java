package dev.tidesync.server;

import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.ServerState;
import dev.tidesync.core.DatasetStatus;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.DeviceStatus;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.ChangeResult;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

/** In-memory stand-in for a Storage: records what reaches it and answers with canned data. */
final class FakeStorage implements Storage {
  final Map<String, Store> stores = new ConcurrentHashMap<>();
  volatile boolean closed;

  Store add(String name) {
    return stores.computeIfAbsent(name, Store::new);
  }

  @Override
  public Optional<DatasetStore> find(DatasetId id) {
    return id.tenant().equals(DEFAULT_TENANT) ? Optional.ofNullable(stores.get(id.name())) : Optional.empty();
  }

  @Override
  public DatasetStore openOrCreate(DatasetId id) {
    return add(id.name());
  }

  @Override
  public List<DatasetId> datasets() {
    return stores.keySet().stream().sorted().map(DatasetId::of).toList();
  }

  @Override
  public boolean drop(DatasetId id) {
    return stores.remove(id.name()) != null;
  }

  @Override
  public ServerState state() {
    throw new UnsupportedOperationException("no server state in the fake");
  }

  @Override
  public void close() {
    closed = true;
  }

  /** One dataset. Fields are the canned answers and the recorded calls. */
  static final class Store implements DatasetStore {
    final String name;
    final List<PushRequest> pushes = new CopyOnWriteArrayList<>();
    final List<String> pulls = new CopyOnWriteArrayList<>(); // "cursor|limit|device"
    volatile PullPage page = new PullPage("c0", false, true, List.of(), List.of());
    volatile List<TableSchema> schema = List.of();
    volatile DatasetStatus status;
    volatile List<ConflictRecord> conflicts = List.of();
    /** When set, every call throws what it supplies. */
    volatile Supplier<RuntimeException> failure;

    Store(String name) {
      this.name = name;
      this.status = new DatasetStatus(name, 0, Map.of(), List.of(), 0);
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public List<TableSchema> schema() {
      fail();
      return schema;
    }

    @Override
    public PushResult push(PushRequest request) {
      fail();
      pushes.add(request);
      List<ChangeResult> results = new ArrayList<>();
      for (int i = 0; i < request.changes().size(); i++) {
        results.add(new ChangeResult(i, ChangeResult.APPLIED, i + 1L, null, false));
      }
      return new PushResult(request.batch(), results, "c" + pushes.size(), false);
    }

    @Override
    public PullPage pull(String cursor, int limit, String device) {
      fail();
      pulls.add(cursor + "|" + limit + "|" + device);
      return page;
    }

    @Override
    public DatasetStatus status() {
      fail();
      return status;
    }

    @Override
    public List<ConflictRecord> conflicts(long afterId, int limit) {
      fail();
      return conflicts.stream().filter(c -> c.id() > afterId).limit(limit).toList();
    }

    @Override
    public void close() {}

    private void fail() {
      Supplier<RuntimeException> f = failure;
      if (f != null) {
        throw f.get();
      }
    }
  }

  static DeviceStatus device(String id) {
    return new DeviceStatus(id, 1000, 2000, 3, 4, 5);
  }
}
