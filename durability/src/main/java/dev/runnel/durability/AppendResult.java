package dev.runnel.durability;

/** Where an append's records went: record {@code i} has offset {@code baseOffset + i}; all share the timestamp. */
public record AppendResult(long baseOffset, long timestamp) {
}
