package dev.runnel.broker;

import java.nio.charset.StandardCharsets;

/** Kafka's default partitioner for keyed records, so a key lands where Kafka would put it. */
public final class Partitioner {

  private Partitioner() {
  }

  public static int partitionForKey(byte[] key, int partitions) {
    return (murmur2(key) & 0x7fffffff) % partitions;
  }

  public static int partitionForKey(String key, int partitions) {
    return partitionForKey(key.getBytes(StandardCharsets.UTF_8), partitions);
  }

  /** The 32-bit murmur2 hash exactly as Kafka computes it (seed 0x9747b28c). */
  public static int murmur2(byte[] data) {
    int length = data.length;
    int seed = 0x9747b28c;
    final int m = 0x5bd1e995;
    final int r = 24;
    int h = seed ^ length;
    int length4 = length / 4;
    for (int i = 0; i < length4; i++) {
      final int i4 = i * 4;
      int k = (data[i4] & 0xff) + ((data[i4 + 1] & 0xff) << 8) + ((data[i4 + 2] & 0xff) << 16) + ((data[i4 + 3] & 0xff) << 24);
      k *= m;
      k ^= k >>> r;
      k *= m;
      h *= m;
      h ^= k;
    }
    int index = length4 * 4;
    switch (length % 4) {
      case 3:
        h ^= (data[index + 2] & 0xff) << 16;
      case 2:
        h ^= (data[index + 1] & 0xff) << 8;
      case 1:
        h ^= data[index] & 0xff;
        h *= m;
      default:
    }
    h ^= h >>> 13;
    h *= m;
    h ^= h >>> 15;
    return h;
  }
}
