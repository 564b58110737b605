package dev.tidesync.it.replica;

import dev.tidesync.tck.StorageFactory;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A fresh {@link Cluster} in a temporary directory for every test, closed after it, and the files
 * of devices "a" and "b" in it (not created: a device file appears when something opens it).
 * Every subclass runs once per server store of {@code ServerStores} ({@code @ParameterizedClass}
 * is inherited): the devices are SQLite files either way, the server is SQLite or PostgreSQL.
 *
 * <p>JUnit runs these before a subclass's own {@code @BeforeEach} methods and after its own
 * {@code @AfterEach} methods, so a subclass may use {@link #cluster} in both.
 */
@ParameterizedClass(name = "[{argumentSetName}]")
@MethodSource("dev.tidesync.it.ServerStores#all")
abstract class ReplicaTestSupport {
  @Parameter StorageFactory store;
  @TempDir private Path dir;
  Cluster cluster;
  Path a;
  Path b;

  @BeforeEach
  void startCluster() {
    cluster = new Cluster(dir, store);
    a = cluster.db("a");
    b = cluster.db("b");
  }

  @AfterEach
  void closeCluster() {
    cluster.close();
  }
}
