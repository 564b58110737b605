package dev.tidesync.core;

/**
 * One resolved conflict. {@code stored}, {@code incoming} and {@code result} are JSON objects of
 * the row's values in protocol v1 value encoding ({@code null} for an absent row), so a losing
 * version can be looked at and written back by hand.
 */
public record ConflictRecord(
    long id,
    String table,
    String pk,
    String policy,
    String outcome,
    String device,
    long at,
    long baseVersion,
    long storedVersion,
    String stored,
    String incoming,
    String result) {}
