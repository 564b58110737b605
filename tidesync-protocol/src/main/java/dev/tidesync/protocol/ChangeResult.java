package dev.tidesync.protocol;

/**
 * The outcome of one change of a push, by its index in the batch. Status is one of
 * {@code applied}, {@code conflict} (applied after resolving a conflict; see the conflict log)
 * or {@code rejected} (nothing written; {@code reason} says why, {@code retriable} whether it may
 * succeed later).
 */
public record ChangeResult(int index, String status, long version, String reason, boolean retriable) {
  public static final String APPLIED = "applied";
  public static final String CONFLICT = "conflict";
  public static final String REJECTED = "rejected";

  public boolean rejected() {
    return REJECTED.equals(status);
  }
}
