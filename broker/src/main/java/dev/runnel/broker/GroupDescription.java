package dev.runnel.broker;

import java.util.List;
import java.util.Map;

/** A group: its members, who owns which partition, and its lag in each partition. */
public record GroupDescription(String name, GroupMode mode, int generation, List<Member> members,
                              List<PartitionLag> partitions) {

  public record Member(String memberId, List<String> topics, Map<String, List<Integer>> assignment) {
  }

  /**
   * @param records     unprocessed records: those after the committed offset plus the parked ones
   * @param oldestAgeMs age of the oldest unprocessed record, 0 when there is none
   * @param assignedTo  the owning member in partitioned mode, else null
   */
  public record PartitionLag(String topic, int partition, long committedOffset, long highWatermark, long records,
                             long oldestAgeMs, long skipped, String assignedTo) {
  }
}
