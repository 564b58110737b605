package dev.tidesync.core;

/**
 * The outcome of merging one incoming change into a row. {@code state} is the row afterwards;
 * {@code changed} whether anything differs from before; {@code outcome} says whose data won.
 */
public record MergeResult(RowState state, boolean changed, Outcome outcome) {
  public enum Outcome {
    /** Every column and the row's existence took the incoming value. */
    INCOMING,
    /** Nothing of the incoming change won: the stored row stays. */
    STORED,
    /** Some columns from each side. */
    MERGED,
    /** The incoming change was already known (same clocks): a duplicate delivery. */
    DUPLICATE
  }
}
