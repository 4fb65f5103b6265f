package dev.runnel.transport.amqp;

import dev.runnel.broker.TopicConfig;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.ApiKeys;
import dev.runnel.broker.auth.Grant;
import dev.runnel.broker.auth.Right;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.transport.amqp.ProtonTestClient.Ended;
import dev.runnel.transport.amqp.ProtonTestClient.Link;
import dev.runnel.transport.amqp.ProtonTestClient.Sender;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.proton.ProtonLink;
import org.apache.qpid.proton.amqp.Binary;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.UnknownDescribedType;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Data;
import org.apache.qpid.proton.amqp.messaging.Rejected;
import org.apache.qpid.proton.amqp.messaging.Source;
import org.apache.qpid.proton.amqp.messaging.Target;
import org.apache.qpid.proton.amqp.transaction.Coordinator;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.apache.qpid.proton.message.Message;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * DESIGN.md section 7's refusals, with auth on: each refused link is attached with a null terminus and then detached
 * with {@code closed=true} and the pinned condition, and its connection lives on (a later link on it works). Also the
 * anonymous relay's per-message refusals and an oversized record: {@code rejected}, and the link lives on.
 */
class AmqpRefusalTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final String PID = Long.toString(ProcessHandle.current().pid());
  private static final String RELAY_PREFIX = "relay-ok-" + PID;
  private static AmqpNode node;
  private static Vertx clientVertx;
  /** A topic every case may use once it is refused, to show its connection lives on. */
  private static String topic;

  @BeforeAll
  static void start() {
    ApiKeys keys = ApiKeys.of(List.of(
        new ApiKey("admin", "admin-secret", List.of(new Grant("*", EnumSet.allOf(Right.class)))),
        new ApiKey("producer", "producer-secret", List.of(new Grant("*", EnumSet.of(Right.PRODUCE)))),
        new ApiKey("consumer", "consumer-secret", List.of(new Grant("*", EnumSet.of(Right.CONSUME)))),
        new ApiKey("narrow", "narrow-secret", List.of(new Grant(RELAY_PREFIX + "*", EnumSet.of(Right.PRODUCE))))));
    node = new AmqpNode(PG, null, o -> o.setApiKeys(keys));
    clientVertx = Vertx.vertx();
    topic = node.topic(1);
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

  /** A link the server must refuse: who asks, for what, and the condition it gets. */
  record Refusal(String key, boolean consumer, String address, Consumer<ProtonLink<?>> configure, String condition) {
  }

  static Stream<Arguments> refusals() {
    String missing = "missing-" + PID;
    Consumer<ProtonLink<?>> none = l -> { };
    return Stream.of(
        Arguments.of("produce to an unknown topic",
            new Refusal("admin", false, "topics/" + missing, none, "amqp:not-found")),
        Arguments.of("consume an unknown topic",
            new Refusal("admin", true, "topics/" + missing + "/groups/g", none, "amqp:not-found")),
        Arguments.of("produce to an address that is not topics/<t>",
            new Refusal("admin", false, "orders", none, "amqp:invalid-field")),
        Arguments.of("produce to a bad topic name",
            new Refusal("admin", false, "topics/no spaces!", none, "amqp:invalid-field")),
        Arguments.of("produce to a group",
            new Refusal("admin", false, "topics/" + topic + "/groups/g", none, "amqp:invalid-field")),
        Arguments.of("consume from an address that is not topics/<t>/groups/<g>",
            new Refusal("admin", true, "queue/" + topic, none, "amqp:invalid-field")),
        Arguments.of("consume from topics/<t> with no group",
            new Refusal("admin", true, "topics/" + topic, none, "amqp:invalid-field")),
        Arguments.of("consume from an empty group name",
            new Refusal("admin", true, "topics/" + topic + "/groups/", none, "amqp:invalid-field")),
        Arguments.of("produce without the produce right",
            new Refusal("consumer", false, "topics/" + topic, none, "amqp:unauthorized-access")),
        Arguments.of("consume without the consume right",
            new Refusal("producer", true, "topics/" + topic + "/groups/g", none, "amqp:unauthorized-access")),
        Arguments.of("a transaction coordinator",
            new Refusal("admin", false, null, l -> l.setTarget(new Coordinator()), "amqp:not-implemented")),
        Arguments.of("a dynamic target",
            new Refusal("admin", false, null, l -> ((Target) l.getTarget()).setDynamic(true), "amqp:not-implemented")),
        Arguments.of("a dynamic source",
            new Refusal("admin", true, null, l -> ((Source) l.getSource()).setDynamic(true), "amqp:not-implemented")),
        Arguments.of("a source with a selector",
            new Refusal("admin", true, "topics/" + topic + "/groups/g", l -> ((Source) l.getSource()).setFilter(Map.of(
                Symbol.valueOf("jms-selector"), new UnknownDescribedType(Symbol.valueOf("apache.org:selector-filter:string"),
                    "color = 'red'"))), "amqp:not-implemented")));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("refusals")
  void aRefusedLinkIsAttachedWithANullTerminusThenClosedAndTheConnectionLivesOn(String name, Refusal refusal) {
    try (ProtonTestClient c = connect(refusal.key())) {
      Link<?> link = refusal.consumer()
          ? c.receiver(c.session(), refusal.address(), l -> refusal.configure().accept(l))
          : c.sender(c.session(), refusal.address(), l -> refusal.configure().accept(l));
      Ended ended = link.awaitEnded();
      assertThat(link.nullTerminus).as("the attach's terminus is null").isTrue();
      assertThat(ended.closed()).as("detach closed=true").isTrue();
      assertThat(ended.conditionName()).isEqualTo(refusal.condition());
      assertThat(ended.condition().getDescription()).isNotBlank();

      // The connection lives on: a link the key may open works on it.
      if (refusal.key().equals("consumer")) {
        c.openReceiver("topics/" + topic + "/groups/" + AmqpNode.unique("g")).close();
      } else {
        Sender s = c.openSender("topics/" + topic);
        assertThat(s.sendAndAwait(ProtonTestClient.message(null, "after " + name))).isInstanceOf(Accepted.class);
        s.close();
      }
      assertThat(c.isDisconnected()).isFalse();
    }
  }

  @Test
  void saslRefusesAWrongSecretAndAnonymous() {
    assertThatThrownBy(() -> connect("admin", "wrong")).hasMessageContaining("the connection to open")
        .hasRootCauseInstanceOf(javax.security.sasl.AuthenticationException.class);
    assertThatThrownBy(() -> ProtonTestClient.connect(clientVertx.getOrCreateContext(), node.amqp.actualPort()))
        .as("ANONYMOUS is not offered while auth is on")
        .hasRootCauseInstanceOf(io.vertx.proton.sasl.MechanismMismatchException.class);
  }

  /** The anonymous relay: each message is routed by its {@code to}, refused on its own, and the link lives on. */
  @Test
  void theAnonymousRelayRefusesEachMessageOnItsOwn() {
    String allowed = RELAY_PREFIX + "-" + AmqpNode.unique("a");
    node.broker.createTopic(allowed, 1, TopicConfig.DEFAULT).await();
    String otherTopic = node.topic(1);
    try (ProtonTestClient c = connect("narrow")) {
      Sender relay = c.openSender(null);
      assertThat(relay.sendAndAwait(to("topics/" + allowed, "one"))).isInstanceOf(Accepted.class);
      assertRejected(relay.sendAndAwait(to("topics/" + RELAY_PREFIX + "-missing", "x")), "amqp:not-found");
      assertRejected(relay.sendAndAwait(to("topics/" + otherTopic, "x")), "amqp:unauthorized-access");
      assertRejected(relay.sendAndAwait(to("nowhere", "x")), "amqp:invalid-field");
      assertThat(relay.sendAndAwait(to("topics/" + allowed, "two"))).isInstanceOf(Accepted.class);
      assertThat(relay.ended).as("the relay link lives on").isNotDone();
      relay.close();
    }
    assertThat(highWatermark(allowed)).isEqualTo(2);
    assertThat(highWatermark(otherTopic)).isZero();
  }

  @Test
  void anOversizedRecordIsRejectedAndTheLinkLivesOn() {
    String small = node.topic(1, TopicConfig.fromJson(new JsonObject().put("maxRecordBytes", 1024)));
    try (ProtonTestClient c = connect("producer")) {
      Sender s = c.openSender("topics/" + small);
      assertRejected(s.sendAndAwait(ProtonTestClient.message(null, "x".repeat(4096))), "amqp:link:message-size-exceeded");
      assertThat(s.sendAndAwait(ProtonTestClient.message(null, "fits"))).isInstanceOf(Accepted.class);
      assertThat(s.ended).as("the link lives on").isNotDone();
      s.close();
    }
    assertThat(highWatermark(small)).isEqualTo(1);
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  private static ProtonTestClient connect(String key) {
    return connect(key, key + "-secret");
  }

  private static ProtonTestClient connect(String key, String secret) {
    return ProtonTestClient.connect(clientVertx.getOrCreateContext(), node.amqp.actualPort(), key, secret);
  }

  private static Message to(String address, String body) {
    Message m = Message.Factory.create();
    m.setAddress(address);
    m.setBody(new Data(new Binary(body.getBytes(java.nio.charset.StandardCharsets.UTF_8))));
    return m;
  }

  private static void assertRejected(DeliveryState state, String condition) {
    assertThat(state).isInstanceOf(Rejected.class);
    Rejected r = (Rejected) state;
    assertThat(r.getError()).as("the rejection's error").isNotNull();
    assertThat(r.getError().getCondition().toString()).isEqualTo(condition);
  }

  private static long highWatermark(String topic) {
    return node.broker.describeTopic(topic).await().partitions().get(0).highWatermark();
  }
}
