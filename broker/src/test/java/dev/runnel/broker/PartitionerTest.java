package dev.runnel.broker;

import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;

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
        .isEqualTo(BuiltInPartitioner.partitionForKey("customer-42".getBytes(java.nio.charset.StandardCharsets.UTF_8), 16));
    assertThat(Partitioner.partitionForKey("ключ", 7))
        .isEqualTo(BuiltInPartitioner.partitionForKey("ключ".getBytes(java.nio.charset.StandardCharsets.UTF_8), 7));
  }
}
