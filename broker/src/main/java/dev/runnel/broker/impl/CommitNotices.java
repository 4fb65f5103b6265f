package dev.runnel.broker.impl;

import dev.runnel.durability.TopicPartition;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;

import java.util.function.LongConsumer;

/**
 * Commit notices (DESIGN.md section 6): after each commit a partition's leader publishes the partition's new high
 * watermark on the event bus, and every group owner reading the partition subscribes to it, so a leader and the
 * state machines of the groups that read it share no memory and need not be on one node. A partition's notices
 * arrive in order, and each carries the whole high watermark, so a later one covers an earlier one. Any context may
 * publish; a subscriber's handler runs on the context it subscribed from.
 */
final class CommitNotices {

  private final Vertx vertx;

  CommitNotices(Vertx vertx) {
    this.vertx = vertx;
  }

  /** The event-bus address of a partition's notices. */
  static String address(TopicPartition partition) {
    return "runnel.commits." + partition.topicId() + "." + partition.partition();
  }

  void publish(String address, long highWatermark) {
    vertx.eventBus().publish(address, highWatermark);
  }

  /** Calls {@code onHighWatermark} on the caller's context with each notice of the partition until unregistered. */
  MessageConsumer<Long> subscribe(TopicPartition partition, LongConsumer onHighWatermark) {
    return vertx.eventBus().consumer(address(partition), message -> onHighWatermark.accept(message.body()));
  }
}
