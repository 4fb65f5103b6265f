package dev.runnel.transport.amqp;

import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.StoredRecord;
import dev.runnel.broker.TopicConfig;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/** Helpers the interop tests share: reading a topic through the broker, a group's lag, bounded waits. */
final class Interop {

  private Interop() {
  }

  /** A topic whose failed records come back quickly: retries after 50 ms, no jitter (no clock needed). */
  static TopicConfig fastRetries() {
    return TopicConfig.fromJson(new JsonObject().put("retryPolicy",
        new JsonObject().put("maxRetries", 3).put("initialDelayMs", 50).put("backoffMultiplier", 1).put("jitter", 0)));
  }

  /** Every record of every partition of the topic, partition by partition, in offset order. */
  static List<StoredRecord> records(AmqpNode node, String topic) {
    int partitions = node.broker.describeTopic(topic).await().partitions().size();
    List<StoredRecord> all = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      all.addAll(node.broker.read(topic, p, 0, 10_000, 64 * 1024 * 1024).await().records());
    }
    return all;
  }

  /** The group's unprocessed records, over all its partitions. */
  static long lag(AmqpNode node, String group) {
    GroupDescription g = node.broker.describeGroup(group).await();
    return g.partitions().stream().mapToLong(GroupDescription.PartitionLag::records).sum();
  }

  /** Waits (at most 15 s, polling) until the condition holds; fails saying what did not happen. */
  static void await(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + 15_000_000_000L;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting until " + what);
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting until " + what);
      }
    }
  }

  static void awaitLag(AmqpNode node, String group, long expected) {
    await("group " + group + " has lag " + expected, () -> lag(node, group) == expected);
  }
}
