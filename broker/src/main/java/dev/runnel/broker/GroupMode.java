package dev.runnel.broker;

/** How a group shares work: {@code PARTITIONED} gives each partition to one member (Kafka); {@code SHARED} lets any
 * member take any eligible record, so parallelism is bounded by key cardinality, not the partition count. */
public enum GroupMode {
  PARTITIONED, SHARED
}
