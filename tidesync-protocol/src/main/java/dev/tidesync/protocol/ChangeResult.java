package dev.tidesync.protocol;

/**
 * The outcome of one change of a push, by its index in the batch. Status is one of
 * {@code applied} (the server's row is now exactly the pushed state, at {@code version}),
 * {@code merged} (accepted, but the server's row differs from the pushed state: the device pulls
 * it), {@code conflict} (the base was stale; resolved by policy and logged, the device pulls the
 * outcome) or {@code rejected} (nothing written; {@code reason} says why, {@code retriable}
 * whether it may succeed later).
 */
public record ChangeResult(int index, String status, long version, String reason, boolean retriable) {
  public static final String APPLIED = "applied";
  public static final String MERGED = "merged";
  public static final String CONFLICT = "conflict";
  public static final String REJECTED = "rejected";

  public boolean rejected() {
    return REJECTED.equals(status);
  }
}
