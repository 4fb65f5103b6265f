package dev.runnel.durability;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The group-state store writes a group's state only under the group's current epoch (its lease, DESIGN.md section 6):
 * positions, parked rows, dead-letter origins, config, dismissals and the deletion; dead letters too, through the
 * dead-letter topic's writer.
 */
class GroupStateStoreTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private Vertx vertx;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void close() {
    vertx.close().await();
  }

  @Test
  void aSaveUnderAStaleGroupEpochIsFencedAndStoresNothing() throws Exception {
    LogStore first = LogStore.open(vertx, PG.options().setNodeId("node-a")).await();
    TopicMetadata topic = first.createTopic("fenced", 1, TopicConfig.DEFAULT).await().topic();
    GroupLease firstLease = first.groupState().acquireGroup("g").await();
    long stale = firstLease.epoch();
    first.groupState().save("g", topic.id(), 0, stale, 5, 1,
        List.of(new ParkedRecord(10, ParkedRecord.Kind.RETRY, 7, 2, 1000, 100, 200, "boom"),
            new ParkedRecord(11, ParkedRecord.Kind.BLOCKED, 7, 0, 0, 0, 0, null)), List.of()).await();
    try (Connection c = PG.jdbc(); PreparedStatement s = c.prepareStatement("INSERT INTO dead_letter_origins (group_name,"
        + " topic_id, partition, record_offset, dlq_topic_id, dlq_partition, dlq_offset, reason, dead_lettered_at)"
        + " VALUES ('g', ?, 0, 4, ?, 0, 0, 'rejected', 1)")) {
      s.setObject(1, topic.id());
      s.setObject(2, topic.id());
      s.executeUpdate();  // a dead letter at offset 4, which the saves below redrive
    }
    first.close().await();  // releases the group's lease
    assertThat(firstLease.isCurrent()).isFalse();

    // Another node takes the group: its epoch moves on. The partition's writer stays with whoever writes it.
    LogStore second = LogStore.open(vertx, PG.options().setNodeId("node-b")).await();
    try {
      GroupStateStore state = second.groupState();
      long current = state.acquireGroup("g").await().epoch();
      assertThat(current).isGreaterThan(stale);

      assertThatThrownBy(() -> state.save("g", topic.id(), 0, stale, 9, 2,
          List.of(new ParkedRecord(12, ParkedRecord.Kind.RETRY, null, 1, 2000, 300, 300, "late")), List.of(10L),
          List.of(4L)).await())
          .isInstanceOfSatisfying(StorageException.class, e -> {
            assertThat(e.failure()).isEqualTo(StorageFailure.UNAVAILABLE);
            assertThat(e.getMessage()).contains("fenced");
          });
      assertThat(offsetAndSkipped(topic)).as("committed offset and skipped after the fenced save").containsExactly(5L, 1L);
      assertThat(parked(topic)).as("parked rows after the fenced save").containsExactly("10 r 2", "11 b 0");
      assertThat(state.deadLetterOrigin("g", topic.id(), 0, 4).await()).as("the dead letter after the fenced save")
          .isNotNull();

      // Every other write of the group's state is fenced the same way.
      assertThatThrownBy(() -> state.saveGroupConfig("g", stale, new JsonObject().put("deadLetterTopic", "x")).await())
          .hasMessageContaining("fenced");
      assertThat(state.groupConfig("g").await()).isNull();
      assertThatThrownBy(() -> state.dismissDeadLetterOrigins("g", stale, topic.id(), 0, List.of(4L), 5).await())
          .hasMessageContaining("fenced");
      assertThatThrownBy(() -> state.deleteGroup("g", stale).await()).hasMessageContaining("fenced");
      TopicMetadata dlq = second.createTopic("fenced-dlq", 1, TopicConfig.DEFAULT).await().topic();
      PartitionLog dlqLog = second.partition(dlq, 0);
      assertThatThrownBy(() -> dlqLog.appendDeadLetters(List.of(LogRecord.of(null, new byte[] {1}, "x", List.of(),
          null)), List.of(new DeadLetterOrigin("g", topic.id(), 0, 3, null, 0, -1, "rejected", 1)), stale).await())
          .isInstanceOfSatisfying(StorageException.class, e -> assertThat(e.getMessage()).contains("lease moved on"));
      assertThat(state.deadLetterOrigin("g", topic.id(), 0, 3).await()).as("no origin of the fenced dead letter")
          .isNull();
      assertThat(dlqLog.append(List.of(LogRecord.of(null, new byte[] {2}, "x", List.of(), null))).await().baseOffset())
          .as("the dead-letter topic's writer was not fenced, and nothing of the refused write was stored").isZero();
      assertThat(state.deadLetterOrigin("g", topic.id(), 0, 4).await()).isNotNull();

      // The same writes under the current epoch go through: the refusals were the epoch's.
      state.save("g", topic.id(), 0, current, 9, 2,
          List.of(new ParkedRecord(12, ParkedRecord.Kind.RETRY, null, 1, 2000, 300, 300, "late")), List.of(10L),
          List.of(4L)).await();
      assertThat(offsetAndSkipped(topic)).containsExactly(9L, 2L);
      assertThat(parked(topic)).containsExactly("11 b 0", "12 r 1");
      assertThat(state.deadLetterOrigin("g", topic.id(), 0, 4).await()).as("deleted with the same save").isNull();
      state.saveGroupConfig("g", current, new JsonObject().put("deadLetterTopic", "x")).await();
      assertThat(state.groupConfig("g").await()).isNotNull();
      assertThat(dlqLog.appendDeadLetters(List.of(LogRecord.of(null, new byte[] {1}, "x", List.of(), null)),
          List.of(new DeadLetterOrigin("g", topic.id(), 0, 3, null, 0, -1, "rejected", 1)), current).await()
          .baseOffset()).isEqualTo(1);
      assertThat(state.deadLetterOrigin("g", topic.id(), 0, 3).await().dlqOffset()).isEqualTo(1);
      assertThat(state.deleteGroup("g", current).await()).isTrue();
    } finally {
      second.close().await();
    }
  }

  @Test
  void aGroupLeaseIsHeldByOneIncarnationAtATime() {
    LogStore first = LogStore.open(vertx, PG.options().setNodeId("owner")).await();
    LogStore second = LogStore.open(vertx, PG.options().setNodeId("owner")).await();
    try {
      GroupLease lease = first.groupState().acquireGroup("owned").await();
      assertThat(lease.isCurrent()).isTrue();
      assertThat(first.groupState().acquireGroup("owned").await().epoch()).as("the holder takes it again")
          .isGreaterThan(lease.epoch());
      assertThat(lease.isCurrent()).as("the lease at the older epoch").isFalse();
      assertThatThrownBy(() -> second.groupState().acquireGroup("owned").await())
          .isInstanceOfSatisfying(StorageException.class, e -> {
            assertThat(e.failure()).isEqualTo(StorageFailure.UNAVAILABLE);
            assertThat(e.getMessage()).contains("owned by owner (incarnation");
          });
      first.close().await();
      assertThat(second.groupState().acquireGroup("owned").await().isCurrent()).as("released by the close").isTrue();
    } finally {
      first.close().await();
      second.close().await();
    }
  }

  @Test
  void sessionsPassedOnAtAReleaseAreTakenOnceByTheNextAcquisition() {
    LogStore first = LogStore.open(vertx, PG.options().setNodeId("old-owner")).await();
    LogStore second = LogStore.open(vertx, PG.options().setNodeId("new-owner")).await();
    try {
      JsonObject sessions = new JsonObject().put("generation", 3).put("members", new JsonArray().add("m-1"));
      first.groupState().acquireGroup("passed").await().release(sessions).await();
      GroupLease taken = second.groupState().acquireGroup("passed").await();
      assertThat(taken.sessions()).as("passed on").isEqualTo(sessions);
      taken.release().await();
      assertThat(first.groupState().acquireGroup("passed").await().sessions()).as("taken once; a plain release passes"
          + " none").isNull();

      first.groupState().acquireGroup("fenced").await().release().await();
      GroupLease stale = second.groupState().acquireGroup("fenced").await();
      stale.release().await();
      GroupLease current = first.groupState().acquireGroup("fenced").await();
      stale.release(sessions).await();
      assertThat(current.isCurrent()).isTrue();
      assertThat(stored("SELECT sessions::text, owner FROM group_leases WHERE group_name = 'fenced'"))
          .as("a release under an old epoch changes nothing").containsExactly(null, "old-owner");
    } finally {
      first.close().await();
      second.close().await();
    }
  }

  @Test
  void aLeaseSeenExpiredStaysLostWhenALateRenewalLandsAndItsRowIsGivenBack() throws Exception {
    LogStore store = LogStore.open(vertx, PG.options().setNodeId("slow").setLeaseMs(600)).await();
    try {
      GroupLease lease = store.groupState().acquireGroup("revived").await();
      try (Connection c = PG.jdbc()) {
        c.setAutoCommit(false);
        // The row locked: the renewals wait behind this transaction until the lease's local deadline has passed.
        c.createStatement().execute("SELECT 1 FROM group_leases WHERE group_name = 'revived' FOR UPDATE");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (lease.isCurrent()) {
          assertThat(System.nanoTime()).as("waited for the lease's local deadline").isLessThan(deadline);
          Thread.sleep(20);
        }
        c.commit();  // the renewal that waited lands now
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (ownerOf("revived") != null) {
        assertThat(System.nanoTime()).as("waited for the row to be given back").isLessThan(deadline);
        Thread.sleep(50);
      }
      assertThat(lease.isCurrent()).as("lost for good").isFalse();
      assertThat(store.groupState().acquireGroup("revived").await().isCurrent()).as("taken again at once").isTrue();
    } finally {
      store.close().await();
    }
  }

  /** The columns of the one row {@code sql} answers, as text. */
  private static List<String> stored(String sql) {
    try (Connection c = PG.jdbc(); ResultSet rows = c.createStatement().executeQuery(sql)) {
      assertThat(rows.next()).isTrue();
      List<String> columns = new ArrayList<>();
      for (int i = 1; i <= rows.getMetaData().getColumnCount(); i++) {
        columns.add(rows.getString(i));
      }
      return columns;
    } catch (SQLException e) {
      throw new AssertionError(e);
    }
  }

  private static String ownerOf(String group) throws Exception {
    try (Connection c = PG.jdbc(); var s = c.prepareStatement("SELECT owner FROM group_leases WHERE group_name = ?")) {
      s.setString(1, group);
      try (var rows = s.executeQuery()) {
        assertThat(rows.next()).isTrue();
        return rows.getString(1);
      }
    }
  }

  private static List<Long> offsetAndSkipped(TopicMetadata topic) throws Exception {
    try (Connection c = PG.jdbc(); PreparedStatement s = c.prepareStatement(
        "SELECT committed_offset, skipped FROM group_offsets WHERE group_name = 'g' AND topic_id = ? AND partition = 0")) {
      s.setObject(1, topic.id());
      try (ResultSet rs = s.executeQuery()) {
        assertThat(rs.next()).as("a stored position").isTrue();
        return List.of(rs.getLong(1), rs.getLong(2));
      }
    }
  }

  /** "offset kind attempts" of the group's parked rows, by offset. */
  private static List<String> parked(TopicMetadata topic) throws Exception {
    List<String> rows = new ArrayList<>();
    try (Connection c = PG.jdbc(); PreparedStatement s = c.prepareStatement("SELECT record_offset, kind::text, attempts"
        + " FROM parked WHERE group_name = 'g' AND topic_id = ? AND partition = 0 ORDER BY record_offset")) {
      s.setObject(1, topic.id());
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          rows.add(rs.getLong(1) + " " + rs.getString(2) + " " + rs.getInt(3));
        }
      }
    }
    return rows;
  }
}
