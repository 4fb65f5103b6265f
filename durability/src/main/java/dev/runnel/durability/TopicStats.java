package dev.runnel.durability;

import java.util.List;

/**
 * What a topic's log holds, read from the batch rows and the segment catalogue (never from the record blocks).
 *
 * @param partitions one per partition, by partition
 * @param diskBytes  the segment tables' total size in Postgres (rows, TOAST and indexes): what {@code retentionBytes}
 *                   bounds
 * @param segments   the topic's segment tables
 */
public record TopicStats(List<Partition> partitions, long diskBytes, int segments) {

  /**
   * @param highWatermark    the offset the next committed record will get
   * @param bytes            the stored record blocks of the partition's retained batches
   * @param segments         the segment tables holding retained batches of the partition
   * @param oldestTimestamp  the append time of the oldest retained record, -1 when the partition holds none
   * @param newestTimestamp  the append time of the newest record, -1 when the partition holds none
   */
  public record Partition(int partition, long logStartOffset, long highWatermark, long bytes, int segments,
                          long oldestTimestamp, long newestTimestamp) {
  }
}
