package dev.tidesync.server;

import dev.tidesync.core.DatasetNames;
import dev.tidesync.protocol.ProtocolException;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * What a verified token says: the tenant (the only source of a request's tenant), the datasets it
 * reaches, the device (JWT {@code sub}), the role and its validity window.
 *
 * @param datasets dataset names of the tenant, or {@value #ALL} alone for every dataset of the
 *     tenant, present and future
 */
public record TokenClaims(String tenant, List<String> datasets, String device, Role role, Instant issuedAt,
    Instant notBefore, Instant expiresAt) {
  /** The wildcard dataset: every dataset of the token's tenant. */
  public static final String ALL = "*";
  public static final int MAX_DEVICE_LENGTH = 128;

  public TokenClaims {
    DatasetNames.checkTenant(tenant);
    datasets = List.copyOf(datasets);
    if (datasets.isEmpty()) {
      throw new ProtocolException("bad_token", "a token must name at least one dataset (or '*')");
    }
    for (String d : datasets) {
      if (!d.equals(ALL)) {
        DatasetNames.check(d);
      }
    }
    if (datasets.contains(ALL) && datasets.size() > 1) {
      throw new ProtocolException("bad_token", "'*' stands alone: it already means every dataset of the tenant");
    }
    if (device == null || device.isEmpty() || device.length() > MAX_DEVICE_LENGTH) {
      throw new ProtocolException("bad_device", "device id must be 1.." + MAX_DEVICE_LENGTH + " characters");
    }
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(issuedAt, "issuedAt");
    Objects.requireNonNull(notBefore, "notBefore");
    Objects.requireNonNull(expiresAt, "expiresAt");
  }

  /** True when the token reaches {@code dataset} of its tenant, by name or by {@value #ALL}. */
  public boolean grants(String dataset) {
    return datasets.contains(ALL) || datasets.contains(dataset);
  }

  /** True when the token names {@code dataset} itself (not through the wildcard). */
  public boolean names(String dataset) {
    return datasets.contains(dataset);
  }
}
