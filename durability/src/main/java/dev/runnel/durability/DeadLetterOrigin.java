package dev.runnel.durability;

import java.util.UUID;

/** Which record of which group a dead letter came from, and where the dead letter is. */
public record DeadLetterOrigin(String group, UUID topicId, int partition, long offset, UUID dlqTopicId, int dlqPartition,
                               long dlqOffset, String reason, long deadLetteredAt) {
}
