package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.RetryPolicy;
import dev.runnel.broker.TopicNames;
import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;

import java.util.function.LongSupplier;

/**
 * A group's own config ({@link GroupConfig}): loaded from storage once, saved under the group's epoch, and what it
 * makes of a topic's config: the group's retry policy on the topic and the name of its dead-letter topic. Confined to
 * the group's context.
 */
final class GroupSettings {

  private final String group;
  private final GroupStateStore states;
  /** The group lease's epoch, which fences the save. */
  private final LongSupplier epoch;
  /** Null until loaded. */
  private GroupConfig config;

  GroupSettings(String group, GroupStateStore states, LongSupplier epoch) {
    this.group = group;
    this.states = states;
    this.epoch = epoch;
  }

  /** Completes once the group's own config is loaded (at once when it is). */
  Future<Void> load() {
    if (config != null) {
      return Future.succeededFuture();
    }
    return states.groupConfig(group).map(c -> {
      config = GroupConfig.fromJson(c);
      return null;
    });
  }

  /** Stores the group's new config; it applies once stored (the caller then tells the state machines). */
  Future<Void> save(GroupConfig newConfig) {
    return states.saveGroupConfig(group, epoch.getAsLong(), newConfig.toJson()).map(v -> {
      config = newConfig;
      return null;
    });
  }

  /** The group's retry policy on the topic: its own over the topic's. */
  RetryPolicy policyFor(TopicMetadata topic) {
    RetryPolicy topicPolicy = RetryPolicy.fromJson(topic.config().retryPolicy(), RetryPolicy.DEFAULT);
    return own().retryPolicyOver(topicPolicy);
  }

  /** The name of the group's dead-letter topic of the topic (the group's pattern, else the topic's, else default). */
  String deadLetterTopicName(TopicMetadata topic) {
    return own().deadLetterTopicName(topic.config().deadLetterTopic(), topic.name(), group);
  }

  /** Fails INVALID_REQUEST when the topic's dead-letter topic name would not be a valid topic name. */
  void checkDeadLetterName(TopicMetadata topic) {
    String dlq = deadLetterTopicName(topic);
    if (!TopicNames.isValid(dlq)) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "the dead-letter topic name '" + dlq + "' of group "
          + group + " on topic " + topic.name() + " is not a valid topic name; configure deadLetterTopic");
    }
  }

  /** The group's own config; none before it is loaded. */
  private GroupConfig own() {
    return config == null ? GroupConfig.NONE : config;
  }
}
