package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The retry schedule as the engine applies it, by the injected clock: the backoff capped at {@code maxDelayMs}, a
 * nack's own delay clamped to it, and jitter spreading the delays within {@code d · (1 ± jitter)}.
 */
class RetryScheduleTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private BrokerFixture f;

  @BeforeEach
  void open() {
    f = new BrokerFixture(PG, o -> o.setWindowRecords(100));
  }

  @AfterEach
  void close() {
    f.close();
  }

  /** Nacks the one delivery, then checks it is not back 1 ms before {@code delayMs} and is back at it. */
  private Delivery nackAndExpectBackAfter(String group, Membership m, Delivery d, Long nackDelay, long delayMs) {
    f.nack(group, d, nackDelay);
    f.advance(delayMs - 1);
    assertThat(f.fetch(group, m, 10)).as("not back before %d ms", delayMs).isEmpty();
    f.advance(1);
    List<Delivery> back = f.fetch(group, m, 10);
    assertThat(back).as("back after %d ms", delayMs).singleElement()
        .satisfies(b -> assertThat(b.attempt()).isEqualTo(d.attempt() + 1));
    return back.get(0);
  }

  @Test
  void theBackoffIsCappedAtMaxDelayAndANacksOwnDelayIsClampedToIt() {
    JsonObject policy = new JsonObject().put("maxRetries", 10).put("initialDelayMs", 1000).put("backoffMultiplier", 10)
        .put("maxDelayMs", 5000).put("jitter", 0);
    String topic = f.topic(1, policy);
    f.produce(topic, "k=r");
    String group = unique("g");
    Membership m = f.join(group, topic);
    Delivery d = f.fetch(group, m, 1).get(0);
    d = nackAndExpectBackAfter(group, m, d, null, 1000);       // retry 1: 1 s
    d = nackAndExpectBackAfter(group, m, d, null, 5000);       // retry 2: min(5 s, 10 s)
    d = nackAndExpectBackAfter(group, m, d, 2500L, 2500);      // a nack's own delay below the cap is kept
    d = nackAndExpectBackAfter(group, m, d, 86_400_000L, 5000); // a day, clamped to maxDelayMs
    f.nack(group, d, 0L);                                       // no delay: back at once
    assertThat(f.fetch(group, m, 10)).singleElement().satisfies(b -> assertThat(b.attempt()).isEqualTo(6));
  }

  /**
   * Forty unkeyed records (never blocked) fail at the same instant; the clock then moves 1 ms at a time and each
   * record's delay is when it comes back. Every delay lies in [d(1−j), d(1+j)] and they are not all equal, for the
   * first retry (d = 1 s) and the second (d = 2 s), with a seeded random source.
   */
  @Test
  void jitterSpreadsEachRetryWithinItsBounds() {
    double jitter = 0.3;
    JsonObject policy = new JsonObject().put("maxRetries", 5).put("initialDelayMs", 1000).put("backoffMultiplier", 2)
        .put("maxDelayMs", 300_000).put("jitter", jitter);
    String topic = f.topic(1, policy);
    String[] records = new String[40];
    for (int i = 0; i < records.length; i++) {
      records[i] = "=r" + i;
    }
    f.produce(topic, records);
    String group = unique("g");
    Membership m = f.join(group, topic);
    List<Delivery> out = f.poll(group, m, 100, 10_000);
    while (out.size() < records.length) {
      out.addAll(f.poll(group, m, 100, 10_000));
    }
    for (int retry = 1; retry <= 2; retry++) {
      long d = 1000L << (retry - 1);
      long low = Math.round(d * (1 - jitter));
      long high = Math.round(d * (1 + jitter));
      long failedAt = f.clock.millis();
      out.forEach(x -> f.nack(group, x, null));
      f.advance(low - 1);
      assertThat(f.fetch(group, m, 100)).as("retry %d: nothing before d(1-j) = %d ms", retry, low).isEmpty();
      Map<Long, Integer> delays = new HashMap<>();
      List<Delivery> back = new ArrayList<>();
      while (f.clock.millis() - failedAt < high && back.size() < records.length) {
        f.clock.advance(1);
        for (Delivery x : f.fetch(group, m, 100)) {
          assertThat(x.attempt()).isEqualTo(retry + 1);
          delays.merge(f.clock.millis() - failedAt, 1, Integer::sum);
          back.add(x);
        }
      }
      assertThat(back).as("retry %d: every record back by d(1+j) = %d ms", retry, high).hasSize(records.length);
      assertThat(delays.keySet()).as("retry %d delays", retry).allSatisfy(ms -> assertThat(ms).isBetween(low, high));
      assertThat(delays).as("retry %d: jitter makes the delays differ", retry).hasSizeGreaterThan(records.length / 4);
      out = back;
    }
  }
}
