package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Group administration in the broker: deleting a group (refused while it has members unless forced; everything
 * stored of it goes, its dead-letter topic stays), a seek's dry run (changes nothing) and all-or-nothing seeks, and
 * deleting dead letters (gone from the list and from redrive, their records still done after a restart).
 */
class GroupAdminTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final long HOUR = 3_600_000;
  private static final JsonObject SLOW_RETRIES = new JsonObject().put("maxRetries", 3).put("initialDelayMs", HOUR)
      .put("maxDelayMs", HOUR).put("jitter", 0);

  private BrokerFixture f;

  @BeforeEach
  void open() {
    f = new BrokerFixture(PG, o -> o.setWindowRecords(100));
  }

  @AfterEach
  void close() {
    f.close();
  }

  // ---------------------------------------------------------------- delete a group

  @Test
  void aGroupWithMembersIsDeletedOnlyWhenForcedAndThenNothingOfItRemainsButItsDeadLetterTopic() {
    String topic = f.topic(1, SLOW_RETRIES);
    f.produce(topic, "=a", "=b", "k=c", "=d");
    String group = unique("g");
    Membership m = f.join(group, topic);
    f.broker.configureGroup(group, GroupConfig.fromJson(new JsonObject().put("retryPolicy", new JsonObject().put("maxRetries", 5)))).await();
    List<Delivery> first = f.poll(group, m, 10, 10_000);
    assertThat(first).hasSize(4);
    f.ack(group, first.get(0));
    reject(group, first.get(1));      // a dead letter
    f.nack(group, first.get(2), null);  // a parked retry, an hour away
    // d stays in flight
    assertThat(f.await(() -> f.parkedRows(group, 0), rows -> rows.equals(List.of(2L)))).hasSize(1);
    String dlq = topic + "." + group + ".dlq";

    assertThatThrownBy(() -> f.broker.deleteGroup(group, false).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> {
          assertThat(e.error()).isEqualTo(BrokerError.GROUP_NOT_EMPTY);
          assertThat(e.getMessage()).contains(m.memberId());
        });
    assertThat(f.ack(group, first.get(3))).as("refused: nothing changed").isEqualTo(OutcomeResult.Status.OK);
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 4)).isEqualTo(4);

    f.broker.deleteGroup(group, true).await();
    assertThat(f.storedCommitted(group, 0)).isEqualTo(-1);
    assertThat(f.parkedRows(group, 0)).isEmpty();
    assertThat(count("SELECT count(*) FROM dead_letter_origins WHERE group_name = ?", group)).isZero();
    assertThat(count("SELECT count(*) FROM group_configs WHERE group_name = ?", group)).isZero();
    assertThat(f.broker.listGroups().await()).extracting(GroupDescription::name).doesNotContain(group);
    assertThat(f.broker.describeTopic(dlq).await().partitions().get(0).highWatermark())
        .as("the dead-letter topic stays, with its record").isEqualTo(1);
    assertThatThrownBy(() -> f.fetch(group, m, 10))
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.UNKNOWN_MEMBER));
    assertThat(f.broker.deadLetters(group, topic, 10).await()).isEmpty();

    // A member that joins now starts a new group from its startFrom: every record again, the retry's attempts gone.
    Membership fresh = f.join(group, topic);
    List<Delivery> again = f.poll(group, fresh, 10, 10_000);
    assertThat(again).extracting(Delivery::offset).containsExactly(0L, 1L, 2L, 3L);
    assertThat(again).extracting(Delivery::attempt).containsOnly(1);
    assertThatThrownBy(() -> f.broker.deleteGroup(unique("never"), false).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.NOT_FOUND));
  }

  @Test
  void aGroupKnownOnlyFromStorageIsDeletedAndANewMemberStartsWhereItsStartFromSays() {
    String topic = f.topic(1, SLOW_RETRIES);
    f.produce(topic, "=a", "=b");
    String group = unique("g");
    Membership m = f.join(group, topic);
    f.poll(group, m, 10, 10_000).forEach(d -> f.ack(group, d));
    f.await(() -> f.storedCommitted(group, 0), c -> c == 2);
    f.restart();  // nothing of the group in memory

    assertThat(f.broker.groupTopics(group).await()).as("its topics, from storage").containsExactly(topic);
    f.broker.deleteGroup(group, false).await();
    assertThat(f.storedCommitted(group, 0)).isEqualTo(-1);
    assertThatThrownBy(() -> f.broker.describeGroup(group).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.NOT_FOUND));
    Membership latest = f.broker.join(group, new JoinRequest(List.of(topic), GroupMode.SHARED, 3_600_000, 30_000, true))
        .await();
    f.produce(topic, "=c");
    assertThat(f.poll(group, latest, 10, 10_000)).extracting(BrokerFixture::value).containsExactly("c");
  }

  // ---------------------------------------------------------------- seek: dry run, all or nothing

  @Test
  void aDryRunSaysWhereEachPartitionWouldMoveAndChangesNothing() {
    String topic = f.topic(2, SLOW_RETRIES);
    f.produce(topic, "=a", "=b");
    f.clock.advance(1_000);
    long t1 = f.clock.millis();
    f.produce(topic, "=c", "=d");
    String group = unique("g");
    Membership m = f.join(group, topic);
    List<Delivery> all = f.poll(group, m, 10, 10_000);
    all.subList(0, 3).forEach(d -> f.ack(group, d));
    Delivery held = all.get(3);
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 3)).isEqualTo(3);

    List<SeekResult> dry = f.broker.seek(group, topic, List.of(
        new SeekPosition(0, SeekPosition.Kind.TIMESTAMP, t1),
        new SeekPosition(1, SeekPosition.Kind.LATEST, 0)), true).await();
    assertThat(dry).containsExactly(new SeekResult(0, 3L, 2), new SeekResult(1, 0L, 0));

    // Nothing moved: the lease still counts, nothing comes again, the stored position is the same.
    assertThat(f.ack(group, held)).isEqualTo(OutcomeResult.Status.OK);
    assertThat(f.fetchWhenIdle(group, m, 10)).isEmpty();
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 4)).isEqualTo(4);

    // A group that never read the topic has no position, and a dry run does not give it one.
    String other = unique("g");
    assertThat(f.broker.seek(other, topic, List.of(new SeekPosition(0, SeekPosition.Kind.EARLIEST, 0)), true).await())
        .containsExactly(new SeekResult(0, null, 0));
    f.broker.saveAll().await();
    assertThat(f.storedCommitted(other, 0)).isEqualTo(-1);

    // The real seek answers the same way and moves.
    assertThat(f.broker.seek(group, topic, List.of(new SeekPosition(0, SeekPosition.Kind.TIMESTAMP, t1)), false).await())
        .containsExactly(new SeekResult(0, 4L, 2));
    assertThat(f.poll(group, m, 10, 10_000)).extracting(BrokerFixture::value).containsExactly("c", "d");
  }

  @Test
  void aSeekWithOneBadPartitionMovesNone() {
    String topic = f.topic(2, SLOW_RETRIES);
    f.produce(topic, "=a", "=b");
    String group = unique("g");
    Membership m = f.join(group, topic);
    f.poll(group, m, 10, 10_000).forEach(d -> f.ack(group, d));
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 2)).isEqualTo(2);

    assertThatThrownBy(() -> f.broker.seek(group, topic, List.of(new SeekPosition(0, SeekPosition.Kind.OFFSET, 0),
        new SeekPosition(1, SeekPosition.Kind.OFFSET, 5)), false).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.OFFSET_OUT_OF_RANGE));
    assertThat(f.fetchWhenIdle(group, m, 10)).as("partition 0 did not move").isEmpty();
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 2)).isEqualTo(2);
  }

  // ---------------------------------------------------------------- delete dead letters

  @Test
  void deletedDeadLettersAreNeitherListedNorRedrivenAndTheirRecordsStayDoneAfterARestart() throws Exception {
    String topic = f.topic(1, SLOW_RETRIES);
    f.produce(topic, "=a", "=b", "=c", "=d");
    String group = unique("g");
    Membership m = f.join(group, topic);
    List<Delivery> all = f.poll(group, m, 10, 10_000);
    // a stays in flight, so the committed offset stays at 0 and the dead letters b, c, d are ahead of it.
    for (Delivery d : all.subList(1, 4)) {
      reject(group, d);
    }
    f.broker.saveAll().await();
    assertThat(f.broker.deadLetters(group, topic, 10).await()).extracting(DeadLetter::offset).containsExactly(1L, 2L, 3L);

    assertThat(f.broker.deleteDeadLetters(group, topic, 0, List.of(1L, 3L, 99L)).await()).isEqualTo(2);
    assertThat(f.broker.deleteDeadLetters(group, topic, 0, List.of(1L)).await()).as("gone already").isZero();
    assertThat(f.broker.deadLetters(group, topic, 10).await()).extracting(DeadLetter::offset).containsExactly(2L);
    assertThat(f.broker.redrive(group, topic, true, null, List.of(1L)).await()).as("a deleted one is not redriven").isZero();
    String dlq = topic + "." + group + ".dlq";
    assertThat(f.broker.read(dlq, 0, 0, 10, 1 << 20).await().records()).as("the dead-letter records stay").hasSize(3);

    // After a restart the group gets a again (never acked) but none of the dead-lettered records, deleted or not.
    f.restart();
    Membership back = f.join(group, topic);
    List<Delivery> after = f.poll(group, back, 10, 10_000);
    assertThat(after).extracting(Delivery::offset).containsExactly(0L);
    f.ack(group, after.get(0));
    assertThat(f.fetchWhenIdle(group, back, 10)).isEmpty();
    assertThat(f.await(() -> f.storedCommitted(group, 0), c -> c == 4)).isEqualTo(4);
    assertThat(f.broker.deadLetters(group, topic, 10).await()).extracting(DeadLetter::offset).containsExactly(2L);

    // Now below the committed offset: deleting takes the row itself.
    assertThat(f.broker.deleteDeadLetters(group, topic, null, null).await()).isEqualTo(1);
    assertThat(f.broker.deadLetters(group, topic, 10).await()).isEmpty();
    assertThat(count("SELECT count(*) FROM dead_letter_origins WHERE group_name = ? AND record_offset = 2", group))
        .isZero();

    assertThatThrownBy(() -> f.broker.deleteDeadLetters(group, topic, null, List.of(1L)).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.INVALID_REQUEST));
    assertThatThrownBy(() -> f.broker.deleteDeadLetters(group, topic, 1, null).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.PARTITION_OUT_OF_RANGE));
  }

  /**
   * A redrive to the group is answered once it is saved: a restart right after the answer (nothing else saved, the
   * clock not moved, so no paced save ran) delivers the redriven record again and lists it no longer. {@code partition}
   * narrows the redrive to one partition's dead letters at those offsets.
   */
  @Test
  void aRedriveToTheGroupIsSavedBeforeItsAnswerAndCanBeNarrowedToAPartition() {
    String topic = f.topic(2, SLOW_RETRIES);
    for (int p = 0; p < 2; p++) {
      for (String v : new String[] {"a", "b", "c"}) {
        f.broker.produce(topic, List.of(new ProduceRecord(null, (v + p).getBytes(java.nio.charset.StandardCharsets.UTF_8),
            "text/plain", List.of(), p, null))).await();
      }
    }
    String group = unique("g");
    Membership m = f.join(group, topic);
    List<Delivery> all = new ArrayList<>();
    for (int i = 0; i < 5 && all.size() < 6; i++) {
      all.addAll(f.poll(group, m, 10, 10_000));
    }
    assertThat(all).hasSize(6);
    for (Delivery d : all) {
      if (d.offset() == 1) {
        reject(group, d);  // b0 and b1: dead letters at offset 1 of each partition
      } else {
        f.ack(group, d);
      }
    }
    f.broker.saveAll().await();  // committed offset 3 in both partitions: the dead letters are below it
    assertThat(f.broker.deadLetters(group, topic, 10).await()).extracting(DeadLetter::partition).containsExactlyInAnyOrder(0, 1);

    assertThat(f.broker.redrive(group, topic, true, 1, List.of(1L)).await()).isEqualTo(1);
    f.restart();

    assertThat(f.broker.deadLetters(group, topic, 10).await()).as("partition 0's stays").extracting(DeadLetter::partition)
        .containsExactly(0);
    Membership back = f.join(group, topic);
    List<Delivery> again = f.poll(group, back, 10, 10_000);
    assertThat(again).extracting(d -> d.partition() + ":" + d.offset() + "=" + BrokerFixture.value(d))
        .containsExactly("1:1=b1");
    assertThatThrownBy(() -> f.broker.redrive(group, topic, true, 2, null).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.PARTITION_OUT_OF_RANGE));
  }

  @Test
  void aRecordRepublishedFromTheDeadLettersStaysDoneForItsGroupAfterARestart() {
    String topic = f.topic(1, SLOW_RETRIES);
    f.produce(topic, "=a", "=b");
    String group = unique("g");
    Membership m = f.join(group, topic);
    List<Delivery> both = f.poll(group, m, 10, 10_000);
    reject(group, both.get(1));  // ahead of the committed offset: a is in flight
    assertThat(f.broker.redrive(group, topic, false, null, null).await()).isEqualTo(1);
    f.broker.saveAll().await();

    f.restart();
    Membership back = f.join(group, topic);
    List<String> got = new ArrayList<>();
    for (int i = 0; i < 5 && got.size() < 2; i++) {
      f.poll(group, back, 10, 10_000).forEach(d -> {
        got.add(d.offset() + ":" + BrokerFixture.value(d));
        f.ack(group, d);
      });
    }
    assertThat(f.fetchWhenIdle(group, back, 10)).isEmpty();
    assertThat(got).as("a again and b's copy, not b itself").containsExactly("0:a", "2:b");
  }

  // ---------------------------------------------------------------- helpers

  private void reject(String group, Delivery d) {
    assertThat(f.broker.settle(group, new Outcomes(List.of(), List.of(), List.of(new Outcomes.Reject(d.token(), "bad")),
        List.of())).await().get(0).status()).isEqualTo(OutcomeResult.Status.OK);
  }

  private long count(String sql, String group) {
    try (Connection c = PG.jdbc(); PreparedStatement s = c.prepareStatement(sql)) {
      s.setString(1, group);
      try (ResultSet rs = s.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }
}
