package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetStatus;
import dev.tidesync.core.DatasetStore;
import dev.tidesync.core.DeviceStatus;
import dev.tidesync.core.Storage;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** What a dataset reports about itself: version, rows per table, devices, and its conflict log. */
public abstract class StatusContract extends ContractSupport {
  @Test
  void aNewDatasetReportsNothing() {
    DatasetStatus s = store().status();
    assertThat(s.name()).isEqualTo("ds");
    assertThat(s.version()).isZero();
    assertThat(s.rows().values()).allMatch(n -> n == 0);
    assertThat(s.devices()).isEmpty();
    assertThat(s.conflicts()).isZero();
    assertThat(store().conflicts(0, 10)).isEmpty();
  }

  @Test
  void statusCountsRowsPerTableDevicesAndConflicts() {
    long before = System.currentTimeMillis();
    long v = push("dev-a", upsert("dev-a", "items", "i1", 0, cols("qty", 1L)), upsert("dev-a", "items", "i2", 0, cols("qty", 2L)),
        upsert("dev-a", "items", "i3", 0, cols("qty", 3L))).results().get(0).version();
    push("dev-a", delete("dev-a", "items", "i3", v + 2));
    push("dev-b", upsert("dev-b", "items", "i1", 0, cols("name", "stale base")));
    pullAll(null, "dev-c");
    DatasetStatus s = store().status();
    assertThat(s.rows()).containsEntry("items", 2L);
    assertThat(s.conflicts()).isEqualTo(1);
    assertThat(s.version()).isEqualTo(pullAll(null, "dev-d").changes().stream().mapToLong(c -> c.version()).max().orElseThrow());
    assertThat(s.devices()).extracting(DeviceStatus::device).contains("dev-a", "dev-b", "dev-c");
    DeviceStatus a = s.devices().stream().filter(d -> d.device().equals("dev-a")).findFirst().orElseThrow();
    assertThat(a.pushes()).isEqualTo(2);
    assertThat(a.changes()).isEqualTo(4);
    assertThat(a.lastPush()).isGreaterThanOrEqualTo(before);
    DeviceStatus c = s.devices().stream().filter(d -> d.device().equals("dev-c")).findFirst().orElseThrow();
    assertThat(c.pulls()).isPositive();
    assertThat(c.lastPull()).isGreaterThanOrEqualTo(before);
    assertThat(c.pushes()).isZero();
  }

  /**
   * A store may keep pull statistics in memory and write them later (a write per pull would cost
   * the hot path), but status shows every pull that finished before it, exactly, pushes in
   * between lose none of them, and a restart keeps them.
   */
  @Test
  void statusShowsEveryPullAtOnceAndARestartKeepsThem() {
    AtomicLong now = new AtomicLong(System.currentTimeMillis());
    long t0 = now.get();
    storage.close();
    storage = factory().open(dir.resolve("clocked"), now::get, StorageFactory.DEFAULT_MAX_DRIFT_MILLIS);
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("qty", 1L)));
    now.addAndGet(1000);
    store().pull(null, 100, "dev-a");
    store().pull(null, 100, "dev-b");
    assertThat(device("dev-a")).isEqualTo(new DeviceStatus("dev-a", t0, t0 + 1000, 1, 1, 1));
    assertThat(device("dev-b")).isEqualTo(new DeviceStatus("dev-b", 0, t0 + 1000, 0, 1, 0));
    now.addAndGet(1000);
    store().pull(null, 100, "dev-b");
    store().pull(null, 100, "dev-b");
    assertThat(device("dev-b")).isEqualTo(new DeviceStatus("dev-b", 0, t0 + 2000, 0, 3, 0));
    now.addAndGet(1000);
    store().pull(null, 100, "dev-a");
    push("dev-b", upsert("dev-b", "items", "i2", 0, cols("qty", 2L)), upsert("dev-b", "items", "i3", 0, cols("qty", 3L)));
    store().pull(null, 100, "dev-c");
    // No status since those pulls: they reach the restarted storage all the same.
    storage.close();
    storage = factory().open(dir.resolve("clocked"), now::get, StorageFactory.DEFAULT_MAX_DRIFT_MILLIS);
    assertThat(store().status().devices()).containsExactly(
        new DeviceStatus("dev-a", t0, t0 + 3000, 1, 2, 1),
        new DeviceStatus("dev-b", t0 + 3000, t0 + 2000, 1, 3, 2),
        new DeviceStatus("dev-c", 0, t0 + 3000, 0, 1, 0));
  }

  /**
   * Two storages on the same data (two server processes on one database, or a server and an
   * operator's command) each count their own pulls; the counts add up and the latest pull time
   * wins, whichever storage writes last.
   */
  @Test
  void twoStoragesOnTheSameDataAddUpTheirPulls() {
    push("dev-a", upsert("dev-a", "items", "i1", 0, cols("qty", 1L)));
    store().pull(null, 100, "dev-p");
    long before = System.currentTimeMillis();
    try (Storage second = factory().open(dir.resolve("storage"))) {
      DatasetStore other = second.find(ID).orElseThrow();
      other.pull(null, 100, "dev-p");
      other.pull(null, 100, "dev-p");
      other.pull(null, 100, "dev-q");
      store().pull(null, 100, "dev-q");
      assertThat(other.status().devices()).extracting(DeviceStatus::device).contains("dev-p", "dev-q");
      other.pull(null, 100, "dev-p"); // written when the second storage closes, at the latest
    }
    DatasetStatus s = store().status();
    DeviceStatus p = s.devices().stream().filter(d -> d.device().equals("dev-p")).findFirst().orElseThrow();
    assertThat(p.pulls()).isEqualTo(4);
    assertThat(p.lastPull()).isGreaterThanOrEqualTo(before);
    DeviceStatus q = s.devices().stream().filter(d -> d.device().equals("dev-q")).findFirst().orElseThrow();
    assertThat(q.pulls()).isEqualTo(2);
    assertThat(device("dev-a").pushes()).isEqualTo(1);
  }

  private DeviceStatus device(String id) {
    return store().status().devices().stream().filter(d -> d.device().equals(id)).findFirst().orElseThrow();
  }

  @Test
  void theConflictLogPagesByIdOldestFirst() {
    long v = push("dev-a", upsert("dev-a", "items", "r1", 0, cols("qty", 0L))).results().get(0).version();
    push("dev-a", upsert("dev-a", "items", "r1", v, cols("qty", 1L)));
    for (int i = 0; i < 3; i++) {
      push("dev-b" + i, upsert("dev-b" + i, "items", "r1", v, cols("name", "n" + i)));
    }
    List<ConflictRecord> all = store().conflicts(0, 100);
    assertThat(all).hasSize(3);
    assertThat(all).extracting(ConflictRecord::device).containsExactly("dev-b0", "dev-b1", "dev-b2");
    assertThat(all.get(1).id()).isGreaterThan(all.get(0).id());
    assertThat(all.get(2).id()).isGreaterThan(all.get(1).id());
    assertThat(store().conflicts(0, 2)).containsExactlyElementsOf(all.subList(0, 2));
    assertThat(store().conflicts(all.get(1).id(), 100)).containsExactly(all.get(2));
    assertThat(store().conflicts(all.get(2).id(), 100)).isEmpty();
    assertThat(store().status().conflicts()).isEqualTo(3);
  }
}
