package dev.runnel.durability;

import java.util.Objects;
import java.util.UUID;

/** One partition of one topic, by the topic's id (stable across renames and re-creations of its name): a map key. */
public record TopicPartition(UUID topicId, int partition) {

  public TopicPartition {
    Objects.requireNonNull(topicId, "topicId");
  }

  @Override
  public String toString() {
    return topicId + "/" + partition;
  }
}
