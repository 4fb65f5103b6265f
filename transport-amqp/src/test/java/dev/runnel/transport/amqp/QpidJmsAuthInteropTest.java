package dev.runnel.transport.amqp;

import dev.runnel.broker.TopicConfig;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.ApiKeys;
import dev.runnel.broker.auth.Grant;
import dev.runnel.broker.auth.Right;
import dev.runnel.durability.test.TestPostgres;
import jakarta.jms.Connection;
import jakarta.jms.JMSSecurityException;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.MessageProducer;
import jakarta.jms.Session;
import jakarta.jms.TextMessage;
import org.apache.qpid.jms.JmsConnectionFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Qpid JMS against a node with auth on (DESIGN.md section 7): SASL PLAIN with an API key's name and secret, rights
 * checked per link and, over the anonymous relay, per message, each refusal a {@link JMSSecurityException} on a
 * connection that lives on; a wrong secret or no credentials at all refuse the connection.
 */
class QpidJmsAuthInteropTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final Duration BOUND = Duration.ofSeconds(20);
  private static AmqpNode node;
  private static String orders;
  private static String other;

  @BeforeAll
  static void start() {
    node = new AmqpNode(PG, null, o -> o.setApiKeys(ApiKeys.of(List.of(
        new ApiKey("billing", "b1ll1ng", List.of(new Grant("orders*", EnumSet.of(Right.PRODUCE)))),
        new ApiKey("ops", "0ps", List.of(new Grant("*", EnumSet.allOf(Right.class))))))));
    orders = "orders-" + AmqpNode.unique("a");
    other = "invoices-" + AmqpNode.unique("b");
    node.broker.createTopic(orders, 1, TopicConfig.DEFAULT).await();
    node.broker.createTopic(other, 1, TopicConfig.DEFAULT).await();
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  private static JmsConnectionFactory factory(String user, String password) {
    String credentials = user == null ? "" : "&jms.username=" + user + "&jms.password=" + password;
    return new JmsConnectionFactory(node.amqpUri() + "?jms.prefetchPolicy.all=0" + credentials);
  }

  @Test
  void aKeyMayDoWhatItsGrantsAllowAndIsRefusedTheRest() throws Exception {
    try (Connection connection = factory("billing", "b1ll1ng").createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      assertTimeoutPreemptively(BOUND, () -> {
        // produce to a topic it has no grant on: the link is refused amqp:unauthorized-access
        assertThatThrownBy(() -> session.createProducer(session.createQueue("topics/" + other)))
            .isInstanceOf(JMSSecurityException.class)
            .hasMessageContaining("billing");
        // consume from a topic it may only produce to
        assertThatThrownBy(() -> session.createConsumer(session.createQueue("topics/" + orders + "/groups/g")))
            .isInstanceOf(JMSSecurityException.class);
        // the anonymous relay checks each message: this one is rejected amqp:unauthorized-access
        MessageProducer anonymous = session.createProducer(null);
        assertThatThrownBy(() -> anonymous.send(session.createQueue("topics/" + other), session.createTextMessage("x")))
            .isInstanceOf(JMSSecurityException.class);
        // ...and the next message, to a topic it may produce to, goes through on the same link
        anonymous.send(session.createQueue("topics/" + orders), session.createTextMessage("by relay"));
      });
      // The connection lives on: a producer on its own topic works.
      MessageProducer producer = session.createProducer(session.createQueue("topics/" + orders));
      producer.send(session.createTextMessage("by link"));
    }
    assertThat(Interop.records(node, orders)).extracting(r -> new String(r.value(), StandardCharsets.UTF_8))
        .containsExactly("by relay", "by link");
    assertThat(Interop.records(node, other)).isEmpty();

    // A key with every right consumes them.
    try (Connection connection = factory("ops", "0ps").createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + orders + "/groups/ops"));
      Message m = consumer.receive(10_000);
      assertThat(m).isNotNull();
      assertThat(((TextMessage) m).getText()).isEqualTo("by relay");
    }
  }

  @Test
  void aWrongSecretIsRefusedTheConnection() {
    assertTimeoutPreemptively(BOUND, () -> {
      assertThatThrownBy(() -> {
        try (Connection connection = factory("billing", "wrong").createConnection()) {
          connection.start();
        }
      }).isInstanceOf(JMSSecurityException.class);
      assertThatThrownBy(() -> {
        try (Connection connection = factory("nobody", "b1ll1ng").createConnection()) {
          connection.start();
        }
      }).isInstanceOf(JMSSecurityException.class);
    });
  }

  @Test
  void noCredentialsIsRefusedTheConnection() {
    // With auth on, ANONYMOUS is not offered: a client without credentials cannot authenticate.
    assertTimeoutPreemptively(BOUND, () -> assertThatThrownBy(() -> {
      try (Connection connection = factory(null, null).createConnection()) {
        connection.start();
      }
    }).isInstanceOf(JMSSecurityException.class));
  }
}
