package dev.tidesync.core;

/**
 * A dataset's identity on a server: its tenant and its name within the tenant. The same name in
 * two tenants is two datasets; nothing of one is reachable through the other.
 */
public record DatasetId(String tenant, String name) implements Comparable<DatasetId> {
  public DatasetId {
    DatasetNames.checkTenant(tenant);
    DatasetNames.check(name);
  }

  /** A dataset of {@link Storage#DEFAULT_TENANT}: single-tenant servers and tests. */
  public static DatasetId of(String name) {
    return new DatasetId(Storage.DEFAULT_TENANT, name);
  }

  @Override
  public int compareTo(DatasetId o) {
    int c = tenant.compareTo(o.tenant);
    return c != 0 ? c : name.compareTo(o.name);
  }

  @Override
  public String toString() {
    return tenant + "/" + name;
  }
}
