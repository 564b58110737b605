package dev.tidesync.sqlite;

import dev.tidesync.core.DatasetNames;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.Storage;
import dev.tidesync.protocol.WallClock;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/** The embedded store: one SQLite file per dataset, {@code DIR/<dataset>.db}. */
public final class SqliteStorage implements Storage {
  /** Remote clocks further ahead than this are not trusted (default 5 minutes). */
  public static final long DEFAULT_MAX_DRIFT_MILLIS = 5 * 60_000L;

  private final Path dir;
  private final WallClock wall;
  private final long maxDriftMillis;
  private final Map<String, SqliteDatasetStore> open = new ConcurrentHashMap<>();

  private SqliteStorage(Path dir, WallClock wall, long maxDriftMillis) {
    this.dir = dir;
    this.wall = wall;
    this.maxDriftMillis = maxDriftMillis;
  }

  public static SqliteStorage open(Path dir) {
    return open(dir, WallClock.SYSTEM, DEFAULT_MAX_DRIFT_MILLIS);
  }

  public static SqliteStorage open(Path dir, WallClock wall, long maxDriftMillis) {
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create data directory " + dir, e);
    }
    return new SqliteStorage(dir, wall, maxDriftMillis);
  }

  public Path directory() {
    return dir;
  }

  @Override
  public Optional<DatasetStore> find(String dataset) {
    DatasetNames.check(dataset);
    SqliteDatasetStore s = open.get(dataset);
    if (s != null) {
      return Optional.of(s);
    }
    if (!Files.exists(fileOf(dataset))) {
      return Optional.empty();
    }
    return Optional.of(openOrCreate(dataset));
  }

  @Override
  public DatasetStore openOrCreate(String dataset) {
    DatasetNames.check(dataset);
    return open.computeIfAbsent(dataset, d -> SqliteDatasetStore.open(d, fileOf(d), wall, maxDriftMillis));
  }

  private Path fileOf(String dataset) {
    return dir.resolve(dataset + ".db");
  }

  @Override
  public List<String> datasets() {
    List<String> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".db")).map(n -> n.substring(0, n.length() - 3))
          .filter(n -> n.matches("[a-z0-9][a-z0-9_-]{0,62}")).sorted().forEach(out::add);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }

  @Override
  public void close() {
    open.values().forEach(SqliteDatasetStore::close);
    open.clear();
  }
}
