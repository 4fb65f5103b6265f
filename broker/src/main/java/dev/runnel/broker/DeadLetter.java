package dev.runnel.broker;

/** A dead letter of a group: where the original record was, why it went, and the dead-letter record itself. */
public record DeadLetter(String topic, int partition, long offset, String deadLetterTopic, int deadLetterPartition,
                         long deadLetterOffset, String reason, long deadLetteredAt, StoredRecord record) {
}
