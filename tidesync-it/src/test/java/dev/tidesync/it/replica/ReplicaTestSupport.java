package dev.tidesync.it.replica;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fresh {@link Cluster} in a temporary directory for every test, closed after it, and the files
 * of devices "a" and "b" in it (not created: a device file appears when something opens it).
 *
 * <p>JUnit runs these before a subclass's own {@code @BeforeEach} methods and after its own
 * {@code @AfterEach} methods, so a subclass may use {@link #cluster} in both.
 */
abstract class ReplicaTestSupport {
  @TempDir private Path dir;
  Cluster cluster;
  Path a;
  Path b;

  @BeforeEach
  void startCluster() {
    cluster = new Cluster(dir);
    a = cluster.db("a");
    b = cluster.db("b");
  }

  @AfterEach
  void closeCluster() {
    cluster.close();
  }
}
