package dev.runnel.durability;

/** The outcome of creating a topic: {@code created} is false when a topic of that name already existed. */
public record TopicCreation(boolean created, TopicMetadata topic) {
}
