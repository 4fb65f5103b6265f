package dev.runnel.broker;

import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ProduceDedupTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private final ManualClock clock = new ManualClock(1_900_000_000_000L);
  private Vertx vertx;
  private LogStore store;
  private Broker broker;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    broker = Broker.create(vertx, store, new BrokerOptions().setClock(clock).setTickMs(0));
  }

  @AfterEach
  void close() {
    broker.close();
    store.close().await();
    vertx.close().await();
  }

  private static ProduceRecord record(String key, String value, String idempotencyKey) {
    return new ProduceRecord(key == null ? null : key.getBytes(), value.getBytes(), "text/plain", List.of(), null,
        idempotencyKey);
  }

  private long highWatermark(String topic, int partition) {
    return broker.describeTopic(topic).await().partitions().get(partition).highWatermark();
  }

  @Test
  void aKeySeenWithinTheWindowAnswersTheOriginalAndStoresNothing() {
    broker.createTopic("dedup", 4, TopicConfig.DEFAULT.withDedup(true, 60_000)).await();
    ProduceResult first = broker.produce("dedup", List.of(record(null, "v1", "order-1"))).await().get(0);
    assertThat(first.duplicate()).isFalse();
    assertThat(first.partition()).isEqualTo(Partitioner.partitionForKey("order-1", 4));
    long hw = highWatermark("dedup", first.partition());

    clock.advance(30_000);
    List<ProduceResult> again = broker.produce("dedup",
        List.of(record(null, "v1-retry", "order-1"), record(null, "v2", "order-2"))).await();
    assertThat(again.get(0)).isEqualTo(new ProduceResult(first.partition(), first.offset(), first.timestamp(), true));
    assertThat(again.get(1).duplicate()).isFalse();
    assertThat(highWatermark("dedup", first.partition())).as("nothing new stored for the duplicate")
        .isEqualTo(hw + (again.get(1).partition() == first.partition() ? 1 : 0));

    // Within one request, the second occurrence is a duplicate of the first.
    List<ProduceResult> twice = broker.produce("dedup",
        List.of(record("k", "a", "same"), record("k", "b", "same"))).await();
    assertThat(twice.get(1)).isEqualTo(new ProduceResult(twice.get(0).partition(), twice.get(0).offset(),
        twice.get(0).timestamp(), true));

    // After the window the key is new again.
    clock.advance(60_001);
    ProduceResult late = broker.produce("dedup", List.of(record(null, "v1-late", "order-1"))).await().get(0);
    assertThat(late.duplicate()).isFalse();
    assertThat(late.offset()).isGreaterThan(first.offset());
  }

  @Test
  void concurrentDuplicatesAndARestartStillAnswerTheOriginal() {
    broker.createTopic("dedup2", 1, TopicConfig.DEFAULT.withDedup(true, 600_000)).await();
    List<Future<List<ProduceResult>>> sends = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      sends.add(broker.produce("dedup2", List.of(record(null, "payload", "same-key"))));
    }
    Future.all(sends).await();
    long originals = sends.stream().filter(f -> !f.result().get(0).duplicate()).count();
    assertThat(originals).isEqualTo(1);
    long offset = sends.get(0).result().get(0).offset();
    assertThat(sends).allSatisfy(f -> assertThat(f.result().get(0).offset()).isEqualTo(offset));
    assertThat(highWatermark("dedup2", 0)).isEqualTo(1);

    // A restart forgets the in-memory keys; the stored ones still answer.
    broker.close();
    store.close().await();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    broker = Broker.create(vertx, store, new BrokerOptions().setClock(clock).setTickMs(0));
    ProduceResult after = broker.produce("dedup2", List.of(record(null, "payload", "same-key"))).await().get(0);
    assertThat(after.duplicate()).isTrue();
    assertThat(after.offset()).isEqualTo(offset);
    assertThat(highWatermark("dedup2", 0)).isEqualTo(1);
  }

  @Test
  void withoutDedupTheSameKeyIsStoredAgain() {
    broker.createTopic("nodedup", 1, TopicConfig.DEFAULT).await();
    broker.produce("nodedup", List.of(record(null, "x", "k"))).await();
    ProduceResult second = broker.produce("nodedup", List.of(record(null, "x", "k"))).await().get(0);
    assertThat(second.duplicate()).isFalse();
    assertThat(second.offset()).isEqualTo(1);
  }

  /** Webhook deliveries: deduplicated on a topic without dedup, within its window, across a restart; others are not. */
  @Test
  void aDeduplicatedProduceDeduplicatesOnATopicWithoutDedup() {
    broker.createTopic("hooks", 2, TopicConfig.DEFAULT.withDedup(false, 120_000)).await();
    ProduceResult first = broker.produce("hooks", List.of(record(null, "delivery", "msg_1")), true).await().get(0);
    assertThat(first.duplicate()).isFalse();
    clock.advance(60_000);
    ProduceResult retry = broker.produce("hooks", List.of(record(null, "delivery", "msg_1")), true).await().get(0);
    assertThat(retry).isEqualTo(new ProduceResult(first.partition(), first.offset(), first.timestamp(), true));
    // A plain produce with the same key on this topic is not deduplicated, and is not remembered as a key either.
    ProduceResult plain = broker.produce("hooks", List.of(record(null, "other", "msg_2"))).await().get(0);
    assertThat(plain.duplicate()).isFalse();
    assertThat(broker.produce("hooks", List.of(record(null, "other", "msg_2")), true).await().get(0).duplicate())
        .isFalse();

    broker.close();
    store.close().await();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    broker = Broker.create(vertx, store, new BrokerOptions().setClock(clock).setTickMs(0));
    assertThat(broker.produce("hooks", List.of(record(null, "delivery", "msg_1")), true).await().get(0))
        .isEqualTo(retry);
    assertThat(highWatermark("hooks", first.partition()) + highWatermark("hooks", 1 - first.partition()))
        .isEqualTo(3);
    clock.advance(60_001);
    assertThat(broker.produce("hooks", List.of(record(null, "delivery", "msg_1")), true).await().get(0).duplicate())
        .as("past the window").isFalse();
    assertThatThrownBy(() -> broker.produce("hooks", List.of(record(null, "no key", null)), true).await())
        .hasMessageContaining("idempotency key");
  }
}
