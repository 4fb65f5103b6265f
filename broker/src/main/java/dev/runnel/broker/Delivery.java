package dev.runnel.broker;

/** A record handed to a member under a lease; the token names that one attempt and is the fence for its outcome. */
public record Delivery(String token, String topic, int partition, long offset, int attempt, long leaseExpiresAt,
                       StoredRecord record) {
}
