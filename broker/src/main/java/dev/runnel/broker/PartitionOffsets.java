package dev.runnel.broker;

/** The first retained offset of a partition and the offset its next committed record will get. */
public record PartitionOffsets(int partition, long logStartOffset, long highWatermark) {
}
