package dev.runnel.broker;

import java.util.List;

/**
 * What a topic's log holds, per partition and in total, read from the stored batch rows (cheap whatever the topic's
 * size: no record is read).
 *
 * @param records          retained records: high watermark − log start, summed over the partitions
 * @param bytes            the stored record blocks (records as encoded, with a few bytes per batch)
 * @param diskBytes        what the topic's segment tables take in Postgres, rows, TOAST and indexes: what
 *                         {@code retentionBytes} bounds
 * @param segments         the topic's segment tables (retention drops one at a time)
 * @param oldestTimestamp  the append time of the oldest retained record, null when the topic holds none
 * @param newestTimestamp  the append time of the newest record, null when the topic holds none
 */
public record TopicStats(String topic, List<Partition> partitions, long records, long bytes, long diskBytes,
                         int segments, Long oldestTimestamp, Long newestTimestamp) {

  /**
   * One partition's share.
   *
   * @param records  high watermark − log start
   * @param segments the segment tables holding its retained records
   */
  public record Partition(int partition, long logStartOffset, long highWatermark, long records, long bytes,
                          int segments, Long oldestTimestamp, Long newestTimestamp) {
  }
}
