package dev.tidesync.bench;

import dev.tidesync.client.Transport;
import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetStatus;
import dev.tidesync.core.DatasetId;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.ServerState;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.PullPage;
import dev.tidesync.protocol.PushRequest;
import dev.tidesync.protocol.PushResult;
import dev.tidesync.protocol.TableSchema;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where a sync's time goes, measured at the two seams: the device's {@link Transport} (a whole
 * HTTP exchange, server included) and the server's {@link DatasetStore} (the store's work alone).
 * Device time is then the flush minus the transport time; HTTP, JSON and gzip time is the
 * transport time minus the store time. Costs one {@code nanoTime} pair per request.
 */
final class Timers {
  final AtomicLong httpPush = new AtomicLong();
  final AtomicLong httpPull = new AtomicLong();
  final AtomicLong storePush = new AtomicLong();
  final AtomicLong storePull = new AtomicLong();
  final AtomicLong pushes = new AtomicLong();
  final AtomicLong pulls = new AtomicLong();

  void reset() {
    httpPush.set(0);
    httpPull.set(0);
    storePush.set(0);
    storePull.set(0);
    pushes.set(0);
    pulls.set(0);
  }

  /** Times a device's requests (wraps the real {@link dev.tidesync.client.HttpTransport}). */
  static final class TimedTransport implements Transport {
    private final Transport delegate;
    private final Timers t;

    TimedTransport(Transport delegate, Timers t) {
      this.delegate = delegate;
      this.t = t;
    }

    @Override
    public PushResult push(String dataset, PushRequest request) {
      long t0 = System.nanoTime();
      try {
        return delegate.push(dataset, request);
      } finally {
        t.httpPush.addAndGet(System.nanoTime() - t0);
      }
    }

    @Override
    public PushResult push(String dataset, PushRequest request, byte[] body) {
      long t0 = System.nanoTime();
      try {
        return delegate.push(dataset, request, body);
      } finally {
        t.httpPush.addAndGet(System.nanoTime() - t0);
        t.pushes.incrementAndGet();
      }
    }

    @Override
    public PullPage pull(String dataset, String cursor, int limit, String device) {
      long t0 = System.nanoTime();
      try {
        return delegate.pull(dataset, cursor, limit, device);
      } finally {
        t.httpPull.addAndGet(System.nanoTime() - t0);
        t.pulls.incrementAndGet();
      }
    }

    @Override
    public void close() {
      delegate.close();
    }
  }

  /** Times the server's store calls. Does not close the storage it wraps. */
  static final class TimedStorage implements Storage {
    private final Storage delegate;
    private final Timers t;
    private final Map<String, DatasetStore> wrapped = new ConcurrentHashMap<>();

    TimedStorage(Storage delegate, Timers t) {
      this.delegate = delegate;
      this.t = t;
    }

    private DatasetStore wrap(DatasetStore s) {
      return wrapped.computeIfAbsent(s.name(), n -> new TimedStore(s, t));
    }

    @Override
    public Optional<DatasetStore> find(DatasetId id) {
      return delegate.find(id).map(this::wrap);
    }

    @Override
    public DatasetStore openOrCreate(DatasetId id) {
      return wrap(delegate.openOrCreate(id));
    }

    @Override
    public List<DatasetId> datasets() {
      return delegate.datasets();
    }

    @Override
    public boolean drop(DatasetId id) {
      return delegate.drop(id);
    }

    @Override
    public ServerState state() {
      return delegate.state();
    }

    @Override
    public void close() {
      wrapped.clear();
    }
  }

  private static final class TimedStore implements DatasetStore {
    private final DatasetStore d;
    private final Timers t;

    TimedStore(DatasetStore d, Timers t) {
      this.d = d;
      this.t = t;
    }

    @Override
    public String name() {
      return d.name();
    }

    @Override
    public List<TableSchema> schema() {
      return d.schema();
    }

    @Override
    public PushResult push(PushRequest request) {
      long t0 = System.nanoTime();
      try {
        return d.push(request);
      } finally {
        t.storePush.addAndGet(System.nanoTime() - t0);
      }
    }

    @Override
    public PullPage pull(String cursor, int limit, String device) {
      long t0 = System.nanoTime();
      try {
        return d.pull(cursor, limit, device);
      } finally {
        t.storePull.addAndGet(System.nanoTime() - t0);
      }
    }

    @Override
    public DatasetStatus status() {
      return d.status();
    }

    @Override
    public List<ConflictRecord> conflicts(long afterId, int limit) {
      return d.conflicts(afterId, limit);
    }

    @Override
    public void close() {
      d.close();
    }
  }
}
