package dev.runnel.durability;

/** The first retained offset and the offset the next committed record will get. */
public record PartitionOffsets(int partition, long logStartOffset, long highWatermark) {
}
