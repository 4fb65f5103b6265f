package dev.runnel.broker;

import java.util.List;
import java.util.Objects;

/**
 * A record a producer sends.
 *
 * @param key            nullable; keyed records go to {@code murmur2(key) mod N}, as Kafka's default partitioner
 * @param partition      nullable; an explicit partition wins over the key
 * @param idempotencyKey nullable; an unkeyed record with one goes to {@code murmur2(idempotencyKey) mod N}
 */
public record ProduceRecord(byte[] key, byte[] value, String contentType, List<Header> headers, Integer partition,
                            String idempotencyKey) {
  public ProduceRecord {
    Objects.requireNonNull(value, "value");
    Objects.requireNonNull(contentType, "contentType");
    headers = List.copyOf(headers);
  }
}
