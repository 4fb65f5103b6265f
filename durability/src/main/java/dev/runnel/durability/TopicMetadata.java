package dev.runnel.durability;

import java.util.UUID;

/**
 * A stored topic. The id is internal: a topic deleted and created again under the same name gets a new one and
 * inherits nothing.
 */
public record TopicMetadata(UUID id, String name, int partitions, TopicConfig config) {
}
