package dev.runnel.durability;

/**
 * Where an append's records went. Without duplicates, record {@code i} has offset {@code baseOffset + i} and all share
 * the timestamp. With produce dedup, {@code duplicates[i]} (when not null) says record {@code i} was already stored
 * there, and the other records take consecutive offsets from {@code baseOffset} in order (-1 when all were
 * duplicates).
 */
public record AppendResult(long baseOffset, long timestamp, Duplicate[] duplicates) {

  public AppendResult(long baseOffset, long timestamp) {
    this(baseOffset, timestamp, null);
  }

  /** A record already stored under its idempotency key. */
  public record Duplicate(long offset, long timestamp) {
  }
}
