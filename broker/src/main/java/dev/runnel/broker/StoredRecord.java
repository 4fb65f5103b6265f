package dev.runnel.broker;

import java.util.List;
import java.util.Objects;

/**
 * A record as the log keeps it, where it is and when it was appended.
 *
 * @param key            nullable
 * @param contentType    the value's media type, e.g. {@code application/json}
 * @param idempotencyKey nullable; the producer's key for deduplication
 * @param timestamp      append time, epoch milliseconds
 */
public record StoredRecord(byte[] key, byte[] value, String contentType, List<Header> headers, String idempotencyKey,
                           long offset, long timestamp) {
  public StoredRecord {
    Objects.requireNonNull(value, "value");
    Objects.requireNonNull(contentType, "contentType");
    headers = List.copyOf(headers);
  }
}
