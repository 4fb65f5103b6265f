package dev.runnel.broker.impl;

import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;

import java.util.UUID;

/**
 * The seam between the broker's API and the units behind it: where a partition's leader and a group's owner are.
 * A single node answers its own units; a cluster answers a route to another node for what that node leads or owns
 * (DESIGN.md section 6), and nothing in front of this seam changes. Thread-safe.
 */
interface Routes {

  PartitionLeader leader(TopicMetadata topic, int partition);

  GroupOwner owner(String group);

  /** Whether this node should lead the partition (it takes the lease when it gets ready). */
  boolean leadsHere(TopicMetadata topic, int partition);

  /** Whether this node should own the group. */
  boolean ownsHere(String group);

  /** The node that should lead the partition under this node's view; null while this node serves nothing. */
  String leaderOf(UUID topicId, int partition);

  /** The node that should own the group under this node's view; null while this node serves nothing. */
  String ownerOf(String group);

  /** Completes once the routes serve (a cluster's: once other nodes can reach this one's units). */
  Future<Void> ready();
}
