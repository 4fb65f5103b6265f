package dev.runnel.durability;

import java.util.List;

/**
 * What is stored of one group's position in one partition.
 *
 * @param committedOffset -1 when the group never committed in this partition
 * @param skipped         records the group lost to retention before it read them
 */
public record GroupPartitionState(long committedOffset, long skipped, List<ParkedRecord> parked) {
}
