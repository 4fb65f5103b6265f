package dev.runnel.transport.amqp;

import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.Header;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.StoredRecord;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.transport.amqp.ProtonTestClient.Arrival;
import dev.runnel.transport.amqp.ProtonTestClient.Receiver;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.proton.ProtonHelper;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Modified;
import org.apache.qpid.proton.amqp.messaging.Rejected;
import org.apache.qpid.proton.amqp.messaging.Released;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.runnel.transport.amqp.ProtonTestClient.eventually;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * DESIGN.md section 7's disposition mapping, seen by a vertx-proton client and checked in the broker's state: each
 * outcome, sent unsettled or settled first, and the consumer timeout. The broker runs on a manual clock, so a retry's
 * backoff is checked as a schedule (not due 1 ms before, due at), never by waiting.
 */
class AmqpDispositionTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final long CONSUMER_TIMEOUT_MS = 10_000;
  private static final long BACKOFF_MS = 1_000;
  /** Retries after exactly BACKOFF_MS (no jitter), then twice that... */
  private static final TopicConfig CONFIG = TopicConfig.fromJson(new JsonObject().put("retryPolicy", new JsonObject()
      .put("maxRetries", 3).put("initialDelayMs", BACKOFF_MS).put("backoffMultiplier", 2).put("jitter", 0)));
  private static final ManualClock CLOCK = new ManualClock(1_767_000_000_000L);
  private static AmqpNode node;
  private static Vertx clientVertx;
  private static ProtonTestClient client;

  @BeforeAll
  static void start() {
    node = new AmqpNode(PG, CLOCK, o -> o.setConsumerTimeoutMs(CONSUMER_TIMEOUT_MS));
    clientVertx = Vertx.vertx();
    client = ProtonTestClient.connect(clientVertx.getOrCreateContext(), node.amqp.actualPort());
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.close();
    }
    if (clientVertx != null) {
      clientVertx.close().await();
    }
    if (node != null) {
      node.close();
    }
  }

  enum Outcome {
    ACCEPTED(Effect.ACK),
    RELEASED(Effect.FREE_REDELIVERY),
    MODIFIED(Effect.FREE_REDELIVERY),
    MODIFIED_DELIVERY_FAILED(Effect.NACK),
    REJECTED(Effect.DEAD_LETTER),
    MODIFIED_UNDELIVERABLE_HERE(Effect.DEAD_LETTER),
    MODIFIED_FAILED_UNDELIVERABLE(Effect.DEAD_LETTER);

    final Effect effect;

    Outcome(Effect effect) {
      this.effect = effect;
    }

    DeliveryState state() {
      return switch (this) {
        case ACCEPTED -> Accepted.getInstance();
        case RELEASED -> Released.getInstance();
        case MODIFIED -> modified(false, false);
        case MODIFIED_DELIVERY_FAILED -> modified(true, false);
        case REJECTED -> {
          Rejected r = new Rejected();
          r.setError(ProtonHelper.condition(Symbol.valueOf("app:invalid-order"), "total is negative"));
          yield r;
        }
        case MODIFIED_UNDELIVERABLE_HERE -> modified(false, true);
        case MODIFIED_FAILED_UNDELIVERABLE -> modified(true, true);
      };
    }

    private static Modified modified(boolean failed, boolean undeliverableHere) {
      Modified m = new Modified();
      m.setDeliveryFailed(failed);
      m.setUndeliverableHere(undeliverableHere);
      return m;
    }
  }

  enum Effect { ACK, FREE_REDELIVERY, NACK, DEAD_LETTER }

  static Stream<Arguments> outcomes() {
    List<Arguments> cases = new ArrayList<>();
    for (Outcome o : Outcome.values()) {
      cases.add(Arguments.of(o, false));
      cases.add(Arguments.of(o, true));
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "{0}, settled first: {1}")
  @MethodSource("outcomes")
  void eachDispositionHasItsEffect(Outcome outcome, boolean settleFirst) {
    String topic = node.topic(1, CONFIG);
    String group = AmqpNode.unique("g");
    produce(topic, "k", "v0");
    Receiver r = client.openReceiver("topics/" + topic + "/groups/" + group);
    r.flow(1);
    Arrival first = r.next();
    assertThat(first.offset()).isZero();
    assertThat(first.deliveryCount()).isZero();
    assertThat(first.body()).isEqualTo("v0");
    assertThat(lag(group)).isEqualTo(1);

    first.settle(outcome.state(), settleFirst);
    if (!settleFirst) {
      eventually("the server to settle the delivery", first::remotelySettled);
      assertThat(first.remoteState()).as("the server settles with the client's outcome")
          .isInstanceOf(outcome.state().getClass());
    }

    switch (outcome.effect) {
      case ACK -> {
        eventually("the ack to be applied (lag 0)", () -> lag(group) == 0 && nothingLeased(group));
        assertNothingEligible(r);
        assertThat(deadLetters(group, topic)).isEmpty();
      }
      case FREE_REDELIVERY -> {
        // No attempt counted: it comes again at once (a counted attempt would wait for the backoff, which the
        // manual clock never reaches here) with delivery-count 0.
        r.flow(1);
        Arrival again = r.next();
        assertThat(again.offset()).isZero();
        assertThat(again.deliveryCount()).isZero();
        assertThat(lag(group)).isEqualTo(1);
        again.accept();
        eventually("the ack to be applied (lag 0)", () -> lag(group) == 0);
      }
      case NACK -> {
        eventually("the nack to be applied", () -> nothingLeased(group));
        assertNothingEligible(r);
        CLOCK.advance(BACKOFF_MS - 1);
        node.broker.tick().await();
        assertNothingEligible(r);
        CLOCK.advance(1);
        node.broker.tick().await();
        r.flow(1);
        Arrival retry = r.next();
        assertThat(retry.offset()).isZero();
        assertThat(retry.deliveryCount()).isEqualTo(1);
        retry.accept();
        eventually("the ack to be applied (lag 0)", () -> lag(group) == 0);
        assertThat(deadLetters(group, topic)).isEmpty();
      }
      case DEAD_LETTER -> {
        eventually("the dead letter", () -> deadLetters(group, topic).size() == 1);
        DeadLetter dl = deadLetters(group, topic).get(0);
        assertThat(dl.offset()).isZero();
        assertThat(dl.reason()).isEqualTo("rejected");
        StoredRecord copy = node.broker.read(dl.deadLetterTopic(), dl.deadLetterPartition(), dl.deadLetterOffset(), 1,
            1 << 20).await().records().get(0);
        assertThat(new String(copy.value(), StandardCharsets.UTF_8)).isEqualTo("v0");
        assertThat(header(copy, "runnel.dlq.reason")).isEqualTo("rejected");
        assertThat(header(copy, "runnel.dlq.attempts")).isEqualTo("1");
        if (outcome == Outcome.REJECTED) {
          assertThat(header(copy, "runnel.dlq.last-error")).contains("app:invalid-order").contains("total is negative");
        } else {
          assertThat(header(copy, "runnel.dlq.last-error")).contains("undeliverable-here");
        }
        eventually("the record to be done (lag 0)", () -> lag(group) == 0);
        assertNothingEligible(r);
      }
    }
    r.close();
  }

  /**
   * A delivery held past the consumer timeout is settled {@code released} toward the client and counts an attempt:
   * it comes again after the backoff with delivery-count 1.
   */
  @Test
  void consumerTimeoutReleasesTheDeliveryAndCountsAnAttempt() {
    String topic = node.topic(1, CONFIG);
    String group = AmqpNode.unique("g");
    produce(topic, "k", "v0");
    Receiver r = client.openReceiver("topics/" + topic + "/groups/" + group);
    r.flow(1);
    Arrival held = r.next();
    assertThat(held.deliveryCount()).isZero();

    CLOCK.advance(CONSUMER_TIMEOUT_MS);
    node.broker.tick().await();
    eventually("the server to release the held delivery", held::remotelySettled);
    assertThat(held.remoteState()).isInstanceOf(Released.class);
    assertThat(lag(group)).isEqualTo(1);
    assertNothingEligible(r);  // an attempt was counted: the backoff runs first

    CLOCK.advance(BACKOFF_MS);
    node.broker.tick().await();
    r.flow(1);
    Arrival again = r.next();
    assertThat(again.offset()).isZero();
    assertThat(again.deliveryCount()).isEqualTo(1);
    again.accept();
    eventually("the ack to be applied (lag 0)", () -> lag(group) == 0);
    r.close();
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  /** One credit with a drain: answered drained with no delivery, since nothing is eligible. */
  private static void assertNothingEligible(Receiver r) {
    int before = r.received.get();
    ProtonTestClient.await(r.flowAndDrain(1), "the drain to be answered");
    assertThat(r.received.get()).as("deliveries after a drain with nothing eligible").isEqualTo(before);
  }

  static void produce(String topic, String key, String value) {
    node.broker.produce(topic, List.of(new ProduceRecord(key.getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null, null))).await();
  }

  private static long lag(String group) {
    return node.broker.describeGroup(group).await().partitions().stream().mapToLong(GroupDescription.PartitionLag::records)
        .sum();
  }

  private static boolean nothingLeased(String group) {
    for (GroupDescription.Member m : node.broker.describeGroup(group).await().members()) {
      if (!node.broker.leased(group, m.memberId()).await().isEmpty()) {
        return false;
      }
    }
    return true;
  }

  private static List<DeadLetter> deadLetters(String group, String topic) {
    return node.broker.deadLetters(group, topic, 10).await();
  }

  static String header(StoredRecord r, String name) {
    for (Header h : r.headers()) {
      if (h.name().equals(name)) {
        return new String(h.value(), StandardCharsets.UTF_8);
      }
    }
    return null;
  }
}
