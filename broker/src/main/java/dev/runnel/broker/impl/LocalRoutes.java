package dev.runnel.broker.impl;

import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;
import io.vertx.core.Future;

import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The routes to this node's own units (a partition's writer with its commit notices, a group's runtime): a single
 * node's routes, since it leads every partition and owns every group, and a clustered node's share. Thread-safe.
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

  @Override
  public boolean leadsHere(TopicMetadata topic, int partition) {
    return true;
  }

  @Override
  public boolean ownsHere(String group) {
    return true;
  }

  @Override
  public String leaderOf(UUID topicId, int partition) {
    return store.incarnation().node();
  }

  @Override
  public String ownerOf(String group) {
    return store.incarnation().node();
  }

  @Override
  public Future<Void> ready() {
    return Future.succeededFuture();
  }

  /**
   * Gives a partition back (a cluster hand-off): the store's writer drains and releases; its unit is dropped after, so
   * a call that comes meanwhile fails on the closing writer rather than making a unit over it again.
   */
  Future<Void> release(TopicPartition partition) {
    Future<Void> released = store.release(partition);
    leaders.remove(partition);
    return released;
  }
}
