package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Topic administration in the broker: a config patch that reaches produce, retention and running groups; partition
 * growth (new key placement, old records kept, groups that see and read the new partitions from their start);
 * statistics; the offset of a time.
 */
class TopicAdminTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final long HOUR = 3_600_000;

  private BrokerFixture f;

  @BeforeEach
  void open() {
    f = new BrokerFixture(PG, o -> o.setWindowRecords(100));
  }

  @AfterEach
  void close() {
    f.close();
  }

  // ---------------------------------------------------------------- partition growth

  @Test
  void afterGrowthKeyedRecordsUseTheNewCountOldRecordsStayAndGroupsReadTheNewPartitionsFromTheirStart() {
    String topic = f.topic(2, TopicConfig.DEFAULT);
    String key = keyThatMoves(2, 6);
    int before = Partitioner.partitionForKey(bytes(key), 2);
    int after = Partitioner.partitionForKey(bytes(key), 6);
    assertThat(before).isNotEqualTo(after);
    // A group reading now, from the latest offsets; another that reads, leaves and is away during the growth.
    String live = unique("g");
    Membership m = join(live, topic, GroupMode.SHARED, true);
    String away = unique("g");
    Membership a = join(away, topic, GroupMode.SHARED, true);
    f.broker.leave(away, a.memberId()).await();
    f.broker.saveAll().await();
    assertThat(produceKeyed(topic, key, "old").partition()).isEqualTo(before);

    TopicDescription grown = f.broker.growPartitions(topic, 6).await();
    assertThat(grown.partitions()).extracting(PartitionOffsets::partition).containsExactly(0, 1, 2, 3, 4, 5);
    ProduceResult fresh = produceKeyed(topic, key, "new");
    assertThat(fresh.partition()).as("murmur2(key) mod 6 now").isEqualTo(after);
    assertThat(fresh.offset()).isZero();
    assertThat(value(f.broker.read(topic, before, 0, 10, 1 << 20).await().records().get(0)))
        .as("the old record stays where it was").isEqualTo("old");

    // The live group gets both: the new partition is read from its start, though the member asked for latest.
    List<String> got = new ArrayList<>();
    for (int i = 0; i < 5 && got.size() < 2; i++) {
      f.poll(live, m, 10, 10_000).forEach(d -> {
        got.add(d.partition() + ":" + BrokerFixture.value(d));
        f.ack(live, d);
      });
    }
    assertThat(got).containsExactlyInAnyOrder(before + ":old", after + ":new");
    assertThat(f.broker.describeGroup(live).await().partitions()).extracting(GroupDescription.PartitionLag::partition)
        .containsExactly(0, 1, 2, 3, 4, 5);

    // The group that was away (nothing of it in memory after a restart) comes back asking for latest: what was
    // produced to the new partition while it was away is not skipped.
    f.restart();
    Membership back = join(away, topic, GroupMode.SHARED, true);
    List<String> back1 = new ArrayList<>();
    for (int i = 0; i < 5 && back1.size() < 2; i++) {
      f.poll(away, back, 10, 10_000).forEach(d -> back1.add(d.partition() + ":" + BrokerFixture.value(d)));
    }
    assertThat(back1).containsExactlyInAnyOrder(before + ":old", after + ":new");
  }

  @Test
  void aPartitionedGroupIsAssignedTheNewPartitionsAndTheDeadLetterTopicGrowsWithItsTopic() {
    String topic = f.topic(1, TopicConfig.DEFAULT);
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.PARTITIONED, false);
    String dlq = topic + "." + group + ".dlq";
    f.produce(topic, "=first");
    reject(group, f.poll(group, m, 10, 10_000).get(0));
    assertThat(f.broker.describeTopic(dlq).await().partitions()).hasSize(1);

    f.broker.growPartitions(topic, 3).await();
    assertThat(f.broker.describeGroup(group).await().members().get(0).assignment())
        .isEqualTo(Map.of(topic, List.of(0, 1, 2)));
    f.broker.produce(topic, List.of(new ProduceRecord(null, bytes("x"), "text/plain", List.of(), 2, null))).await();
    Delivery d = f.poll(group, m, 10, 10_000).get(0);
    assertThat(d.partition()).isEqualTo(2);
    assertThat(f.broker.settle(group, new Outcomes(List.of(), List.of(), List.of(new Outcomes.Reject(d.token(), "bad")),
        List.of())).await().get(0).status()).isEqualTo(OutcomeResult.Status.OK);
    assertThat(f.broker.describeTopic(dlq).await().partitions()).as("same partition count as its topic").hasSize(3);
    DeadLetter letter = f.broker.deadLetters(group, topic, 10).await().get(1);
    assertThat(letter.deadLetterPartition()).isEqualTo(2);
    assertThat(value(letter.record())).isEqualTo("x");
  }

  @Test
  void partitionsNeverShrinkAndTheRefusalsSayWhy() {
    String topic = f.topic(3, TopicConfig.DEFAULT);
    for (int n : new int[] {3, 2, 0, -1, 10_001}) {
      assertThatThrownBy(() -> f.broker.growPartitions(topic, n).await()).as("%d partitions", n)
          .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.INVALID_REQUEST));
    }
    assertThat(f.broker.describeTopic(topic).await().partitions()).hasSize(3);
    assertThatThrownBy(() -> f.broker.growPartitions("nope-" + topic, 4).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.TOPIC_NOT_FOUND));
  }

  // ---------------------------------------------------------------- config

  @Test
  void aPatchChangesOnlyItsKeysAndReachesProduceRetentionDedupAndRunningGroups() {
    JsonObject policy = new JsonObject().put("maxRetries", 3).put("initialDelayMs", HOUR).put("maxDelayMs", HOUR)
        .put("jitter", 0);
    String topic = f.topic(1, new TopicConfig(HOUR, -1, 1_000, 1 << 20).withRetryPolicy(policy));
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED, false);

    // maxRecordBytes: the next produce is held to it; the rest of the config stays.
    TopicConfig small = f.broker.updateTopicConfig(topic, new JsonObject().put("maxRecordBytes", 100)).await().config();
    assertThat(small).isEqualTo(new TopicConfig(HOUR, -1, 1_000, 100).withRetryPolicy(policy));
    assertThatThrownBy(() -> f.produce(topic, "=" + "x".repeat(200)))
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.RECORD_TOO_LARGE));
    assertThat(f.broker.updateTopicConfig(topic, new JsonObject().putNull("maxRecordBytes")).await().config()
        .maxRecordBytes()).as("null: back to the default").isEqualTo(TopicConfig.DEFAULT.maxRecordBytes());

    // retryPolicy merges key by key: no retries now, the delays stay. The running group's next failure uses it.
    f.produce(topic, "=a");
    Delivery d = f.poll(group, m, 10, 10_000).get(0);
    TopicConfig noRetries = f.broker.updateTopicConfig(topic, new JsonObject().put("retryPolicy",
        new JsonObject().put("maxRetries", 0))).await().config();
    assertThat(noRetries.retryPolicy()).isEqualTo(policy.copy().put("maxRetries", 0));
    f.nack(group, d, null);
    assertThat(f.broker.deadLetters(group, topic, 10).await()).as("dead-lettered at its first failure")
        .singleElement().satisfies(l -> assertThat(l.reason()).isEqualTo("max-retries"));

    // dedup, on from now.
    f.broker.updateTopicConfig(topic, new JsonObject().put("dedup", true)).await();
    ProduceRecord once = new ProduceRecord(null, bytes("p"), "text/plain", List.of(), 0, "pay-1");
    ProduceResult first = f.broker.produce(topic, List.of(once)).await().get(0);
    ProduceResult second = f.broker.produce(topic, List.of(once)).await().get(0);
    assertThat(second.duplicate()).isTrue();
    assertThat(second.offset()).isEqualTo(first.offset());

    // retentionMs: nothing is an hour old, then the new five seconds apply at the next pass.
    f.clock.advance(10_000);
    f.produce(topic, "=late");
    f.store.enforceRetention().await();
    assertThat(f.broker.describeTopic(topic).await().partitions().get(0).logStartOffset()).isZero();
    f.broker.updateTopicConfig(topic, new JsonObject().put("retentionMs", 5_000)).await();
    f.store.enforceRetention().await();
    assertThat(f.broker.describeTopic(topic).await().partitions().get(0).logStartOffset())
        .as("the older segment went under the new retention").isEqualTo(first.offset() + 1);
  }

  @Test
  void aBadPatchIsRefusedWholeAndChangesNothing() {
    String topic = f.topic(1, new TopicConfig(HOUR, -1, 1_000, 1 << 20));
    TopicConfig before = f.broker.describeTopic(topic).await().config();
    for (JsonObject bad : List.of(
        new JsonObject().put("maxRecordBytes", 10).put("bogus", 1),
        new JsonObject().putNull("bogus"),
        new JsonObject().put("maxRecordBytes", 10).put("segmentMs", 2_000),
        new JsonObject().put("maxRecordBytes", 10).put("retentionMs", 0),
        new JsonObject().put("retryPolicy", new JsonObject().put("maxRetries", -1)),
        new JsonObject().put("retryPolicy", new JsonObject().putNull("bogus")),
        new JsonObject().put("retryPolicy", 3),
        new JsonObject().put("dedup", "yes"),
        new JsonObject().put("deadLetterTopic", "{topic}/{group}"))) {
      assertThatThrownBy(() -> f.broker.updateTopicConfig(topic, bad).await()).as("%s", bad)
          .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.INVALID_CONFIG));
    }
    assertThat(f.broker.describeTopic(topic).await().config()).isEqualTo(before);
    assertThat(f.broker.updateTopicConfig(topic, new JsonObject().put("segmentMs", 1_000)).await().config())
        .as("segmentMs may be given with its value").isEqualTo(before);
    assertThatThrownBy(() -> f.broker.updateTopicConfig("nope-" + topic, new JsonObject()).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.TOPIC_NOT_FOUND));
  }

  @Test
  void aNewDeadLetterTopicTakesTheNextDeadLettersAndTheEarlierOnesAreStillFoundWhereTheyWent() {
    String topic = f.topic(1, TopicConfig.DEFAULT);
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED, false);
    f.produce(topic, "=a", "=b");
    List<Delivery> both = f.poll(group, m, 10, 10_000);
    reject(group, both.get(0));
    f.broker.updateTopicConfig(topic, new JsonObject().put("deadLetterTopic", "{topic}.{group}.parked")).await();
    reject(group, both.get(1));
    List<DeadLetter> letters = f.broker.deadLetters(group, topic, 10).await();
    assertThat(letters).extracting(DeadLetter::deadLetterTopic)
        .containsExactly(topic + "." + group + ".dlq", topic + "." + group + ".parked");
    assertThat(letters).extracting(l -> value(l.record())).containsExactly("a", "b");
  }

  // ---------------------------------------------------------------- statistics, time

  @Test
  void statisticsCountEachPartitionAndTheTopic() {
    String topic = f.topic(3, TopicConfig.DEFAULT);
    TopicStats empty = f.broker.topicStats(topic).await();
    assertThat(empty.records()).isZero();
    assertThat(empty.oldestTimestamp()).as("no record, no time").isNull();
    assertThat(empty.newestTimestamp()).isNull();
    long t0 = f.clock.millis();
    f.broker.produce(topic, List.of(record(0, "aaaa"), record(0, "bbbb"), record(1, "c"))).await();
    f.clock.advance(5_000);
    f.broker.produce(topic, List.of(record(0, "dddd"))).await();

    TopicStats stats = f.broker.topicStats(topic).await();
    assertThat(stats.topic()).isEqualTo(topic);
    assertThat(stats.records()).isEqualTo(4);
    assertThat(stats.partitions()).extracting(TopicStats.Partition::records).containsExactly(3L, 1L, 0L);
    TopicStats.Partition p0 = stats.partitions().get(0);
    assertThat(p0.highWatermark()).isEqualTo(3);
    assertThat(p0.oldestTimestamp()).isEqualTo(t0);
    assertThat(p0.newestTimestamp()).isEqualTo(t0 + 5_000);
    assertThat(p0.bytes()).isGreaterThan(12);
    assertThat(stats.partitions().get(2).oldestTimestamp()).as("an empty partition has no times").isNull();
    assertThat(stats.partitions().get(2).segments()).isZero();
    assertThat(stats.bytes()).isEqualTo(stats.partitions().stream().mapToLong(TopicStats.Partition::bytes).sum());
    assertThat(stats.oldestTimestamp()).isEqualTo(t0);
    assertThat(stats.newestTimestamp()).isEqualTo(t0 + 5_000);
    assertThat(stats.segments()).isEqualTo(1);
    assertThat(stats.diskBytes()).isGreaterThan(stats.bytes());
  }

  @Test
  void theOffsetOfATimeIsTheFirstRecordAtOrAfterIt() {
    String topic = f.topic(2, TopicConfig.DEFAULT);
    long t0 = f.clock.millis();
    f.broker.produce(topic, List.of(record(0, "a"), record(0, "b"))).await();
    f.clock.advance(1_000);
    f.broker.produce(topic, List.of(record(0, "c"))).await();
    assertThat(f.broker.offsetForTimestamp(topic, 0, 0).await()).isZero();
    assertThat(f.broker.offsetForTimestamp(topic, 0, t0).await()).isZero();
    assertThat(f.broker.offsetForTimestamp(topic, 0, t0 + 1).await()).isEqualTo(2);
    assertThat(f.broker.offsetForTimestamp(topic, 0, t0 + 1_000).await()).isEqualTo(2);
    assertThat(f.broker.offsetForTimestamp(topic, 0, t0 + 1_001).await()).as("none: the high watermark").isEqualTo(3);
    assertThat(f.broker.offsetForTimestamp(topic, 1, t0).await()).isZero();
    assertThatThrownBy(() -> f.broker.offsetForTimestamp(topic, 2, t0).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.PARTITION_OUT_OF_RANGE));
  }

  // ---------------------------------------------------------------- helpers

  private Membership join(String group, String topic, GroupMode mode, boolean latest) {
    return f.broker.join(group, new JoinRequest(List.of(topic), mode, 3_600_000, 30_000, latest)).await();
  }

  private void reject(String group, Delivery d) {
    assertThat(f.broker.settle(group, new Outcomes(List.of(), List.of(), List.of(new Outcomes.Reject(d.token(), "bad")),
        List.of())).await().get(0).status()).isEqualTo(OutcomeResult.Status.OK);
  }

  private ProduceResult produceKeyed(String topic, String key, String value) {
    return f.broker.produce(topic, List.of(new ProduceRecord(bytes(key), bytes(value), "text/plain", List.of(), null,
        null))).await().get(0);
  }

  private static ProduceRecord record(int partition, String value) {
    return new ProduceRecord(null, bytes(value), "text/plain", List.of(), partition, null);
  }

  /** A key whose partition differs between the two counts. */
  private static String keyThatMoves(int from, int to) {
    return IntStream.range(0, 1000).mapToObj(i -> "key-" + i)
        .filter(k -> Partitioner.partitionForKey(bytes(k), from) != Partitioner.partitionForKey(bytes(k), to))
        .findFirst().orElseThrow();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String value(StoredRecord r) {
    return new String(r.value(), StandardCharsets.UTF_8);
  }
}
