package dev.runnel.durability;

import java.util.List;

/**
 * What is stored of one group's position in one partition.
 *
 * @param committedOffset -1 when the group never committed in this partition
 * @param skipped         records the group lost to retention before it read them
 * @param deadLettered    offsets that are parked or at or above the committed offset and yet have a dead-letter
 *                        origin: their dead letter is stored, but a stop came before the group saved them as done
 */
public record GroupPartitionState(long committedOffset, long skipped, List<ParkedRecord> parked,
                                  List<Long> deadLettered) {
}
