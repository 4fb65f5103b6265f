package dev.runnel.durability;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A lease holder is an incarnation (node name + per-start id): a second store opened under the same node name as a
 * paused first one cannot write until the first's lease expires or is released, unless it proved the first dead; and
 * nothing the first tries afterwards lands, as the writer epoch of each stored batch shows.
 */
class IncarnationTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final String NODE = "restarted-node";

  private Vertx vertx;
  private final List<LogStore> stores = new ArrayList<>();
  private TopicMetadata topic;

  @BeforeEach
  void setUp() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void tearDown() {
    stores.forEach(s -> s.close().await());
    vertx.close().await();
  }

  @Test
  void aNewIncarnationWaitsForItsPausedPredecessorAndNothingThePredecessorTriesLands() throws Exception {
    LogStore first = open(Incarnation.start(NODE));  // "paused" from here on: it renews every 20 s, this test is quicker
    topic = first.createTopic("incarnations", 1, TopicConfig.DEFAULT).await().topic();
    PartitionLog firstLog = first.partition(topic, 0);
    for (int i = 0; i < 3; i++) {
      firstLog.append(List.of(record("first-" + i))).await();
    }
    long firstEpoch = epoch();

    LogStore second = open(Incarnation.start(NODE));
    PartitionLog secondLog = second.partition(topic, 0);
    assertThatThrownBy(() -> secondLog.append(List.of(record("too early"))).await())
        .isInstanceOfSatisfying(StorageException.class, e -> {
          assertThat(e.failure()).isEqualTo(StorageFailure.UNAVAILABLE);
          assertThat(e.getMessage()).contains("leased by " + NODE);
        });

    expireLease();  // the first stayed paused past its lease
    assertThat(secondLog.append(List.of(record("second-0"))).await().baseOffset()).isEqualTo(3);
    long secondEpoch = epoch();
    assertThat(secondEpoch).isGreaterThan(firstEpoch);

    // The first resumes and tries: its write with the old epoch is fenced, and it cannot take the partition back
    // from the other incarnation of its own name while that one's lease is current.
    for (int i = 0; i < 2; i++) {
      assertThatThrownBy(() -> firstLog.append(List.of(record("zombie"))).await())
          .isInstanceOf(StorageException.class);
    }
    secondLog.append(List.of(record("second-1"))).await();

    assertThat(batches()).containsExactly(
        new Batch(0, firstEpoch), new Batch(1, firstEpoch), new Batch(2, firstEpoch),
        new Batch(3, secondEpoch), new Batch(4, secondEpoch));
    assertThat(storedValues()).containsExactly("first-0", "first-1", "first-2", "second-0", "second-1");
  }

  @Test
  void aReleasedLeaseIsTakenAtOnceAndASoleHolderTakesItsOwnNamesLeasesAtOnce() throws Exception {
    LogStore first = open(Incarnation.start(NODE));
    topic = first.createTopic("released", 1, TopicConfig.DEFAULT).await().topic();
    first.partition(topic, 0).append(List.of(record("first"))).await();
    first.close().await();  // a graceful stop releases

    LogStore second = open(Incarnation.start(NODE));
    PartitionLog secondLog = second.partition(topic, 0);
    secondLog.append(List.of(record("second"))).await();
    long secondEpoch = epoch();

    // The second is "killed" now (no release). A third start that proved it dead takes the lease at once.
    LogStore third = open(Incarnation.start(NODE).asSoleHolder());
    third.partition(topic, 0).append(List.of(record("third"))).await();
    long thirdEpoch = epoch();
    assertThat(thirdEpoch).isGreaterThan(secondEpoch);
    assertThatThrownBy(() -> secondLog.append(List.of(record("zombie"))).await()).isInstanceOf(StorageException.class);

    // Proof covers only its own name: another node's current lease still holds.
    LogStore other = open(Incarnation.start("other-node").asSoleHolder());
    assertThatThrownBy(() -> other.partition(topic, 0).append(List.of(record("other"))).await())
        .isInstanceOfSatisfying(StorageException.class,
            e -> assertThat(e.getMessage()).contains("leased by " + NODE));
    assertThat(storedValues()).containsExactly("first", "second", "third");
    assertThat(batches()).extracting(Batch::writerEpoch).isSorted();
  }

  @Test
  void aPartitionGivenBackIsTakenAtOnceByAnotherNodeAndTheGiverCanTakeItAgainLater() throws Exception {
    LogStore giver = open(Incarnation.start("giver"));
    topic = giver.createTopic("handed-off", 1, TopicConfig.DEFAULT).await().topic();
    PartitionLog before = giver.partition(topic, 0);
    before.append(List.of(record("before"))).await();
    TopicPartition tp = new TopicPartition(topic.id(), 0);
    assertThat(giver.writing()).containsExactly(tp);

    giver.release(tp).await();  // a cluster hand-off: no expiry to wait for
    assertThat(giver.writing()).isEmpty();
    assertThatThrownBy(() -> before.append(List.of(record("late"))).await())
        .isInstanceOfSatisfying(StorageException.class, e -> assertThat(e.failure()).isEqualTo(StorageFailure.UNAVAILABLE));
    LogStore taker = open(Incarnation.start("taker"));
    PartitionLog taken = taker.partition(topic, 0);
    taken.append(List.of(record("taken"))).await();

    taker.release(tp).await();  // and back: the giver's next use makes a new writer that acquires again
    giver.partition(topic, 0).append(List.of(record("back"))).await();
    assertThat(storedValues()).containsExactly("before", "taken", "back");
    assertThat(batches()).extracting(Batch::writerEpoch).isSorted().doesNotHaveDuplicates();
  }

  private LogStore open(Incarnation incarnation) {
    LogStore store = LogStore.open(vertx, PG.options().setLeaseMs(60_000).setIncarnation(incarnation)).await();
    stores.add(store);
    return store;
  }

  private static LogRecord record(String value) {
    return LogRecord.of(null, value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null);
  }

  record Batch(long baseOffset, long writerEpoch) {
  }

  private List<Batch> batches() throws SQLException {
    List<Batch> batches = new ArrayList<>();
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT record_offset, writer_epoch FROM runnel_records('" + topic.name() + "') ORDER BY record_offset")) {
      while (rs.next()) {
        batches.add(new Batch(rs.getLong(1), rs.getLong(2)));
      }
    }
    return batches;
  }

  private List<String> storedValues() throws SQLException {
    List<String> values = new ArrayList<>();
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT convert_from(value, 'UTF8') FROM runnel_records('" + topic.name() + "') ORDER BY record_offset")) {
      while (rs.next()) {
        values.add(rs.getString(1));
      }
    }
    return values;
  }

  private long epoch() throws SQLException {
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT epoch FROM partitions WHERE topic_id = '" + topic.id() + "'")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private void expireLease() throws SQLException {
    try (Connection c = PG.jdbc()) {
      c.createStatement().executeUpdate("UPDATE partitions SET lease_until = now() - interval '1 second'"
          + " WHERE topic_id = '" + topic.id() + "'");
    }
  }
}
