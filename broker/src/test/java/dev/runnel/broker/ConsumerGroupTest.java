package dev.runnel.broker;

import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.Checkpoint;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConsumerGroupTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final AtomicInteger NAMES = new AtomicInteger();
  private static final JsonObject NO_JITTER = new JsonObject().put("maxRetries", 3).put("initialDelayMs", 1000)
      .put("backoffMultiplier", 2).put("maxDelayMs", 300_000).put("jitter", 0);

  private final ManualClock clock = new ManualClock(1_800_000_000_000L);
  private Vertx vertx;
  private LogStore store;
  private LocalBroker broker;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    broker = broker(10);
  }

  private LocalBroker broker(int window) {
    return (LocalBroker) Broker.create(vertx, store,
        new BrokerOptions().setClock(clock).setTickMs(0).setWindowRecords(window).setRandomSeed(7L));
  }

  @AfterEach
  void close() {
    broker.close();
    store.close().await();
    vertx.close().await();
  }

  private static String unique(String prefix) {
    return prefix + NAMES.incrementAndGet();
  }

  private String topic(int partitions, JsonObject retryPolicy) {
    String name = unique("t");
    broker.createTopic(name, partitions, TopicConfig.DEFAULT.withRetryPolicy(retryPolicy)).await();
    return name;
  }

  private List<ProduceResult> produce(String topic, String... keyValues) {
    List<ProduceRecord> records = new ArrayList<>();
    for (String kv : keyValues) {
      String[] parts = kv.split("=", 2);
      records.add(new ProduceRecord(parts[0].isEmpty() ? null : parts[0].getBytes(StandardCharsets.UTF_8),
          parts[1].getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), 0, null));
    }
    return broker.produce(topic, records).await();
  }

  private Membership join(String group, String topic, GroupMode mode) {
    return broker.join(group, new JoinRequest(List.of(topic), mode, 3_600_000, 30_000, false)).await();
  }

  private List<Delivery> fetch(String group, Membership m, int max) {
    return broker.fetch(group, m.memberId(), max, 1 << 20, 0).await();
  }

  private static String value(Delivery d) {
    return new String(d.record().value(), StandardCharsets.UTF_8);
  }

  private OutcomeResult.Status ack(String group, Delivery d) {
    return broker.settle(group, new Outcomes(List.of(d.token()), List.of(), List.of(), List.of())).await().get(0).status();
  }

  private OutcomeResult.Status nack(String group, Delivery d, String error) {
    return broker.settle(group, new Outcomes(List.of(), List.of(new Outcomes.Nack(d.token(), null, error)), List.of(),
        List.of())).await().get(0).status();
  }

  private void advance(long ms) {
    clock.advance(ms);
    broker.tick().await();
  }

  private static String header(StoredRecord r, String name) {
    return r.headers().stream().filter(h -> h.name().equals(name)).map(h -> new String(h.value(), StandardCharsets.UTF_8))
        .findFirst().orElse(null);
  }

  /**
   * A link-bound member (an AMQP consumer link): its leave is a disconnect, free only maxFreeReleases times per record;
   * past that each leave counts an attempt, so a record that keeps crashing its consumer is dead-lettered in the end.
   */
  @Test
  void aLinkBoundMembersLeaveIsFreeOnlyMaxFreeReleasesTimesPerRecord() {
    String topic = topic(1, new JsonObject().put("maxRetries", 1).put("initialDelayMs", 0).put("jitter", 0));
    produce(topic, "k=poison");
    String group = unique("g");
    JoinRequest linkBound = new JoinRequest(List.of(topic), null, 3_600_000, 1_800_000, false,
        new JoinRequest.LinkBound(2));
    List<Integer> attempts = new ArrayList<>();
    for (int crash = 0; crash < 10; crash++) {
      Membership m = broker.join(group, linkBound).await();
      List<Delivery> got = fetch(group, m, 10);
      if (got.isEmpty()) {
        broker.leave(group, m.memberId()).await();
        break;
      }
      attempts.add(got.get(0).attempt());
      // a lease of 30 min: more than the 10-minute cap of a member of its own
      assertThat(got.get(0).leaseExpiresAt()).isEqualTo(clock.millis() + 1_800_000);
      broker.leave(group, m.memberId()).await();  // the consumer crashed holding it
      broker.tick().await();
    }
    // 2 free releases, then each disconnect counts: attempt 2 is the last (maxRetries 1), then the dead letter.
    assertThat(attempts).containsExactly(1, 1, 1, 2);
    broker.idle().await();
    assertThat(broker.deadLetters(group, topic, 10).await()).singleElement()
        .satisfies(d -> assertThat(d.reason()).isEqualTo("max-retries"));
  }

  @Test
  void aJoinWithoutAModeTakesTheGroupsModeOrSharedForANewGroup() {
    String topic = topic(2, NO_JITTER);
    String shared = unique("g");
    broker.join(shared, new JoinRequest(List.of(topic), null, 3_600_000, 30_000, false)).await();
    assertThat(broker.describeGroup(shared).await().mode()).isEqualTo(GroupMode.SHARED);

    String partitioned = unique("g");
    join(partitioned, topic, GroupMode.PARTITIONED);
    Membership second = broker.join(partitioned, new JoinRequest(List.of(topic), null, 3_600_000, 30_000, false)).await();
    assertThat(broker.describeGroup(partitioned).await().mode()).isEqualTo(GroupMode.PARTITIONED);
    assertThat(second.assignment().get(topic)).hasSize(1);
  }

  @Test
  void aGroupsDeadLetterTopicExistsFromItsFirstJoin() {
    String topic = topic(3, NO_JITTER);
    String group = unique("g");
    join(group, topic, GroupMode.SHARED);
    TopicDescription dlq = broker.describeTopic(topic + "." + group + ".dlq").await();
    assertThat(dlq.partitions()).hasSize(3);
  }

  /** What an SSE stream resumed with Last-Event-ID sends again: the member's leases, with their tokens. */
  @Test
  void aMembersLeasesAreListedWithTheirTokensUntilSettledOrExpired() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "a=1", "b=2", "c=3");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    Membership other = join(group, topic, GroupMode.SHARED);
    List<Delivery> handed = fetch(group, m, 3);
    assertThat(handed).hasSize(3);
    assertThat(broker.leased(group, m.memberId()).await()).isEqualTo(handed);
    assertThat(broker.leased(group, other.memberId()).await()).isEmpty();
    assertThat(broker.inFlight(group, m.memberId()).await()).isEqualTo(3);
    assertThat(broker.inFlight(group, other.memberId()).await()).isZero();

    assertThat(ack(group, handed.get(0))).isEqualTo(OutcomeResult.Status.OK);
    assertThat(nack(group, handed.get(1), "later")).isEqualTo(OutcomeResult.Status.OK);
    assertThat(broker.leased(group, m.memberId()).await()).containsExactly(handed.get(2));
    assertThat(broker.inFlight(group, m.memberId()).await()).isEqualTo(1);
    // The listed token is the one handed out: it still settles the delivery.
    assertThat(broker.leased(group, m.memberId()).await().get(0).token()).isEqualTo(handed.get(2).token());

    advance(30_001);  // the lease ran out
    assertThat(broker.leased(group, m.memberId()).await()).isEmpty();
    assertThatThrownBy(() -> broker.leased(group, "no-such-member").await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.UNKNOWN_MEMBER));
  }

  @Test
  void aPoisonKeyIsRetriedOnScheduleAndDeadLetteredWhileOtherKeysFlowPastAWholeWindow() {
    String topic = topic(1, NO_JITTER);
    String group = unique("g");
    List<String> sent = new ArrayList<>();
    sent.add("A=a0");
    for (int i = 0; i < 25; i++) {
      sent.add("B=b" + i);  // 25 records of key B: more than the window of 10
    }
    sent.add("A=a1");
    produce(topic, sent.toArray(new String[0]));
    Membership m = join(group, topic, GroupMode.SHARED);

    List<Delivery> first = fetch(group, m, 100);
    assertThat(first).extracting(ConsumerGroupTest::value).containsExactly("a0", "b0");  // one record per key at a time
    Delivery a0 = first.get(0);
    assertThat(a0.attempt()).isEqualTo(1);
    assertThat(nack(group, a0, "boom 1")).isEqualTo(OutcomeResult.Status.OK);

    // While a0 waits for its retry, key B flows through the whole backlog, past more than a window.
    List<String> bSeen = new ArrayList<>();
    Delivery b = first.get(1);
    while (b != null) {
      bSeen.add(value(b));
      assertThat(ack(group, b)).isEqualTo(OutcomeResult.Status.OK);
      List<Delivery> next = fetch(group, m, 100);
      assertThat(next).extracting(ConsumerGroupTest::value).doesNotContain("a0", "a1");
      b = next.isEmpty() ? null : next.get(0);
    }
    assertThat(bSeen).hasSize(25).first().isEqualTo("b0");
    assertThat(bSeen).last().isEqualTo("b24");

    // Retry n waits min(maxDelay, initial * multiplier^(n-1)): 1 s, 2 s, 4 s.
    long[] waits = {1000, 2000, 4000};
    Delivery current = a0;
    for (int retry = 1; retry <= 3; retry++) {
      advance(waits[retry - 1] - 1);
      assertThat(fetch(group, m, 10)).as("retry %d not before its time", retry).isEmpty();
      advance(1);
      List<Delivery> again = fetch(group, m, 10);
      assertThat(again).as("retry %d due", retry).extracting(ConsumerGroupTest::value).containsExactly("a0");
      current = again.get(0);
      assertThat(current.attempt()).isEqualTo(retry + 1);
      assertThat(nack(group, current, "boom " + (retry + 1))).isEqualTo(OutcomeResult.Status.OK);
    }
    // maxRetries 3 = 4 deliveries: a0 is dead-lettered, and only then does a1 come.
    List<Delivery> after = fetch(group, m, 10);
    assertThat(after).extracting(ConsumerGroupTest::value).containsExactly("a1");
    assertThat(after.get(0).attempt()).isEqualTo(1);

    List<DeadLetter> letters = broker.deadLetters(group, topic, 10).await();
    assertThat(letters).hasSize(1);
    DeadLetter letter = letters.get(0);
    assertThat(letter.offset()).isZero();
    assertThat(letter.deadLetterTopic()).isEqualTo(topic + "." + group + ".dlq");
    assertThat(letter.reason()).isEqualTo("max-retries");
    StoredRecord envelope = letter.record();
    assertThat(new String(envelope.key(), StandardCharsets.UTF_8)).isEqualTo("A");
    assertThat(new String(envelope.value(), StandardCharsets.UTF_8)).isEqualTo("a0");
    assertThat(header(envelope, "runnel.dlq.topic")).isEqualTo(topic);
    assertThat(header(envelope, "runnel.dlq.partition")).isEqualTo("0");
    assertThat(header(envelope, "runnel.dlq.offset")).isEqualTo("0");
    assertThat(header(envelope, "runnel.dlq.group")).isEqualTo(group);
    assertThat(header(envelope, "runnel.dlq.attempts")).isEqualTo("4");
    assertThat(header(envelope, "runnel.dlq.last-error")).isEqualTo("boom 4");
    assertThat(header(envelope, "runnel.dlq.reason")).isEqualTo("max-retries");
    assertThat(Long.parseLong(header(envelope, "runnel.dlq.first-failure"))).isEqualTo(1_800_000_000_000L);
    assertThat(Long.parseLong(header(envelope, "runnel.dlq.last-failure"))).isEqualTo(1_800_000_000_000L + 1000 + 2000 + 4000);
    // The DLQ topic itself holds it, once.
    assertThat(broker.read(letter.deadLetterTopic(), 0, 0, 10, 1 << 20).await().records()).hasSize(1);
  }

  @Test
  void rejectDeadLettersAtOnceAndRedriveToOneGroupDoesNotReachAnother() {
    String topic = topic(2, NO_JITTER);
    produce(topic, "k=x", "k=y");
    String g1 = unique("g");
    String g2 = unique("g");
    Membership m1 = join(g1, topic, GroupMode.SHARED);
    Membership m2 = join(g2, topic, GroupMode.SHARED);

    Delivery x1 = fetch(g1, m1, 1).get(0);
    assertThat(broker.settle(g1, new Outcomes(List.of(), List.of(), List.of(new Outcomes.Reject(x1.token(), "bad")),
        List.of())).await().get(0).status()).isEqualTo(OutcomeResult.Status.OK);
    assertThat(fetch(g1, m1, 10)).extracting(ConsumerGroupTest::value).containsExactly("y");
    for (Delivery d : fetch(g2, m2, 10)) {
      ack(g2, d);
    }
    for (Delivery d : fetch(g2, m2, 10)) {
      ack(g2, d);
    }
    assertThat(broker.deadLetters(g1, topic, 10).await()).singleElement()
        .satisfies(l -> assertThat(l.reason()).isEqualTo("rejected"));

    assertThat(broker.redrive(g1, topic, true, null, null).await()).isEqualTo(1);
    List<Delivery> again = fetch(g1, m1, 10);
    assertThat(again).extracting(ConsumerGroupTest::value).containsExactly("x");
    assertThat(fetch(g2, m2, 10)).as("the other group gets nothing").isEmpty();
    assertThat(broker.deadLetters(g1, topic, 10).await()).isEmpty();
  }

  @Test
  void redriveToTheTopicRepublishesForEveryGroup() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "k=x");
    String g1 = unique("g");
    Membership m1 = join(g1, topic, GroupMode.SHARED);
    Delivery x = fetch(g1, m1, 1).get(0);
    broker.settle(g1, new Outcomes(List.of(), List.of(), List.of(new Outcomes.Reject(x.token(), "bad")), List.of())).await();
    assertThat(broker.redrive(g1, topic, false, null, List.of(0L)).await()).isEqualTo(1);
    List<StoredRecord> log = broker.read(topic, 0, 0, 10, 1 << 20).await().records();
    assertThat(log).hasSize(2);
    assertThat(new String(log.get(1).value(), StandardCharsets.UTF_8)).isEqualTo("x");
    assertThat(log.get(1).headers()).extracting(Header::name).noneMatch(n -> n.startsWith("runnel.dlq."));
    assertThat(fetch(g1, m1, 10)).extracting(ConsumerGroupTest::value).containsExactly("x");
  }

  @Test
  void seekToATimestampReplaysFromTheRightOffsetAndInvalidatesTokens() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "=one", "=two");
    clock.advance(10_000);
    long secondBatch = clock.millis();
    produce(topic, "=three");
    clock.advance(10_000);
    produce(topic, "=four");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    List<Delivery> all = fetch(group, m, 10);
    assertThat(all).hasSize(4);
    for (Delivery d : all.subList(0, 3)) {
      ack(group, d);
    }
    Delivery outstanding = all.get(3);

    broker.seek(group, topic, List.of(new SeekPosition(0, SeekPosition.Kind.TIMESTAMP, secondBatch))).await();
    assertThat(ack(group, outstanding)).as("a token from before the seek").isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
    List<Delivery> replay = fetch(group, m, 10);
    assertThat(replay).extracting(Delivery::offset).containsExactly(2L, 3L);
    replay.forEach(d -> ack(group, d));

    broker.seek(group, topic, List.of(new SeekPosition(0, SeekPosition.Kind.EARLIEST, 0))).await();
    assertThat(fetch(group, m, 10)).extracting(Delivery::offset).containsExactly(0L, 1L, 2L, 3L);
    broker.seek(group, topic, List.of(new SeekPosition(0, SeekPosition.Kind.LATEST, 0))).await();
    assertThat(fetch(group, m, 10)).isEmpty();
    assertThatThrownBy(() -> broker.seek(group, topic, List.of(new SeekPosition(0, SeekPosition.Kind.OFFSET, 99))).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.OFFSET_OUT_OF_RANGE));
  }

  /**
   * A rebalance ends the old owner's leases of the partitions that moved: its outcomes answer LEASE_EXPIRED (the
   * token is the fence, DESIGN.md section 4), those of the partition it kept still count. The broker never answers
   * STALE_GENERATION: no call of its API carries a generation, so there is nothing stale to refuse by that code.
   */
  @Test
  void aRebalanceEndsTheOldOwnersLeasesOfPartitionsThatMoved() {
    String topic = topic(2, NO_JITTER);
    produce(topic, "=p0");
    broker.produce(topic, List.of(new ProduceRecord(null, "p1".getBytes(), "text/plain", List.of(), 1, null))).await();
    String group = unique("g");
    Membership a = join(group, topic, GroupMode.PARTITIONED);
    assertThat(a.assignment().get(topic)).containsExactly(0, 1);
    List<Delivery> held = fetch(group, a, 10);
    assertThat(held).hasSize(2);

    Membership b = join(group, topic, GroupMode.PARTITIONED);
    assertThat(b.generation()).isGreaterThan(a.generation());
    GroupDescription description = broker.describeGroup(group).await();
    int moved = description.partitions().stream().filter(p -> b.memberId().equals(p.assignedTo())).findFirst()
        .orElseThrow().partition();
    Delivery stale = held.stream().filter(d -> d.partition() == moved).findFirst().orElseThrow();
    Delivery kept = held.stream().filter(d -> d.partition() != moved).findFirst().orElseThrow();
    assertThat(ack(group, stale)).isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
    assertThat(ack(group, kept)).isEqualTo(OutcomeResult.Status.OK);
    // The new owner gets the record again, with no attempt counted for the revoked lease.
    List<Delivery> redelivered = fetch(group, b, 10);
    assertThat(redelivered).singleElement().satisfies(d -> {
      assertThat(d.offset()).isEqualTo(stale.offset());
      assertThat(d.attempt()).isEqualTo(1);
    });
  }

  @Test
  void leaseExpiryCountsAnAttemptLeavingDoesNotAndAckingTwiceIsOk() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "=r");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    Delivery first = fetch(group, m, 1).get(0);
    advance(30_001);  // the lease (30 s) expires: retry 1 after 1 s
    assertThat(ack(group, first)).isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
    assertThat(fetch(group, m, 1)).isEmpty();
    advance(1000);
    Delivery second = fetch(group, m, 1).get(0);
    assertThat(second.attempt()).isEqualTo(2);

    broker.leave(group, m.memberId()).await();
    assertThat(ack(group, second)).isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
    Membership n = join(group, topic, GroupMode.SHARED);
    Delivery third = fetch(group, n, 1).get(0);
    assertThat(third.attempt()).as("leaving counted no attempt").isEqualTo(2);
    assertThat(ack(group, third)).isEqualTo(OutcomeResult.Status.OK);
    assertThat(ack(group, third)).isEqualTo(OutcomeResult.Status.OK);

    String other = unique("g");
    join(other, topic, GroupMode.SHARED);
    assertThat(ack(other, third)).as("a token of another group").isEqualTo(OutcomeResult.Status.UNKNOWN_TOKEN);
    assertThat(broker.settle(group, new Outcomes(List.of("not-a-token"), List.of(), List.of(), List.of())).await()
        .get(0).status()).isEqualTo(OutcomeResult.Status.UNKNOWN_TOKEN);
    assertThatThrownBy(() -> broker.fetch(group, m.memberId(), 1, 1000, 0).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.UNKNOWN_MEMBER));
  }

  @Test
  void aRecordAckedPastTheCommittedOffsetKeepsItsFailuresAcrossARestart() throws Exception {
    String topic = topic(1, NO_JITTER);
    produce(topic, "a=head", "=retried");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    List<Delivery> first = fetch(group, m, 10);
    assertThat(first).extracting(Delivery::offset).containsExactly(0L, 1L);
    broker.saveAll().await();  // a save now: the next one within SAVE_INTERVAL_MS of the clock is held back
    assertThat(nack(group, first.get(1), "once")).isEqualTo(OutcomeResult.Status.OK);
    clock.advance(1_000);  // the retry is due; no tick, so nothing has saved the nack yet
    Delivery retry = fetch(group, m, 10).get(0);
    assertThat(retry.offset()).isEqualTo(1);
    assertThat(retry.attempt()).isEqualTo(2);
    // Done, but past the committed offset (offset 0 is still in flight), so the ack is not stored.
    assertThat(ack(group, retry)).isEqualTo(OutcomeResult.Status.OK);
    broker.saveAll().await();

    restart();
    Membership again = join(group, topic, GroupMode.SHARED);
    broker.idle().await();
    // Both come again; the retried record with the failure counted before its ack, not as a first attempt.
    assertThat(fetch(group, again, 10)).extracting(Delivery::offset, Delivery::attempt)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(0L, 1), org.assertj.core.groups.Tuple.tuple(1L, 2));
  }

  @Test
  void attemptsRetrySchedulesAndPositionsSurviveARestart() throws Exception {
    String topic = topic(1, NO_JITTER);
    produce(topic, "k=first", "=second", "k=third");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    List<Delivery> got = fetch(group, m, 10);
    assertThat(got).extracting(ConsumerGroupTest::value).containsExactly("first", "second");
    nack(group, got.get(0), "e1");
    ack(group, got.get(1));
    advance(1000);
    Delivery retry = fetch(group, m, 10).get(0);
    assertThat(retry.attempt()).isEqualTo(2);
    nack(group, retry, "e2");  // retry 2 due 2 s later
    long due = clock.millis() + 2000;
    awaitCommitted(group, 3);
    // The second nack's row is stored (the offset alone may have been saved before it).
    awaitParked(group, 0, 2, due);

    restart();

    Membership again = join(group, topic, GroupMode.SHARED);
    // The state machine loads asynchronously (the parked row first, its record later), so a fetch at once would be
    // empty whatever the stored schedule says. Just before the stored not-before, once the engine has loaded and has
    // nothing in flight, nothing is eligible.
    advance(due - clock.millis() - 1);
    broker.idle().await();
    assertThat(broker.fetch(group, again.memberId(), 10, 1 << 20, 0).await())
        .as("retry 2 not before its stored time, and third waits behind first").isEmpty();
    advance(1);
    // Parked rows come back from Postgres without their records; a due one is read from the log, so long-poll.
    List<Delivery> dueNow = broker.fetch(group, again.memberId(), 10, 1 << 20, 10_000).await();
    assertThat(dueNow).extracting(ConsumerGroupTest::value).containsExactly("first");
    assertThat(dueNow.get(0).attempt()).as("attempts survive the restart").isEqualTo(3);
    ack(group, dueNow.get(0));
    // "third" was parked as blocked; its content is read from the log when its turn comes, so long-poll for it.
    List<Delivery> third = broker.fetch(group, again.memberId(), 10, 1 << 20, 10_000).await();
    assertThat(third).extracting(ConsumerGroupTest::value).containsExactly("third");
    assertThat(third.get(0).attempt()).isEqualTo(1);
  }

  /**
   * A token handed out before a restart names a lease that is gone: every outcome with it answers LEASE_EXPIRED
   * (nothing changed), before the group is loaded again and after, even when the new incarnation hands the same
   * record out again under the same lease number.
   */
  @Test
  void aTokenFromBeforeARestartAnswersLeaseExpired() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "k=r");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    Delivery old = fetch(group, m, 1).get(0);

    restart();

    assertThat(ack(group, old)).as("before the group is loaded again").isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
    Membership again = join(group, topic, GroupMode.SHARED);
    List<Delivery> fresh = broker.fetch(group, again.memberId(), 10, 1 << 20, 10_000).await();
    assertThat(fresh).singleElement().satisfies(d -> {
      assertThat(d.offset()).isEqualTo(old.offset());
      assertThat(d.attempt()).as("an in-flight lease at the restart counts no attempt").isEqualTo(1);
    });
    List<OutcomeResult> results = broker.settle(group, new Outcomes(List.of(old.token()),
        List.of(new Outcomes.Nack(old.token(), null, "late")), List.of(new Outcomes.Reject(old.token(), "late")),
        List.of(new Outcomes.Extend(old.token(), 60_000L)), List.of(old.token()))).await();
    assertThat(results).extracting(OutcomeResult::status).as("ack, nack, reject, extend, release")
        .containsOnly(OutcomeResult.Status.LEASE_EXPIRED).hasSize(5);
    assertThat(broker.deadLetters(group, topic, 10).await()).as("the old reject changed nothing").isEmpty();
    assertThat(ack(group, fresh.get(0))).isEqualTo(OutcomeResult.Status.OK);
  }

  @Test
  void lagCountsUnprocessedRecordsAndTheAgeOfTheOldest() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "=a", "=b", "=c");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.PARTITIONED);
    clock.advance(5_000);
    GroupDescription.PartitionLag lag = broker.describeGroup(group).await().partitions().get(0);
    assertThat(lag.records()).isEqualTo(3);
    assertThat(lag.oldestAgeMs()).isEqualTo(5_000);
    assertThat(lag.assignedTo()).isEqualTo(m.memberId());
    fetch(group, m, 10).forEach(d -> ack(group, d));
    lag = broker.describeGroup(group).await().partitions().get(0);
    assertThat(lag.records()).isZero();
    assertThat(lag.committedOffset()).isEqualTo(3);
    assertThat(broker.listGroups().await()).extracting(GroupDescription::name).contains(group);
  }

  @Test
  void unkeyedRecordsAreIndependentAndKeysKeepTheirOrderAcrossMembers() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "=u1", "=u2", "k=k1", "k=k2", "=u3");
    String group = unique("g");
    Membership a = join(group, topic, GroupMode.SHARED);
    Membership b = join(group, topic, GroupMode.SHARED);
    List<Delivery> toA = fetch(group, a, 2);
    List<Delivery> toB = fetch(group, b, 10);
    assertThat(toA).extracting(ConsumerGroupTest::value).containsExactly("u1", "u2");
    assertThat(toB).extracting(ConsumerGroupTest::value).containsExactly("k1", "u3");  // k2 waits for k1
    Map<String, Delivery> byValue = new HashMap<>();
    toB.forEach(d -> byValue.put(value(d), d));
    ack(group, byValue.get("k1"));
    assertThat(fetch(group, a, 10)).extracting(ConsumerGroupTest::value).containsExactly("k2");
  }

  @Test
  void committedOffsetsArePersistedAndGroupsAreValidated() throws Exception {
    String topic = topic(1, NO_JITTER);
    produce(topic, "=a", "=b");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    fetch(group, m, 10).forEach(d -> ack(group, d));
    awaitCommitted(group, 2);
    assertThatThrownBy(() -> broker.join("bad group!", new JoinRequest(List.of(topic), GroupMode.SHARED, 1000, 1000, false))
        .await()).isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.INVALID_REQUEST));
    assertThatThrownBy(() -> join(group, "missing-topic", GroupMode.SHARED))
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.TOPIC_NOT_FOUND));
    assertThatThrownBy(() -> join(group, topic, GroupMode.PARTITIONED))
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.INVALID_REQUEST));
  }

  @Test
  void releaseGivesADeliveryBackWithoutAnAttemptAndReadOnlyCallsCreateNoGroup() {
    String topic = topic(3, NO_JITTER);
    for (int p = 0; p < 3; p++) {
      broker.produce(topic, List.of(new ProduceRecord(null, "x".repeat(1000).getBytes(), "text/plain", List.of(), p, null)))
          .await();
    }
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    // maxBytes holds across partitions: one ~1 KB record, not one per partition.
    List<Delivery> one = broker.fetch(group, m.memberId(), 10, 1, 0).await();
    assertThat(one).hasSize(1);
    assertThat(broker.settle(group, new Outcomes(List.of(), List.of(), List.of(), List.of(), List.of(one.get(0).token())))
        .await().get(0).status()).isEqualTo(OutcomeResult.Status.OK);
    List<Delivery> again = fetch(group, m, 10);
    assertThat(again).hasSize(3);
    assertThat(again).allSatisfy(d -> assertThat(d.attempt()).isEqualTo(1));

    String ghost = unique("ghost");
    assertThatThrownBy(() -> broker.describeGroup(ghost).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.NOT_FOUND));
    assertThat(broker.deadLetters(ghost, topic, 10).await()).isEmpty();
    assertThatThrownBy(() -> broker.describeGroup(ghost).await())
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.NOT_FOUND));
    assertThat(broker.listGroups().await()).extracting(GroupDescription::name).doesNotContain(ghost);
  }

  @Test
  void parkedRecordsAreDeadLetteredAsExpiredBeforeRetentionDropsTheirSegment() {
    String topic = unique("t");
    JsonObject slowRetry = NO_JITTER.copy().put("initialDelayMs", 3_600_000).put("maxDelayMs", 3_600_000);
    broker.createTopic(topic, 1, new TopicConfig(5_000, -1, 1_000, 1 << 20).withRetryPolicy(slowRetry)).await();
    produce(topic, "k=stuck", "k=behind", "=free");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    List<Delivery> got = fetch(group, m, 10);
    assertThat(got).extracting(ConsumerGroupTest::value).containsExactly("stuck", "free");
    nack(group, got.get(0), "try later");  // retried in an hour: parked, with "behind" blocked behind it
    ack(group, got.get(1));
    clock.advance(10_000);
    produce(topic, "=new");

    store.enforceRetention().await();

    List<DeadLetter> letters = broker.deadLetters(group, topic, 10).await();
    assertThat(letters).extracting(DeadLetter::offset).containsExactlyInAnyOrder(0L, 1L);
    assertThat(letters).allSatisfy(l -> assertThat(l.reason()).isEqualTo("expired"));
    assertThat(letters).extracting(l -> new String(l.record().value(), StandardCharsets.UTF_8))
        .containsExactlyInAnyOrder("stuck", "behind");
    assertThat(broker.describeTopic(topic).await().partitions().get(0).logStartOffset()).isEqualTo(3);
    assertThat(fetch(group, m, 10)).extracting(ConsumerGroupTest::value).containsExactly("new");
  }

  @Test
  void aRecordWhoseAttemptsAreUsedUpIsDeadLetteredInsteadOfDeliveredAgain() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "k=tired");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);
    nack(group, fetch(group, m, 1).get(0), "first");
    advance(1000);
    nack(group, fetch(group, m, 1).get(0), "second");  // 2 attempts used; the topic allows 4
    broker.configureGroup(group, GroupConfig.fromJson(new JsonObject().put("retryPolicy", new JsonObject().put("maxRetries", 1)))).await();
    advance(2000);
    assertThat(broker.fetch(group, m.memberId(), 10, 1 << 20, 0).await()).as("not delivered a third time").isEmpty();
    broker.tick().await();
    List<DeadLetter> letters = broker.deadLetters(group, topic, 10).await();
    assertThat(letters).singleElement().satisfies(l -> {
      assertThat(l.reason()).isEqualTo("max-retries");
      assertThat(header(l.record(), "runnel.dlq.attempts")).isEqualTo("2");
      assertThat(header(l.record(), "runnel.dlq.last-error")).isEqualTo("second");
    });
  }

  @Test
  void anExtendedLeaseOutlivesItsFirstDeadlineAndExpiresAtTheNewOne() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "k=slow");
    String group = unique("g");
    Membership m = join(group, topic, GroupMode.SHARED);  // 30 s leases
    Delivery first = fetch(group, m, 1).get(0);
    assertThat(broker.settle(group, new Outcomes(List.of(), List.of(), List.of(),
        List.of(new Outcomes.Extend(first.token(), 60_000L)))).await().get(0).status()).isEqualTo(OutcomeResult.Status.OK);
    advance(40_000);
    assertThat(fetch(group, m, 1)).as("past the first deadline, still leased").isEmpty();
    advance(20_000);  // the extended deadline: the lease expires, and the retry waits its 1 s backoff
    assertThat(fetch(group, m, 1)).isEmpty();
    advance(1000);
    Delivery second = fetch(group, m, 1).get(0);
    assertThat(second.attempt()).isEqualTo(2);
    assertThat(ack(group, first)).isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
    assertThat(ack(group, second)).isEqualTo(OutcomeResult.Status.OK);
    assertThat(ack(group, second)).as("acking twice").isEqualTo(OutcomeResult.Status.OK);
  }

  /**
   * A long poll answered with records may fetch again from its own callback, as in-process consumers do; with one
   * event loop that call runs inline, in the middle of waking the long polls. Every other long poll with something to
   * take must still get it, and nothing may throw.
   */
  @Test
  @ExtendWith(VertxExtension.class)
  void aConsumerFetchingAgainFromItsCallbackDoesNotHoldUpTheOtherLongPolls(VertxTestContext test) throws Throwable {
    broker.close();
    store.close().await();
    vertx.close().await();
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    broker = broker(10);
    String topic = topic(1, NO_JITTER);
    String quiet = topic(1, NO_JITTER);
    String group = unique("g");
    Membership a = join(group, topic, GroupMode.SHARED);
    Membership b = join(group, topic, GroupMode.SHARED);
    Membership c = join(group, quiet, GroupMode.SHARED);
    List<Throwable> unhandled = new CopyOnWriteArrayList<>();
    vertx.exceptionHandler(unhandled::add);
    List<Delivery> got = new CopyOnWriteArrayList<>();
    Checkpoint answered = test.checkpoint(2);
    for (Membership m : List.of(a, b)) {
      // The answered member makes c wait in a long poll of its own, from the callback.
      broker.fetch(group, m.memberId(), 1, 1 << 20, 60_000).onComplete(test.succeeding(d -> {
        broker.fetch(group, c.memberId(), 1, 1 << 20, 60_000);
        got.addAll(d);
        answered.flag();
      }));
    }
    broker.describeGroup(group).await();  // both long polls are registered (the group runs its calls in order)
    produce(topic, "k1=x", "k2=y");
    assertThat(test.awaitCompletion(10, TimeUnit.SECONDS)).as("both long polls answered").isTrue();
    if (test.failed()) {
      throw test.causeOfFailure();
    }
    assertThat(got).extracting(ConsumerGroupTest::value).containsExactlyInAnyOrder("x", "y");
    assertThat(unhandled).isEmpty();
  }

  /** Throws every in-memory structure away and starts again on the same Postgres. */
  private void restart() {
    broker.close();
    store.close().await();
    vertx.close().await();
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    broker = broker(10);
  }

  /** Saves what the engine's pacing holds back, then checks the group's parked row at {@code offset} (partition 0). */
  private void awaitParked(String group, long offset, int attempts, long notBefore) throws Exception {
    broker.saveAll().await();
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT attempts, not_before FROM parked WHERE group_name = '" + group + "' AND partition = 0"
            + " AND record_offset = " + offset)) {
      assertThat(rs.next() ? rs.getInt(1) + "@" + rs.getLong(2) : null).isEqualTo(attempts + "@" + notBefore);
    }
  }

  /** Saves what the engine's pacing holds back, then checks the group's committed offset stored in partition 0. */
  private void awaitCommitted(String group, long expected) throws Exception {
    broker.saveAll().await();
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT committed_offset FROM group_offsets WHERE group_name = '" + group + "' AND partition = 0")) {
      assertThat(rs.next() ? rs.getLong(1) : -1).isEqualTo(expected);
    }
  }
}
