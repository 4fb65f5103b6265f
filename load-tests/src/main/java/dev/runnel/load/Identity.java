package dev.runnel.load;

/** What the harness writes into every value: which run, producer, key and sequence it is, and when it was due. */
public record Identity(int run, int producer, int key, long sequence, long intendedNanos) {
}
