package dev.runnel.durability;

import java.util.List;
import java.util.Objects;

/**
 * A record as the log keeps it. Records handed to {@link PartitionLog#append} have no offset and timestamp yet
 * ({@code -1}); the partition's writer assigns both.
 *
 * @param key            nullable
 * @param contentType    the value's media type, e.g. {@code application/json}
 * @param idempotencyKey nullable; the producer's key for deduplication
 */
public record LogRecord(byte[] key, byte[] value, String contentType, List<Header> headers, String idempotencyKey,
                        long offset, long timestamp) {

  public LogRecord {
    Objects.requireNonNull(value, "value");
    Objects.requireNonNull(contentType, "contentType");
    headers = List.copyOf(headers);
  }

  public static LogRecord of(byte[] key, byte[] value, String contentType, List<Header> headers, String idempotencyKey) {
    return new LogRecord(key, value, contentType, headers, idempotencyKey, -1, -1);
  }

  /** This record as stored at {@code offset} with append time {@code timestamp}. */
  public LogRecord at(long offset, long timestamp) {
    return new LogRecord(key, value, contentType, headers, idempotencyKey, offset, timestamp);
  }

  /** Bytes this record takes in a stored batch; what record-size and byte bounds count. */
  public int encodedSize() {
    int size = 8 + 4 + (key == null ? 0 : key.length) + 4 + value.length + 2 + contentType.length() * 3 + 2 + 2;
    for (Header h : headers) {
      size += 2 + h.name().length() * 3 + 4 + h.value().length;
    }
    if (idempotencyKey != null) {
      size += idempotencyKey.length() * 3;
    }
    return size;
  }
}
