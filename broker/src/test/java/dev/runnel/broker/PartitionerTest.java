package dev.runnel.broker;

import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class PartitionerTest {

  @Test
  void matchesKafkasDefaultPartitionerFor10000RandomKeys() {
    Random random = new Random(20261122);
    int[] partitionCounts = {1, 2, 3, 8, 12, 50, 97, 1000};
    for (int i = 0; i < 10_000; i++) {
      byte[] key = new byte[random.nextInt(65)];
      random.nextBytes(key);
      int n = partitionCounts[i % partitionCounts.length];
      assertThat(Partitioner.murmur2(key)).as("murmur2 of key %d", i).isEqualTo(Utils.murmur2(key));
      assertThat(Partitioner.partitionForKey(key, n)).as("partition of key %d among %d", i, n)
          .isEqualTo(BuiltInPartitioner.partitionForKey(key, n));
    }
  }

  @Test
  void stringKeysAreHashedAsTheirUtf8Bytes() {
    assertThat(Partitioner.partitionForKey("customer-42", 16))
        .isEqualTo(BuiltInPartitioner.partitionForKey("customer-42".getBytes(StandardCharsets.UTF_8), 16));
    assertThat(Partitioner.partitionForKey("ключ", 7))
        .isEqualTo(BuiltInPartitioner.partitionForKey("ключ".getBytes(StandardCharsets.UTF_8), 7));
  }

  @Test
  void murmur2GivesKafkasPublishedValues() {
    // The vectors of Kafka's own UtilsTest.testMurmur2, independent of kafka-clients' code at hand.
    Map<String, Integer> vectors = Map.of(
        "21", -973932308,
        "foobar", -790332482,
        "a-little-bit-long-string", -985981536,
        "a-little-bit-longer-string", -1486304829,
        "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971,
        "abc", 479470107);
    vectors.forEach((text, hash) ->
        assertThat(Partitioner.murmur2(text.getBytes(StandardCharsets.US_ASCII))).as(text).isEqualTo(hash));
  }

  @Test
  void aNegativeHashStillGivesAPartitionInRange() {
    // murmur2("foobar") is negative: the sign bit is masked off (Kafka's toPositive), not negated or taken absolute.
    assertThat(Partitioner.partitionForKey("foobar", 1000)).isEqualTo((-790332482 & 0x7fffffff) % 1000).isEqualTo(166);
    assertThat(Partitioner.partitionForKey("foobar", 1)).isZero();
    assertThat(Partitioner.partitionForKey(new byte[0], 7)).isEqualTo(BuiltInPartitioner.partitionForKey(new byte[0], 7));
  }

  @Test
  void idempotencyKeysArePlacedAsTheirUtf8BytesLikeKeys() {
    // An unkeyed record with an idempotency key goes to murmur2(idempotencyKey) mod N (LocalBroker.produce uses the
    // String overload; ProducePartitioningTest checks it through the broker).
    for (int i = 0; i < 1000; i++) {
      String idempotencyKey = "order-" + i + "-\u00e9t\u00e9";
      assertThat(Partitioner.partitionForKey(idempotencyKey, 24)).as(idempotencyKey)
          .isEqualTo(BuiltInPartitioner.partitionForKey(idempotencyKey.getBytes(StandardCharsets.UTF_8), 24));
    }
  }
}
