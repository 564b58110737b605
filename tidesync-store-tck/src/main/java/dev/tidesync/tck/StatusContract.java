package dev.tidesync.tck;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tidesync.core.ConflictRecord;
import dev.tidesync.core.DatasetStatus;
import dev.tidesync.core.DeviceStatus;
import java.util.List;
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
