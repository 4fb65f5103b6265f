package dev.runnel.broker;

import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Where produce puts records (DESIGN.md section 2, Partitioning), through the broker: Kafka's placement for keys and
 * idempotency keys, and unkeyed requests spread round-robin, one partition per request.
 */
class ProducePartitioningTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private Vertx vertx;
  private LogStore store;
  private Broker broker;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options()).await();
    broker = Broker.create(vertx, store);
  }

  @AfterEach
  void close() {
    store.close().await();
    vertx.close().await();
  }

  private static ProduceRecord record(String key, String idempotencyKey, Integer partition) {
    return new ProduceRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        "v".getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), partition, idempotencyKey);
  }

  private static int kafkaPartition(String key, int partitions) {
    return BuiltInPartitioner.partitionForKey(key.getBytes(StandardCharsets.UTF_8), partitions);
  }

  @Test
  void unkeyedRequestsTakeTurnsOverThePartitionsOneRequestToOnePartition() {
    int n = 5;
    broker.createTopic("spread", n, TopicConfig.DEFAULT).await();
    int previous = -1;
    for (int request = 0; request < 3 * n; request++) {
      List<ProduceRecord> records = List.of(record(null, null, null), record(null, null, null), record(null, null, null));
      List<ProduceResult> results = broker.produce("spread", records).await();
      int partition = results.get(0).partition();
      for (int i = 0; i < results.size(); i++) {
        assertThat(results.get(i).partition()).as("request %d record %d", request, i).isEqualTo(partition);
        assertThat(results.get(i).offset()).as("request %d record %d", request, i)
            .isEqualTo(results.get(0).offset() + i);
      }
      if (previous >= 0) {
        assertThat(partition).as("request %d", request).isEqualTo((previous + 1) % n);
      }
      previous = partition;
    }
    // Three turns over five partitions: each holds three requests of three records.
    assertThat(broker.describeTopic("spread").await().partitions())
        .allSatisfy(p -> assertThat(p.highWatermark()).isEqualTo(9));
  }

  @Test
  void keysThenIdempotencyKeysPlaceRecordsAsKafkaWouldAndAnExplicitPartitionWins() {
    int n = 12;
    broker.createTopic("placed", n, TopicConfig.DEFAULT).await();
    List<ProduceRecord> records = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      records.add(record(null, "idem-" + i, null));          // by idempotency key
      records.add(record("key-" + i, "other-" + i, null));   // the key wins over the idempotency key
      records.add(record("key-" + i, null, (i * 5) % n));    // an explicit partition wins over the key
      records.add(record(null, null, null));                 // the request's unkeyed partition
    }
    List<ProduceResult> results = broker.produce("placed", records).await();
    Integer unkeyed = null;
    Set<Integer> byIdempotencyKey = new TreeSet<>();
    for (int i = 0; i < 40; i++) {
      assertThat(results.get(4 * i).partition()).as("idem-%d", i).isEqualTo(kafkaPartition("idem-" + i, n));
      byIdempotencyKey.add(results.get(4 * i).partition());
      assertThat(results.get(4 * i + 1).partition()).as("key-%d", i).isEqualTo(kafkaPartition("key-" + i, n));
      assertThat(results.get(4 * i + 2).partition()).as("explicit %d", i).isEqualTo((i * 5) % n);
      if (unkeyed == null) {
        unkeyed = results.get(4 * i + 3).partition();
      }
      assertThat(results.get(4 * i + 3).partition()).as("unkeyed %d", i).isEqualTo(unkeyed);
    }
    // Unkeyed records with idempotency keys are spread by them, not sent to the request's partition.
    assertThat(byIdempotencyKey).hasSizeGreaterThan(6);
  }
}
