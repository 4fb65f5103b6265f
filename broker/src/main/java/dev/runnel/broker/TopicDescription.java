package dev.runnel.broker;

import java.util.List;

/** A topic with the offsets of each partition. */
public record TopicDescription(String name, List<PartitionOffsets> partitions, TopicConfig config) {
}
