package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The documented defaults (DESIGN.md section 4), observed through what the engine does and checked against the
 * documented numbers written here, never against the code's own constants: window 1,000 records, parking bound 10
 * windows, lease 30 s, extend capped at 10 min, retry policy {@code {"maxRetries": 3, "initialDelayMs": 1000,
 * "backoffMultiplier": 2, "maxDelayMs": 300000, "jitter": 0.2}}, dead-letter topic {@code <topic>.<group>.dlq}.
 */
class DefaultsTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private BrokerFixture f;

  private BrokerFixture broker(Consumer<BrokerOptions> tuning) {
    f = new BrokerFixture(PG, tuning);
    return f;
  }

  @AfterEach
  void close() {
    if (f != null) {
      f.close();
    }
  }

  private static String[] unkeyed(int n) {
    String[] records = new String[n];
    for (int i = 0; i < n; i++) {
      records[i] = "=r" + i;
    }
    return records;
  }

  @Test
  void theWindowIs1000Records() {
    broker(o -> { });
    String topic = f.topic(1, TopicConfig.DEFAULT);
    f.produce(topic, unkeyed(1001));
    String group = unique("g");
    Membership m = f.join(group, topic);
    List<Delivery> out = new ArrayList<>();
    while (out.size() < 1000) {
      List<Delivery> got = f.poll(group, m, 2000, 10_000);
      assertThat(got).as("records keep coming until the window is full").isNotEmpty();
      out.addAll(got);
    }
    assertThat(out).as("the whole window, nothing past it").hasSize(1000);
    assertThat(out).extracting(Delivery::offset).doesNotContain(1000L);
    assertThat(f.fetchWhenIdle(group, m, 2000)).as("record 1000 waits while 1000 records are in flight").isEmpty();
    // Half the window done: it moves on, and the next record comes.
    out.subList(0, 500).forEach(d -> f.ack(group, d));
    assertThat(f.poll(group, m, 2000, 10_000)).extracting(Delivery::offset).containsExactly(1000L);
  }

  @Test
  void parkingIsBoundedAtTenWindows() {
    broker(o -> o.setWindowRecords(5));  // the default bound factor: 50 parked records
    JsonObject slow = new JsonObject().put("initialDelayMs", 3_600_000).put("maxDelayMs", 3_600_000).put("jitter", 0);
    String topic = f.topic(1, slow);
    List<String> records = new ArrayList<>();
    for (int i = 0; i < 70; i++) {
      records.add("K=k" + i);  // k0 will wait an hour; k1.. park behind it as blocked
    }
    records.add("=free");
    f.produce(topic, records.toArray(new String[0]));
    String group = unique("g");
    Membership m = f.join(group, topic);
    Delivery head = f.poll(group, m, 10, 10_000).get(0);
    assertThat(BrokerFixture.value(head)).isEqualTo("k0");
    f.nack(group, head, null);
    f.await(() -> f.lag(group, 0).committedOffset(), c -> c >= 50);
    assertThat(f.fetchWhenIdle(group, m, 10)).as("nothing past the window of the bound").isEmpty();
    assertThat(f.lag(group, 0).committedOffset()).as("parking stopped at 50 records").isEqualTo(50);
    assertThat(f.await(() -> f.parkedRows(group, 0), rows -> rows.size() >= 50)).hasSize(50);
  }

  @Test
  void leasesLast30SecondsAndAreCappedAt10Minutes() {
    broker(o -> o.setWindowRecords(10));
    assertThat(JoinRequest.DEFAULT_LEASE_MS).as("the lease transports give a member that names none").isEqualTo(30_000);
    JsonObject retryAtOnce = new JsonObject().put("initialDelayMs", 0).put("jitter", 0).put("maxRetries", 10);
    String topic = f.topic(1, retryAtOnce);
    f.produce(topic, "k=r");
    String group = unique("g");
    Membership m = f.join(group, topic, 3_600_000, JoinRequest.DEFAULT_LEASE_MS);
    Delivery first = f.fetch(group, m, 1).get(0);
    assertThat(first.leaseExpiresAt() - f.clock.millis()).isEqualTo(30_000);
    f.advance(29_999);
    assertThat(f.fetch(group, m, 1)).as("leased for 30 s").isEmpty();
    f.advance(1);
    List<Delivery> expired = f.fetch(group, m, 1);
    assertThat(expired).as("the lease expired at 30 s").hasSize(1);
    Delivery second = expired.get(0);
    assertThat(second.attempt()).isEqualTo(2);

    // An extension of an hour is capped at 10 minutes.
    assertThat(f.broker.settle(group, new Outcomes(List.of(), List.of(), List.of(),
        List.of(new Outcomes.Extend(second.token(), 3_600_000L)))).await().get(0).status())
        .isEqualTo(OutcomeResult.Status.OK);
    f.advance(599_999);
    assertThat(f.fetch(group, m, 1)).as("extended up to 10 min").isEmpty();
    f.advance(1);
    assertThat(f.fetch(group, m, 1)).as("the extended lease expired at 10 min, not at an hour").singleElement()
        .satisfies(third -> assertThat(third.attempt()).isEqualTo(3));

    // A member joining with an hour's lease gets 10 minutes.
    String other = unique("g");
    Membership greedy = f.join(other, topic, 3_600_000, 3_600_000);
    Delivery capped = f.poll(other, greedy, 1, 10_000).get(0);
    assertThat(capped.leaseExpiresAt() - f.clock.millis()).isEqualTo(600_000);
  }

  /**
   * A topic with no retry policy of its own: fifty unkeyed records failing at once come back after 1 s · (1 ± 0.2)
   * (measured to the millisecond, spread over most of that range), 2 s · (1 ± 0.2), 4 s · (1 ± 0.2), and the fourth
   * failure dead-letters them (3 retries) into {@code <topic>.<group>.dlq}, which has the topic's partition count.
   */
  @Test
  void theRetryPolicyAndTheDeadLetterTopic() {
    broker(o -> { });
    String topic = f.topic(3, TopicConfig.DEFAULT);
    int n = 50;
    f.produce(topic, unkeyed(n));  // all to partition 0
    String group = unique("g");
    Membership m = f.join(group, topic);
    List<Delivery> out = new ArrayList<>();
    while (out.size() < n) {
      out.addAll(f.poll(group, m, 100, 10_000));
    }

    // Retry 1, to the millisecond.
    long failedAt = f.clock.millis();
    out.forEach(d -> f.nack(group, d, null));
    f.advance(799);
    assertThat(f.fetch(group, m, 100)).as("nothing before 800 ms").isEmpty();
    Set<Long> delays = new HashSet<>();
    List<Delivery> back = new ArrayList<>();
    while (f.clock.millis() - failedAt < 1200 && back.size() < n) {
      f.clock.advance(1);
      for (Delivery d : f.fetch(group, m, 100)) {
        delays.add(f.clock.millis() - failedAt);
        back.add(d);
      }
    }
    assertThat(back).as("all back by 1,200 ms").hasSize(n);
    assertThat(delays).allSatisfy(ms -> assertThat(ms).isBetween(800L, 1200L));
    assertThat(delays.stream().mapToLong(Long::longValue).min().orElseThrow()).as("jitter reaches down").isLessThan(860);
    assertThat(delays.stream().mapToLong(Long::longValue).max().orElseThrow()).as("jitter reaches up").isGreaterThan(1140);

    // Retries 2 and 3: within d · (1 ± 0.2).
    for (long d : new long[] {2000, 4000}) {
      out = back;
      out.forEach(x -> f.nack(group, x, null));
      f.advance(d * 8 / 10 - 1);
      assertThat(f.fetch(group, m, 100)).as("nothing before %d ms", d * 8 / 10).isEmpty();
      f.advance(d * 4 / 10 + 1);
      back = f.fetch(group, m, 100);
      assertThat(back).as("all back by %d ms", d * 12 / 10).hasSize(n);
    }
    assertThat(back).allSatisfy(x -> assertThat(x.attempt()).isEqualTo(4));

    // The fourth failure is the last: dead letters, in the default dead-letter topic.
    back.forEach(x -> f.nack(group, x, null));
    List<DeadLetter> letters = f.broker.deadLetters(group, topic, 100).await();
    assertThat(letters).as("the fourth failure dead-letters").hasSize(n).allSatisfy(l -> {
      assertThat(l.reason()).isEqualTo("max-retries");
      assertThat(l.deadLetterTopic()).isEqualTo(topic + "." + group + ".dlq");
    });
    assertThat(f.broker.read(topic + "." + group + ".dlq", 0, 0, 100, 1 << 20).await().records()).hasSize(n);
    assertThat(f.broker.describeTopic(topic + "." + group + ".dlq").await().partitions()).hasSize(3);
    f.advance(3_600_000);
    assertThat(f.fetch(group, m, 100)).as("no fifth delivery").isEmpty();
  }

  /** Retry n waits min(300 s, 1 s · 2^(n−1)) · (1 ± 0.2): from retry 10 on, the 5-minute cap holds. */
  @Test
  void theBackoffIsCappedAtFiveMinutes() {
    broker(o -> o.setWindowRecords(10));
    String topic = f.topic(1, new JsonObject().put("maxRetries", 12));  // every other key at its default
    f.produce(topic, "k=r");
    String group = unique("g");
    Membership m = f.join(group, topic);
    Delivery d = f.fetch(group, m, 1).get(0);
    for (int retry = 1; retry <= 11; retry++) {
      long base = Math.min(300_000, 1000L << (retry - 1));
      f.nack(group, d, null);
      f.advance(base * 8 / 10 - 1);
      assertThat(f.fetch(group, m, 1)).as("retry %d not before %d ms", retry, base * 8 / 10).isEmpty();
      f.advance(base * 4 / 10 + 1);
      List<Delivery> back = f.fetch(group, m, 1);
      assertThat(back).as("retry %d back by %d ms", retry, base * 12 / 10).hasSize(1);
      d = back.get(0);
      assertThat(d.attempt()).isEqualTo(retry + 1);
    }
  }
}
