package dev.runnel.transport.amqp;

import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.StoredRecord;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.transport.amqp.ProtonTestClient.Arrival;
import dev.runnel.transport.amqp.ProtonTestClient.Receiver;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.proton.ProtonSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static dev.runnel.transport.amqp.ProtonTestClient.eventually;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * DESIGN.md section 7: a link's end — detach, close, session end, a dropped TCP connection — gives back what it held
 * with no attempt counted, up to {@code maxFreeReleases} times per record; past that a disconnect counts an attempt, so
 * a message that crashes its consumer is dead-lettered in the end.
 */
class AmqpReleaseTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final int MAX_FREE_RELEASES = 2;
  private static AmqpNode node;
  private static Vertx clientVertx;

  @BeforeAll
  static void start() {
    node = new AmqpNode(PG, null, o -> o.setMaxFreeReleases(MAX_FREE_RELEASES));
    clientVertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() {
    if (clientVertx != null) {
      clientVertx.close().await();
    }
    if (node != null) {
      node.close();
    }
  }

  enum End { DETACH, CLOSE, SESSION_END, TCP_DROP }

  @ParameterizedTest
  @EnumSource(End.class)
  void aLinksEndReleasesWhatItHeldWithNoAttemptCounted(End end) {
    String topic = node.topic(1);
    String group = AmqpNode.unique("g");
    String address = "topics/" + topic + "/groups/" + group;
    for (int i = 0; i < 3; i++) {
      produce(topic, "k" + i, "v" + i);  // three keys: all three may be in flight at once
    }
    try (ProtonTestClient holder = connect(); ProtonTestClient other = connect()) {
      ProtonSession session = holder.session();
      Receiver first = holder.receiver(session, address, r -> { });
      first.assertOpen();
      first.flow(10);
      List<Arrival> held = first.next(3);
      assertThat(held).extracting(Arrival::deliveryCount).containsOnly(0L);

      Receiver second = other.openReceiver(address);
      second.flow(10);
      switch (end) {
        case DETACH -> assertThat(first.detach().closed()).as("a detach is answered by a detach").isFalse();
        case CLOSE -> assertThat(first.close().closed()).as("a close is answered by a close").isTrue();
        case SESSION_END -> holder.run(session::close);
        case TCP_DROP -> holder.disconnect();
      }

      List<Arrival> again = second.next(3);
      assertThat(again).extracting(Arrival::offset).containsExactlyInAnyOrder(0L, 1L, 2L);
      assertThat(again).extracting(Arrival::deliveryCount).as("no attempt counted").containsOnly(0L);
      again.forEach(Arrival::accept);
      eventually("the acks to be applied (lag 0)", () -> lag(group) == 0);
      assertThat(node.broker.deadLetters(group, topic, 10).await()).isEmpty();

      if (end != End.TCP_DROP) {
        // The connection lives on: a new link on it works.
        second.close();
        produce(topic, "k0", "after");
        Receiver third = holder.openReceiver(address);
        third.flow(1);
        assertThat(third.next().body()).isEqualTo("after");
      }
    }
  }

  /**
   * With maxFreeReleases 2 and a policy of 1 retry: two drops give the record back for free, the third counts the
   * first attempt, the fourth the second, which dead-letters it. So exactly 4 deliveries, delivery-counts 0, 0, 0, 1.
   */
  @Test
  void aMessageWhoseConsumerKeepsCrashingIsDeadLetteredInTheEnd() {
    TopicConfig config = TopicConfig.fromJson(new JsonObject().put("retryPolicy", new JsonObject()
        .put("maxRetries", 1).put("initialDelayMs", 0).put("jitter", 0)));
    String topic = node.topic(1, config);
    String group = AmqpNode.unique("g");
    String address = "topics/" + topic + "/groups/" + group;
    produce(topic, "k", "poison");
    int expectedDeliveries = MAX_FREE_RELEASES + 2;  // free releases, then the policy's maxRetries + 1 attempts

    List<Long> deliveryCounts = new ArrayList<>();
    for (int i = 0; i < expectedDeliveries; i++) {
      assertThat(node.broker.deadLetters(group, topic, 10).await()).as("dead letters before delivery " + (i + 1))
          .isEmpty();
      ProtonTestClient crashing = connect();
      Receiver r = crashing.openReceiver(address);
      r.flow(1);
      Arrival a = r.next();
      assertThat(a.offset()).isZero();
      deliveryCounts.add(a.deliveryCount());
      crashing.disconnect();
      eventually("the dropped link to leave its group", () -> node.broker.describeGroup(group).await().members().isEmpty());
    }
    assertThat(deliveryCounts).containsExactly(0L, 0L, 0L, 1L);

    eventually("the dead letter", () -> node.broker.deadLetters(group, topic, 10).await().size() == 1);
    DeadLetter dl = node.broker.deadLetters(group, topic, 10).await().get(0);
    assertThat(dl.reason()).isEqualTo("max-retries");
    StoredRecord copy = node.broker.read(dl.deadLetterTopic(), dl.deadLetterPartition(), dl.deadLetterOffset(), 1,
        1 << 20).await().records().get(0);
    assertThat(AmqpDispositionTest.header(copy, "runnel.dlq.attempts")).isEqualTo("2");
    assertThat(AmqpDispositionTest.header(copy, "runnel.dlq.last-error")).contains("left without settling");
    eventually("the record to be done (lag 0)", () -> lag(group) == 0);

    try (ProtonTestClient c = connect()) {
      Receiver r = c.openReceiver(address);
      ProtonTestClient.await(r.flowAndDrain(1), "the drain to be answered");
      assertThat(r.received.get()).as("no fifth delivery").isZero();
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  private static ProtonTestClient connect() {
    Context context = clientVertx.getOrCreateContext();
    return ProtonTestClient.connect(context, node.amqp.actualPort());
  }

  private static void produce(String topic, String key, String value) {
    node.broker.produce(topic, List.of(new ProduceRecord(key.getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null, null))).await();
  }

  private static long lag(String group) {
    return node.broker.describeGroup(group).await().partitions().stream().mapToLong(GroupDescription.PartitionLag::records)
        .sum();
  }
}
