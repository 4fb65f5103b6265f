package dev.runnel.broker;

import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LocalBrokerTest {

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

  private static ProduceRecord keyed(String key, String value) {
    return new ProduceRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(new Header("h", "v".getBytes())), null, null);
  }

  private static BrokerError errorOf(Runnable call) {
    try {
      call.run();
    } catch (BrokerException e) {
      return e.error();
    }
    throw new AssertionError("expected a BrokerException");
  }

  private long[] highWatermarks(String topic) {
    return broker.describeTopic(topic).await().partitions().stream().mapToLong(p -> p.highWatermark()).toArray();
  }

  @Test
  void keyedRecordsLandWhereKafkaWouldPutThemAndResultsKeepRequestOrder() {
    broker.createTopic("orders", 8, TopicConfig.DEFAULT).await();
    List<ProduceRecord> records = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      records.add(keyed("customer-" + (i % 10), "order-" + i));
    }
    List<ProduceResult> results = broker.produce("orders", records).await();
    assertThat(results).hasSize(40);
    for (int i = 0; i < 40; i++) {
      int expected = Partitioner.partitionForKey("customer-" + (i % 10), 8);
      assertThat(results.get(i).partition()).isEqualTo(expected);
      ReadResult read = broker.read("orders", expected, results.get(i).offset(), 1, 1 << 20).await();
      assertThat(new String(read.records().get(0).value(), StandardCharsets.UTF_8)).isEqualTo("order-" + i);
    }
    // Within a partition, records of one request keep their order.
    for (int i = 10; i < 40; i++) {
      assertThat(results.get(i).offset()).isGreaterThan(results.get(i - 10).offset());
    }
  }

  @Test
  void anExplicitPartitionWinsAndUnkeyedRecordsOfOneRequestShareAPartition() {
    broker.createTopic("spread", 4, TopicConfig.DEFAULT).await();
    ProduceRecord explicit = new ProduceRecord("k".getBytes(), "v".getBytes(), "text/plain", List.of(), 3, null);
    assertThat(broker.produce("spread", List.of(explicit)).await().get(0).partition()).isEqualTo(3);
    List<ProduceResult> unkeyed = broker.produce("spread", List.of(keyed(null, "a"), keyed(null, "b"))).await();
    assertThat(unkeyed.get(0).partition()).isEqualTo(unkeyed.get(1).partition());
    assertThat(unkeyed.get(1).offset()).isEqualTo(unkeyed.get(0).offset() + 1);
    ProduceRecord withIdempotencyKey = new ProduceRecord(null, "v".getBytes(), "text/plain", List.of(), null, "id-7");
    assertThat(broker.produce("spread", List.of(withIdempotencyKey)).await().get(0).partition())
        .isEqualTo(Partitioner.partitionForKey("id-7", 4));
  }

  @Test
  void validationIsAllOrNothing() {
    broker.createTopic("strict", 2, new TopicConfig(-1, -1, 3600_000, 100)).await();
    long[] before = highWatermarks("strict");
    ProduceRecord outOfRange = new ProduceRecord(null, "x".getBytes(), "text/plain", List.of(), 2, null);
    assertThat(errorOf(() -> broker.produce("strict", List.of(keyed("a", "ok"), outOfRange)).await()))
        .isEqualTo(BrokerError.PARTITION_OUT_OF_RANGE);
    ProduceRecord tooLarge = keyed("a", "x".repeat(200));
    assertThat(errorOf(() -> broker.produce("strict", List.of(keyed("a", "ok"), tooLarge)).await()))
        .isEqualTo(BrokerError.RECORD_TOO_LARGE);
    assertThat(errorOf(() -> broker.produce("strict", List.of()).await())).isEqualTo(BrokerError.INVALID_RECORD);
    assertThat(highWatermarks("strict")).containsExactly(before);
  }

  @Test
  void topicLifecycleAndItsErrors() {
    TopicCreated created = broker.createTopic("life", 3, TopicConfig.DEFAULT).await();
    assertThat(created.created()).isTrue();
    assertThat(created.topic().partitions()).hasSize(3);
    assertThat(broker.createTopic("life", 3, TopicConfig.DEFAULT).await().created()).isFalse();
    assertThat(errorOf(() -> broker.createTopic("life", 4, TopicConfig.DEFAULT).await())).isEqualTo(BrokerError.TOPIC_EXISTS);
    assertThat(errorOf(() -> broker.createTopic("bad/name", 1, TopicConfig.DEFAULT).await()))
        .isEqualTo(BrokerError.INVALID_TOPIC_NAME);
    assertThat(errorOf(() -> broker.createTopic("zero", 0, TopicConfig.DEFAULT).await())).isEqualTo(BrokerError.INVALID_REQUEST);
    assertThat(errorOf(() -> broker.read("life", 3, 0, 1, 1).await())).isEqualTo(BrokerError.PARTITION_OUT_OF_RANGE);
    assertThat(errorOf(() -> broker.read("life", 0, 1, 1, 1).await())).isEqualTo(BrokerError.OFFSET_OUT_OF_RANGE);
    assertThat(broker.listTopics().await()).extracting(TopicDescription::name).contains("life");
    broker.deleteTopic("life").await();
    assertThat(errorOf(() -> broker.describeTopic("life").await())).isEqualTo(BrokerError.TOPIC_NOT_FOUND);
    assertThat(errorOf(() -> broker.produce("life", List.of(keyed("a", "b"))).await())).isEqualTo(BrokerError.TOPIC_NOT_FOUND);
    assertThat(errorOf(() -> broker.deleteTopic("life").await())).isEqualTo(BrokerError.TOPIC_NOT_FOUND);
  }
}
