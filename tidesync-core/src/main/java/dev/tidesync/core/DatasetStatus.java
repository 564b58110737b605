package dev.tidesync.core;

import java.util.List;
import java.util.Map;

/** A dataset's current version, row counts per table, devices and conflict count. */
public record DatasetStatus(String name, long version, Map<String, Long> rows, List<DeviceStatus> devices, long conflicts) {
  public DatasetStatus {
    rows = Map.copyOf(rows);
    devices = List.copyOf(devices);
  }
}
