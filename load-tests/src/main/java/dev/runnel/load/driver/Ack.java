package dev.runnel.load.driver;

/** Where the system says it stored a record. */
public record Ack(int partition, long offset) {
}
