package dev.runnel.broker.impl;

import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The routes of a single node: it leads every partition and owns every group, so each route is a local unit (a
 * partition's writer with its commit notices, a group's runtime). Thread-safe.
 */
final class LocalRoutes implements Routes {

  private final LogStore store;
  private final DeliveryEngine engine;
  private final CommitNotices notices;
  /** One unit per partition, so its writer publishes each commit once. */
  private final Map<TopicPartition, PartitionLeader> leaders = new ConcurrentHashMap<>();

  LocalRoutes(LogStore store, DeliveryEngine engine, CommitNotices notices) {
    this.store = store;
    this.engine = engine;
    this.notices = notices;
  }

  @Override
  public PartitionLeader leader(TopicMetadata topic, int partition) {
    TopicPartition key = new TopicPartition(topic.id(), partition);
    PartitionLeader leader = leaders.get(key);
    return leader != null ? leader
        : leaders.computeIfAbsent(key, k -> new LocalPartitionLeader(store.partition(topic, partition), k, notices));
  }

  @Override
  public GroupOwner owner(String group) {
    return new LocalGroupOwner(engine, store, group);
  }
}
