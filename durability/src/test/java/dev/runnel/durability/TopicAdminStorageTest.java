package dev.runnel.durability;

import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The storage side of the admin operations: config update, partition growth, statistics, group and dead-letter rows. */
class TopicAdminStorageTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private final ManualClock clock = new ManualClock(1_700_000_000_000L);
  private Vertx vertx;
  private LogStore store;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
  }

  @AfterEach
  void close() {
    store.close().await();
    vertx.close().await();
  }

  private static List<LogRecord> records(int n, int size, String idempotencyPrefix) {
    List<LogRecord> list = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      list.add(LogRecord.of(null, new byte[size], "application/octet-stream", List.of(),
          idempotencyPrefix == null ? null : idempotencyPrefix + i));
    }
    return list;
  }

  @Test
  void statisticsCountRecordsBytesSegmentsAndTimesPerPartitionAndSkipWhatRetentionDropped() {
    TopicMetadata topic = store.createTopic("stats", 3, new TopicConfig(10_000, -1, 1_000, 1 << 20)).await().topic();
    long t0 = clock.millis();
    store.partition(topic, 0).append(records(10, 100, null)).await();
    clock.advance(1_000);
    store.partition(topic, 0).append(records(5, 200, null)).await();
    store.partition(topic, 1).append(records(2, 50, null)).await();
    long t1 = clock.millis();

    TopicStats stats = store.stats(topic).await();
    assertThat(stats.partitions()).extracting(TopicStats.Partition::partition).containsExactly(0, 1, 2);
    TopicStats.Partition p0 = stats.partitions().get(0);
    assertThat(p0.logStartOffset()).isZero();
    assertThat(p0.highWatermark()).isEqualTo(15);
    assertThat(p0.segments()).as("two time buckets").isEqualTo(2);
    assertThat(p0.oldestTimestamp()).isEqualTo(t0);
    assertThat(p0.newestTimestamp()).isEqualTo(t1);
    // The blocks: each record's encoding plus a small block header; more than the values, not wildly more.
    assertThat(p0.bytes()).isBetween(10L * 100 + 5 * 200, 10L * 100 + 5 * 200 + 15 * 64);
    TopicStats.Partition p1 = stats.partitions().get(1);
    assertThat(p1.highWatermark()).isEqualTo(2);
    assertThat(p1.segments()).isEqualTo(1);
    TopicStats.Partition p2 = stats.partitions().get(2);
    assertThat(p2).isEqualTo(new TopicStats.Partition(2, 0, 0, 0, 0, -1, -1));
    assertThat(stats.segments()).isEqualTo(2);
    assertThat(stats.diskBytes()).isGreaterThan(p0.bytes() + p1.bytes());

    // Retention drops the first bucket: partition 0 starts at 10 and holds only the newer batch.
    clock.advance(10_000);
    store.enforceRetention().await();
    TopicStats after = store.stats(topic).await();
    TopicStats.Partition q0 = after.partitions().get(0);
    assertThat(q0.logStartOffset()).isEqualTo(10);
    assertThat(q0.highWatermark()).isEqualTo(15);
    assertThat(q0.segments()).isEqualTo(1);
    assertThat(q0.oldestTimestamp()).isEqualTo(t1);
    assertThat(q0.bytes()).isLessThan(p0.bytes()).isGreaterThanOrEqualTo(5L * 200);
    assertThat(after.segments()).isEqualTo(1);
  }

  @Test
  void growingAddsPartitionsAndStartsTheTopicsGroupsAtZeroThereButNeverShrinks() throws Exception {
    TopicMetadata topic = store.createTopic("grown", 2, TopicConfig.DEFAULT).await().topic();
    PartitionLog p0 = store.partition(topic, 0);
    p0.append(records(3, 10, null)).await();
    long readers = store.groupState().acquireGroup("readers").await().epoch();
    store.groupState().save("readers", topic.id(), 0, readers, 3, 0, List.of(), List.of()).await();

    TopicMetadata grown = store.growPartitions(topic.id(), 4).await();
    assertThat(grown.partitions()).isEqualTo(4);
    assertThat(store.topic("grown").await().partitions()).isEqualTo(4);
    PartitionLog p3 = store.partition(grown, 3);
    assertThat(p3.append(records(1, 10, null)).await().baseOffset()).isZero();
    assertThat(storedPositions(grown)).as("the group that reads the topic starts the new partitions at 0")
        .containsExactly("readers/0=3", "readers/2=0", "readers/3=0");

    TopicMetadata same = store.growPartitions(topic.id(), 3).await();
    assertThat(same.partitions()).as("never shrinks").isEqualTo(4);
    assertThat(storedPositions(grown)).hasSize(3);
    store.deleteTopic("grown").await();
    assertThatThrownBy(() -> store.growPartitions(topic.id(), 8).await())
        .isInstanceOfSatisfying(StorageException.class, e -> assertThat(e.failure()).isEqualTo(StorageFailure.TOPIC_NOT_FOUND));
  }

  @Test
  void aConfigUpdateReachesTheWritersAndANewDedupWindowAppliesToStoredKeys() {
    TopicMetadata topic = store.createTopic("dedup", 1, TopicConfig.DEFAULT.withDedup(true, 60_000)).await().topic();
    PartitionLog log = store.partition(topic, 0);
    log.append(records(1, 10, "k")).await();
    clock.advance(30_000);
    assertThat(log.append(records(1, 10, "k")).await().duplicates()).as("within the minute").isNotNull();

    // Shrunk to 10 s: the key, 30 s old, is forgotten at once.
    TopicMetadata shrunk = store.updateTopicConfig("dedup", c -> c.withDedup(true, 10_000)).await();
    assertThat(shrunk.config().dedupWindowMs()).isEqualTo(10_000);
    assertThat(store.topic("dedup").await().config().dedupWindowMs()).isEqualTo(10_000);
    AppendResult again = log.append(records(1, 10, "k")).await();
    assertThat(again.duplicates()).as("the shorter window applies to the key already stored").isNull();
    assertThat(again.baseOffset()).isEqualTo(1);

    // Dedup off: the same key is stored again at once.
    store.updateTopicConfig("dedup", c -> c.withDedup(false, 10_000)).await();
    assertThat(log.append(records(1, 10, "k")).await().duplicates()).isNull();

    // A refused change changes nothing.
    assertThatThrownBy(() -> store.updateTopicConfig("dedup", c -> {
      throw new IllegalArgumentException("no");
    }).await()).isInstanceOf(IllegalArgumentException.class);
    assertThat(store.topic("dedup").await().config().dedup()).isFalse();
    assertThatThrownBy(() -> store.updateTopicConfig("nope", c -> c).await())
        .isInstanceOfSatisfying(StorageException.class, e -> assertThat(e.failure()).isEqualTo(StorageFailure.TOPIC_NOT_FOUND));
  }

  @Test
  void deletingAGroupRemovesAllItsRowsAndNoOneElses() throws Exception {
    TopicMetadata topic = store.createTopic("groups", 1, TopicConfig.DEFAULT).await().topic();
    PartitionLog log = store.partition(topic, 0);
    log.append(records(5, 10, null)).await();
    java.util.Map<String, Long> epochs = new java.util.HashMap<>();
    for (String group : List.of("gone", "stays")) {
      long epoch = store.groupState().acquireGroup(group).await().epoch();
      epochs.put(group, epoch);
      store.groupState().save(group, topic.id(), 0, epoch, 4, 0,
          List.of(new ParkedRecord(1, ParkedRecord.Kind.RETRY, null, 1, 0, 1, 1, "x")), List.of()).await();
      store.groupState().saveGroupConfig(group, epoch, new io.vertx.core.json.JsonObject().put("deadLetterTopic", "d"))
          .await();
    }
    assertThat(store.groupState().topicsOfGroup("gone").await()).containsExactly(topic.id());
    assertThat(store.groupState().groupsOfTopic(topic.id()).await()).containsExactly("gone", "stays");

    assertThat(store.groupState().deleteGroup("gone", epochs.get("gone")).await()).isTrue();
    assertThat(store.groupState().deleteGroup("gone", epochs.get("gone")).await()).as("nothing left").isFalse();
    assertThat(store.groupState().load("gone", topic.id(), 0).await().committedOffset()).isEqualTo(-1);
    assertThat(store.groupState().groupConfig("gone").await()).isNull();
    assertThat(store.groupState().topicsOfGroup("gone").await()).isEmpty();
    assertThat(store.groupState().load("stays", topic.id(), 0).await().parked()).hasSize(1);
    assertThat(store.groupState().groupConfig("stays").await()).isNotNull();
  }

  private static List<String> storedPositions(TopicMetadata topic) throws Exception {
    try (Connection c = PG.jdbc(); PreparedStatement s = c.prepareStatement(
        "SELECT group_name, partition, committed_offset FROM group_offsets WHERE topic_id = ? ORDER BY 1, 2")) {
      s.setObject(1, topic.id());
      List<String> out = new ArrayList<>();
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getString(1) + "/" + rs.getInt(2) + "=" + rs.getLong(3));
        }
      }
      return out;
    }
  }
}
