package dev.tidesync.server.internal;

import dev.tidesync.core.DatasetId;
import dev.tidesync.protocol.ProtocolException;
import dev.tidesync.server.Role;
import dev.tidesync.server.TokenClaims;

/**
 * Who sent a request, from its token (or the insecure mode's stand-in). The tenant of every
 * dataset a request touches comes from here and from nowhere else.
 *
 * @param claims the verified token, or null in insecure mode (tenant {@code default}, admin, any device)
 */
record Caller(String tenant, TokenClaims claims) {
  Role role() {
    return claims == null ? Role.ADMIN : claims.role();
  }

  DatasetId dataset(String name) {
    return new DatasetId(tenant, name);
  }

  boolean grants(String dataset) {
    return claims == null || claims.grants(dataset);
  }

  /**
   * The same 403 whether or not the dataset exists, here or in another tenant: the answer must
   * not tell a caller what exists outside its grant.
   */
  void requireDataset(String dataset, Role needed) {
    if (!role().includes(needed)) {
      throw new ProtocolException("forbidden", 403, "role " + role().wireName() + " may not do this (needs " + needed.wireName() + ")");
    }
    if (!grants(dataset)) {
      throw new ProtocolException("forbidden", 403, "the token does not grant dataset '" + dataset + "'");
    }
  }

  /** A device acts only as itself: the device a request names must be the token's. */
  void requireDevice(String device) {
    if (claims != null && !claims.device().equals(device)) {
      throw new ProtocolException("forbidden", 403, "the token is for device '" + claims.device() + "', not '" + Errors.cut(device) + "'");
    }
  }

  /**
   * Whether a push may create the dataset: admins may, and writers whose token names the dataset
   * itself (the operator who issued it meant that dataset); a wildcard write token may not, so a
   * typo in a dataset name is a 404 instead of a new, empty dataset.
   */
  boolean mayCreate(String dataset) {
    return claims == null || claims.role() == Role.ADMIN || (claims.role() == Role.WRITE && claims.names(dataset));
  }
}
