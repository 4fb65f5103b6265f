package dev.runnel.broker;

/** Where a produced record was stored; {@code duplicate} when it was already stored under its idempotency key. */
public record ProduceResult(int partition, long offset, long timestamp, boolean duplicate) {
}
