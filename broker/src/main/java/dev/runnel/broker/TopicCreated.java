package dev.runnel.broker;

/** A created topic; {@code created} is false when an identical topic already existed. */
public record TopicCreated(boolean created, TopicDescription topic) {
}
