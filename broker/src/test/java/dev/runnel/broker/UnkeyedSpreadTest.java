package dev.runnel.broker;

import dev.runnel.durability.LogRecord;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Where {@link Broker#produce} puts records without a partition (DESIGN.md section 2): keyed ones by murmur2 of the
 * key, unkeyed ones with an idempotency key by murmur2 of it, other unkeyed ones of one request together in one
 * partition, round-robin across requests.
 */
class UnkeyedSpreadTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private BrokerFixture f;

  @BeforeEach
  void open() {
    f = new BrokerFixture(PG, o -> { });
  }

  @AfterEach
  void close() {
    f.close();
  }

  private static ProduceRecord record(String key, String value, String idempotencyKey) {
    return new ProduceRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null, idempotencyKey);
  }

  @Test
  void unkeyedRecordsOfOneRequestShareAPartitionAndRequestsGoRoundRobin() {
    String topic = f.topic(3, TopicConfig.DEFAULT);
    List<Integer> partitions = new ArrayList<>();
    for (int request = 0; request < 6; request++) {
      List<ProduceRecord> records = List.of(record(null, request + "-a", null), record(null, request + "-b", null),
          record(null, request + "-c", null));
      List<ProduceResult> results = f.broker.produce(topic, records).await();
      assertThat(results).extracting(ProduceResult::partition).as("request %d: one partition", request)
          .containsOnly(results.get(0).partition());
      partitions.add(results.get(0).partition());
      for (int i = 0; i < 3; i++) {
        LogRecord stored = f.broker.read(topic, results.get(i).partition(), results.get(i).offset(), 1, 1 << 20).await()
            .records().get(0);
        assertThat(new String(stored.value(), StandardCharsets.UTF_8)).isEqualTo(new String(records.get(i).value(),
            StandardCharsets.UTF_8));
      }
    }
    int start = partitions.get(0);
    assertThat(partitions).as("round-robin across requests")
        .containsExactly(start, (start + 1) % 3, (start + 2) % 3, start, (start + 1) % 3, (start + 2) % 3);
  }

  @Test
  void keysAndIdempotencyKeysPlaceTheirRecordsInsideARequestOfUnkeyedOnes() {
    String topic = f.topic(3, TopicConfig.DEFAULT);
    List<ProduceRecord> records = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      records.add(record("key-" + i, "k" + i, null));
      records.add(record(null, "i" + i, "idem-" + i));
      records.add(record(null, "u" + i, null));
    }
    List<ProduceResult> results = f.broker.produce(topic, records).await();
    int unkeyed = results.get(2).partition();
    for (int i = 0; i < 20; i++) {
      assertThat(results.get(3 * i).partition()).isEqualTo(Partitioner.partitionForKey("key-" + i, 3));
      assertThat(results.get(3 * i + 1).partition()).isEqualTo(Partitioner.partitionForKey("idem-" + i, 3));
      assertThat(results.get(3 * i + 2).partition()).isEqualTo(unkeyed);
    }
    assertThat(results.stream().map(ProduceResult::partition).distinct()).as("the keys spread").hasSize(3);
  }
}
