package dev.runnel.transport.amqp;

import dev.runnel.broker.StoredRecord;
import dev.runnel.durability.test.TestPostgres;
import jakarta.jms.BytesMessage;
import jakarta.jms.Connection;
import jakarta.jms.DeliveryMode;
import jakarta.jms.InvalidDestinationException;
import jakarta.jms.JMSConsumer;
import jakarta.jms.JMSContext;
import jakarta.jms.JMSException;
import jakarta.jms.MapMessage;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.MessageProducer;
import jakarta.jms.ObjectMessage;
import jakarta.jms.Queue;
import jakarta.jms.Session;
import jakarta.jms.StreamMessage;
import jakarta.jms.TextMessage;
import org.apache.qpid.jms.JmsConnectionFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Interop with Apache Qpid JMS 2.10.0, a client nobody here wrote (DESIGN.md section 7): the JMS 2.0 anonymous
 * producer and a classic one, acknowledgement modes and the {@code JMS_AMQP_ACK_TYPE} outcomes, message types and
 * typed properties, {@code JMSXGroupID} order, {@code receiveNoWait} (drain), shared durable subscriptions as groups,
 * and refusals that raise the right exception while the connection lives on. One node for the class.
 */
class QpidJmsInteropTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final Duration REFUSAL_BOUND = Duration.ofSeconds(20);
  /** Qpid JMS's JmsMessageSupport values for JMS_AMQP_ACK_TYPE. */
  private static final int ACCEPTED = 1;
  private static final int REJECTED = 2;
  private static final int RELEASED = 3;
  private static final int MODIFIED_FAILED = 4;
  private static final int MODIFIED_FAILED_UNDELIVERABLE = 5;
  /** Qpid JMS's session mode JmsSession.INDIVIDUAL_ACKNOWLEDGE (private there). */
  private static final int INDIVIDUAL_ACKNOWLEDGE = 101;
  private static AmqpNode node;

  @BeforeAll
  static void start() {
    node = new AmqpNode(PG);
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  /** Prefetch 0: the client asks for each message (credit 1, then a drain). */
  private static JmsConnectionFactory factory() {
    return factory("");
  }

  private static JmsConnectionFactory factory(String moreOptions) {
    return new JmsConnectionFactory(node.amqpUri() + "?jms.prefetchPolicy.all=0" + moreOptions);
  }

  private static List<String> values(List<StoredRecord> records) {
    return records.stream().map(r -> new String(r.value(), StandardCharsets.UTF_8)).toList();
  }

  @Test
  void anonymousProducerOfJms2AndClassicProducerBothStore() throws Exception {
    String topic = node.topic(1);
    try (JMSContext context = factory().createContext(JMSContext.AUTO_ACKNOWLEDGE)) {
      // JMSContext.createProducer() has no destination: Qpid JMS sends over the anonymous relay (a null target,
      // each message's 'to' naming its topic), since the server offers ANONYMOUS-RELAY.
      var producer = context.createProducer();
      producer.send(context.createQueue("topics/" + topic), "relay 1");
      producer.send(context.createQueue("topics/" + topic), "relay 2");
    }
    try (Connection connection = factory().createConnection()) {
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      MessageProducer producer = session.createProducer(session.createQueue("topics/" + topic));
      producer.send(session.createTextMessage("classic 1"));
      producer.send(session.createTextMessage("classic 2"));
    }
    // Each send returned after its accepted outcome (persistent messages are sent synchronously): all four stored.
    assertThat(values(Interop.records(node, topic))).containsExactly("relay 1", "relay 2", "classic 1", "classic 2");
  }

  @Test
  void clientAcknowledgeSettlesEverythingTheSessionReceived() throws Exception {
    String topic = node.topic(1, Interop.fastRetries());
    String group = AmqpNode.unique("client-ack");
    try (Connection connection = factory().createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.CLIENT_ACKNOWLEDGE);
      MessageProducer producer = session.createProducer(session.createQueue("topics/" + topic));
      for (int i = 1; i <= 4; i++) {
        TextMessage m = session.createTextMessage("m" + i);
        m.setIntProperty("n", i);
        producer.send(m);
      }
      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + topic + "/groups/" + group));
      Message first = consumer.receive(10_000);
      Message second = consumer.receive(10_000);
      assertThat(first).isNotNull();
      assertThat(second).isNotNull();
      assertThat(List.of(first.getIntProperty("n"), second.getIntProperty("n"))).containsExactly(1, 2);
      assertThat(first.getIntProperty("JMSXDeliveryCount")).isEqualTo(1);
      // In CLIENT_ACKNOWLEDGE, acknowledge() settles every message the session received with the one outcome:
      // modified{delivery-failed} for both, a nack each (an attempt counted, back after the 50 ms backoff).
      second.setIntProperty("JMS_AMQP_ACK_TYPE", MODIFIED_FAILED);
      second.acknowledge();

      Map<Integer, Integer> deliveryCounts = new TreeMap<>();
      Message last = null;
      for (int i = 0; i < 4; i++) {
        Message m = consumer.receive(10_000);
        assertThat(m).as("delivery %d of 4 after the nack", i + 1).isNotNull();
        deliveryCounts.put(m.getIntProperty("n"), m.getIntProperty("JMSXDeliveryCount"));
        last = m;
      }
      assertThat(deliveryCounts).isEqualTo(Map.of(1, 2, 2, 2, 3, 1, 4, 1));
      assertThat(Interop.lag(node, group)).isEqualTo(4);
      last.acknowledge();  // accepted, for all four
      Interop.awaitLag(node, group, 0);
      assertThat(consumer.receiveNoWait()).isNull();
    }
  }

  @Test
  void individualAcknowledgeWithEachAckType() throws Exception {
    String topic = node.topic(1, Interop.fastRetries());
    String group = AmqpNode.unique("individual");
    try (Connection connection = factory().createConnection()) {
      connection.start();
      Session session = connection.createSession(INDIVIDUAL_ACKNOWLEDGE);
      MessageProducer producer = session.createProducer(session.createQueue("topics/" + topic));
      for (int i = 1; i <= 5; i++) {
        TextMessage m = session.createTextMessage("m" + i);
        m.setIntProperty("n", i);
        producer.send(m);
      }
      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + topic + "/groups/" + group));
      // n=1 accepted; n=2 rejected; n=3 released, then accepted; n=4 modified-failed, then accepted;
      // n=5 modified-failed-undeliverable. Order of redeliveries is not assumed: each message is handled by (n, count).
      Map<Integer, List<Integer>> seen = new TreeMap<>();
      for (int i = 0; i < 7; i++) {
        Message m = consumer.receive(10_000);
        assertThat(m).as("delivery %d of 7 (seen so far: %s)", i + 1, seen).isNotNull();
        int n = m.getIntProperty("n");
        int count = m.getIntProperty("JMSXDeliveryCount");
        List<Integer> counts = seen.computeIfAbsent(n, k -> new ArrayList<>());
        counts.add(count);
        int ackType = switch (n) {
          case 1 -> ACCEPTED;
          case 2 -> REJECTED;
          case 3 -> counts.size() == 1 ? RELEASED : ACCEPTED;
          case 4 -> counts.size() == 1 ? MODIFIED_FAILED : ACCEPTED;
          default -> MODIFIED_FAILED_UNDELIVERABLE;
        };
        m.setIntProperty("JMS_AMQP_ACK_TYPE", ackType);
        m.acknowledge();
      }
      // released: back with no attempt counted (the same delivery count); modified-failed: back after the backoff
      // as a new attempt; rejected and undeliverable: dead-lettered, never back.
      assertThat(seen).isEqualTo(new TreeMap<>(Map.of(
          1, List.of(1), 2, List.of(1), 3, List.of(1, 1), 4, List.of(1, 2), 5, List.of(1))));
      Interop.awaitLag(node, group, 0);
      assertThat(consumer.receiveNoWait()).isNull();
    }
    // The dead-letter topic <topic>.<group>.dlq holds n=2 and n=5 as they were sent: another group drains it.
    String dlq = topic + "." + group + ".dlq";
    try (Connection connection = factory("&jms.validatePropertyNames=false").createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.CLIENT_ACKNOWLEDGE);
      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + dlq + "/groups/g2"));
      Map<Integer, Message> dead = new TreeMap<>();
      for (int i = 0; i < 2; i++) {
        Message m = consumer.receive(10_000);
        assertThat(m).as("dead letter %d of 2", i + 1).isNotNull();
        dead.put(m.getIntProperty("n"), m);
      }
      assertThat(dead).containsOnlyKeys(2, 5);
      assertThat(((TextMessage) dead.get(2)).getText()).isEqualTo("m2");
      assertThat(((TextMessage) dead.get(5)).getText()).isEqualTo("m5");
      assertThat(dead.get(2).getStringProperty("runnel.dlq.group")).isEqualTo(group);
      assertThat(dead.get(2).getStringProperty("runnel.dlq.last-error")).startsWith("rejected");
      assertThat(dead.get(5).getStringProperty("runnel.dlq.last-error")).contains("undeliverable-here");
      dead.get(5).acknowledge();
      assertThat(consumer.receiveNoWait()).isNull();
      Interop.awaitLag(node, "g2", 0);
    }
  }

  @Test
  void groupIdKeysRecordsAndKeepsTheirOrder() throws Exception {
    String topic = node.topic(4);
    String group = AmqpNode.unique("ordered");
    int perKey = 15;
    List<String> keys = List.of("alpha", "beta", "gamma", "delta");
    try (Connection connection = factory().createConnection()) {
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      MessageProducer producer = session.createProducer(session.createQueue("topics/" + topic));
      for (int seq = 0; seq < perKey; seq++) {
        for (String key : keys) {
          TextMessage m = session.createTextMessage(key + "-" + seq);
          m.setStringProperty("JMSXGroupID", key);
          m.setIntProperty("seq", seq);
          producer.send(m);
        }
      }
    }
    // Stored: the group id is the record's key, so each key's records sit in one partition, in send order.
    int partitions = 4;
    Map<String, Set<Integer>> partitionsOfKey = new HashMap<>();
    for (int p = 0; p < partitions; p++) {
      for (StoredRecord r : node.broker.read(topic, p, 0, 1_000, 1 << 24).await().records()) {
        String key = new String(r.key(), StandardCharsets.UTF_8);
        partitionsOfKey.computeIfAbsent(key, k -> new TreeSet<>()).add(p);
      }
    }
    assertThat(partitionsOfKey).containsOnlyKeys(keys);
    partitionsOfKey.values().forEach(ps -> assertThat(ps).hasSize(1));

    // Consumed with Qpid JMS's default prefetch (many deliveries outstanding at once): per key, in order.
    Map<String, List<Integer>> order = new LinkedHashMap<>();
    try (Connection connection = new JmsConnectionFactory(node.amqpUri()).createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + topic + "/groups/" + group));
      for (int i = 0; i < perKey * keys.size(); i++) {
        Message m = consumer.receive(10_000);
        assertThat(m).as("message %d", i).isNotNull();
        order.computeIfAbsent(m.getStringProperty("JMSXGroupID"), k -> new ArrayList<>()).add(m.getIntProperty("seq"));
      }
    }
    List<Integer> expected = new ArrayList<>();
    for (int seq = 0; seq < perKey; seq++) {
      expected.add(seq);
    }
    assertThat(order).containsOnlyKeys(keys);
    order.forEach((key, seqs) -> assertThat(seqs).as("order of key %s", key).isEqualTo(expected));
  }

  @Test
  void messageTypesAndTypedPropertiesRoundTrip() throws Exception {
    String topic = node.topic(1);
    String group = AmqpNode.unique("types");
    byte[] raw = {0, (byte) 0xff, 1, (byte) 0x80, 127, (byte) 0xc3};
    try (Connection connection = factory().createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      Queue queue = session.createQueue("topics/" + topic);
      MessageProducer producer = session.createProducer(queue);

      TextMessage text = session.createTextMessage("héllo wörld ✓");
      text.setIntProperty("i", Integer.MIN_VALUE);
      text.setLongProperty("l", Long.MAX_VALUE);
      text.setBooleanProperty("bool", true);
      text.setDoubleProperty("d", -1.25e300);
      text.setStringProperty("s", "text ✓");
      text.setByteProperty("b", (byte) -7);
      text.setShortProperty("sh", (short) 31_000);
      text.setFloatProperty("f", 3.5f);
      text.setJMSType("greeting");
      text.setJMSCorrelationID("corr-1");
      producer.send(text, DeliveryMode.PERSISTENT, 7, 0);

      BytesMessage bytes = session.createBytesMessage();
      bytes.writeBytes(raw);
      bytes.setLongProperty("l", -1L);
      producer.send(bytes, DeliveryMode.NON_PERSISTENT, 2, 0);

      MapMessage map = session.createMapMessage();
      map.setString("s", "v");
      map.setInt("i", 42);
      map.setBoolean("b", false);
      map.setDouble("d", 0.5);
      map.setBytes("raw", raw);
      producer.send(map);

      ObjectMessage object = session.createObjectMessage(new ArrayList<>(List.of("x", 1, 2L)));
      producer.send(object);

      StreamMessage stream = session.createStreamMessage();
      stream.writeString("first");
      stream.writeInt(9);
      stream.writeBoolean(true);
      producer.send(stream);

      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + topic + "/groups/" + group));
      Message m1 = consumer.receive(10_000);
      assertThat(m1).isInstanceOf(TextMessage.class);
      assertThat(((TextMessage) m1).getText()).isEqualTo("héllo wörld ✓");
      Map<String, Object> props = new TreeMap<>();
      for (String name : List.of("i", "l", "bool", "d", "s", "b", "sh", "f")) {
        props.put(name, m1.getObjectProperty(name));
      }
      assertThat(props).containsExactlyInAnyOrderEntriesOf(Map.of("i", Integer.MIN_VALUE, "l", Long.MAX_VALUE,
          "bool", true, "d", -1.25e300, "s", "text ✓", "b", (byte) -7, "sh", (short) 31_000, "f", 3.5f));
      // the exact types, not just equal values (Byte, Short, Float are not widened)
      assertThat(m1.getObjectProperty("b")).isInstanceOf(Byte.class);
      assertThat(m1.getObjectProperty("sh")).isInstanceOf(Short.class);
      assertThat(m1.getObjectProperty("f")).isInstanceOf(Float.class);
      assertThat(m1.getObjectProperty("l")).isInstanceOf(Long.class);
      assertThat(m1.getJMSType()).isEqualTo("greeting");
      assertThat(m1.getJMSCorrelationID()).isEqualTo("corr-1");
      assertThat(m1.getJMSPriority()).isEqualTo(7);
      assertThat(m1.getJMSDeliveryMode()).isEqualTo(DeliveryMode.PERSISTENT);
      assertThat(m1.getJMSMessageID()).isEqualTo(text.getJMSMessageID());

      Message m2 = consumer.receive(10_000);
      assertThat(m2).isInstanceOf(BytesMessage.class);
      BytesMessage b2 = (BytesMessage) m2;
      byte[] got = new byte[(int) b2.getBodyLength()];
      b2.readBytes(got);
      assertThat(got).containsExactly(raw);
      assertThat(m2.getObjectProperty("l")).isEqualTo(-1L);
      assertThat(m2.getJMSDeliveryMode()).isEqualTo(DeliveryMode.NON_PERSISTENT);
      assertThat(m2.getJMSPriority()).isEqualTo(2);

      Message m3 = consumer.receive(10_000);
      assertThat(m3).isInstanceOf(MapMessage.class);
      MapMessage map3 = (MapMessage) m3;
      assertThat(map3.getString("s")).isEqualTo("v");
      assertThat(map3.getObject("i")).isEqualTo(42);
      assertThat(map3.getObject("b")).isEqualTo(false);
      assertThat(map3.getObject("d")).isEqualTo(0.5);
      assertThat(map3.getBytes("raw")).containsExactly(raw);

      Message m4 = consumer.receive(10_000);
      assertThat(m4).isInstanceOf(ObjectMessage.class);
      assertThat(((ObjectMessage) m4).getObject()).isEqualTo(List.of("x", 1, 2L));

      Message m5 = consumer.receive(10_000);
      assertThat(m5).isInstanceOf(StreamMessage.class);
      StreamMessage s5 = (StreamMessage) m5;
      assertThat(s5.readString()).isEqualTo("first");
      assertThat(s5.readInt()).isEqualTo(9);
      assertThat(s5.readBoolean()).isTrue();

      assertThat(consumer.receiveNoWait()).isNull();
    }
  }

  @Test
  void receiveNoWaitGetsTheWaitingMessage() throws Exception {
    String topic = node.topic(2);
    String group = AmqpNode.unique("nowait");
    try (JMSContext context = factory().createContext(JMSContext.AUTO_ACKNOWLEDGE)) {
      JMSConsumer consumer = context.createConsumer(context.createQueue("topics/" + topic + "/groups/" + group));
      var producer = context.createProducer();
      assertTimeoutPreemptively(REFUSAL_BOUND, () -> {
        assertThat(consumer.receiveNoWait()).as("nothing waits yet").isNull();
        producer.send(context.createQueue("topics/" + topic), "one");
        Message m = consumer.receiveNoWait();
        assertThat(m).as("the committed message waits: the drain must bring it").isNotNull();
        assertThat(m.getBody(String.class)).isEqualTo("one");
        assertThat(consumer.receiveNoWait()).as("nothing waits any more").isNull();

        // After a receive(timeout) that found nothing (the server may still be polling for it), a message sent
        // then is still what the next receiveNoWait gets.
        assertThat(consumer.receive(200)).isNull();
        producer.send(context.createQueue("topics/" + topic), "two");
        Message two = consumer.receiveNoWait();
        assertThat(two).as("the message sent after an empty receive(timeout)").isNotNull();
        assertThat(two.getBody(String.class)).isEqualTo("two");
      });
      Interop.awaitLag(node, group, 0);
    }
  }

  @Test
  void sharedDurableSubscriptionIsAGroup() throws Exception {
    String topic = node.topic(2);
    String subscription = AmqpNode.unique("S");
    try (JMSContext a = factory().createContext(JMSContext.CLIENT_ACKNOWLEDGE);
         JMSContext b = factory().createContext(JMSContext.CLIENT_ACKNOWLEDGE)) {
      JMSConsumer first = a.createSharedDurableConsumer(a.createTopic("topics/" + topic), subscription);
      JMSConsumer second = b.createSharedDurableConsumer(b.createTopic("topics/" + topic), subscription);
      // Both links (named S|global and S|global2 by Qpid JMS) are members of group S.
      Interop.await("both subscribers are members of group " + subscription,
          () -> node.broker.describeGroup(subscription).await().members().size() == 2);
      var producer = a.createProducer();
      for (int i = 0; i < 6; i++) {
        producer.send(a.createTopic("topics/" + topic), "s" + i);
      }
      // A shared subscription: each message reaches one of the two subscribers.
      List<String> got = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        Message m = first.receive(200);
        if (m == null) {
          m = second.receive(10_000);
        }
        assertThat(m).as("message %d", i).isNotNull();
        got.add(m.getBody(String.class));
        m.acknowledge();
      }
      assertThat(got).containsExactlyInAnyOrder("s0", "s1", "s2", "s3", "s4", "s5");
      Interop.awaitLag(node, subscription, 0);
      assertThat(first.receiveNoWait()).isNull();
      assertThat(second.receiveNoWait()).isNull();
    }
  }

  @Test
  void refusalsRaiseTheirExceptionAndTheConnectionLivesOn() throws Exception {
    String topic = node.topic(1);
    String group = AmqpNode.unique("after-refusals");
    String missing = AmqpNode.unique("missing");
    try (Connection connection = factory().createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.CLIENT_ACKNOWLEDGE);
      assertTimeoutPreemptively(REFUSAL_BOUND, () -> {
        // a producer link on a topic that does not exist: amqp:not-found
        assertThatThrownBy(() -> session.createProducer(session.createQueue("topics/" + missing)))
            .isInstanceOf(InvalidDestinationException.class);
        // the anonymous relay: a message to a topic that does not exist is rejected amqp:not-found
        MessageProducer anonymous = session.createProducer(null);
        assertThatThrownBy(() -> anonymous.send(session.createQueue("topics/" + missing), session.createTextMessage("x")))
            .isInstanceOf(InvalidDestinationException.class);
        // a consumer of a topic without a group: amqp:invalid-field, a plain JMSException saying what to do
        assertThatThrownBy(() -> session.createConsumer(session.createQueue("topics/" + topic)))
            .isInstanceOf(JMSException.class)
            .isNotInstanceOf(InvalidDestinationException.class)
            .hasMessageContaining("consume from topics/" + topic + "/groups/");
        // a consumer of a missing topic
        assertThatThrownBy(() -> session.createConsumer(session.createQueue("topics/" + missing + "/groups/g")))
            .isInstanceOf(InvalidDestinationException.class);
        // not an address of ours: amqp:invalid-field
        assertThatThrownBy(() -> session.createProducer(session.createQueue("orders")))
            .isInstanceOf(JMSException.class)
            .hasMessageContaining("topics/<topic>");
        // a transacted session attaches a transaction coordinator: amqp:not-implemented
        assertThatThrownBy(() -> connection.createSession(true, Session.SESSION_TRANSACTED))
            .isInstanceOf(JMSException.class)
            .hasMessageContaining("transactions are not implemented");
        // a selector is a filter we do not implement
        assertThatThrownBy(() -> session.createConsumer(session.createQueue("topics/" + topic + "/groups/" + group),
            "color = 'red'"))
            .isInstanceOf(JMSException.class)
            .hasMessageContaining("not implemented");
      });

      // The same connection and session still produce and consume.
      MessageProducer producer = session.createProducer(session.createQueue("topics/" + topic));
      producer.send(session.createTextMessage("still alive"));
      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + topic + "/groups/" + group));
      Message m = consumer.receive(10_000);
      assertThat(m).isNotNull();
      assertThat(((TextMessage) m).getText()).isEqualTo("still alive");
      m.acknowledge();
      Interop.awaitLag(node, group, 0);
    }
  }
}
