package dev.runnel.transport.amqp;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.net.SelfSignedCertificate;
import jakarta.jms.JMSContext;
import jakarta.jms.JMSRuntimeException;
import jakarta.jms.TextMessage;
import org.apache.qpid.jms.JmsConnectionFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** TLS on the AMQP listener from PEM files: AMQPS works, plain AMQP does not get through. */
@Timeout(60)
class AmqpTlsTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static SelfSignedCertificate certificate;
  private static AmqpNode node;

  @BeforeAll
  static void start() {
    certificate = SelfSignedCertificate.create("localhost");
    node = new AmqpNode(PG, null, o -> o.setTls(certificate.certificatePath(), certificate.privateKeyPath()));
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
    if (certificate != null) {
      certificate.delete();
    }
  }

  @Test
  void aQpidJmsClientProducesAndConsumesOverAmqps() throws Exception {
    String topic = node.topic(1);
    String url = "amqps://127.0.0.1:" + node.amqp.actualPort()
        + "?transport.trustAll=true&transport.verifyHost=false&jms.prefetchPolicy.all=0";
    try (JMSContext context = new JmsConnectionFactory(url).createContext(JMSContext.CLIENT_ACKNOWLEDGE)) {
      context.createProducer().send(context.createQueue("topics/" + topic), "over tls");
      TextMessage got = (TextMessage) context.createConsumer(context.createQueue("topics/" + topic + "/groups/g"))
          .receive(10_000);
      assertThat(got).isNotNull();
      assertThat(got.getText()).isEqualTo("over tls");
      got.acknowledge();
    }
  }

  @Test
  void plainAmqpIsNotServed() {
    String url = node.amqpUri() + "?amqp.saslLayer=true&jms.connectTimeout=5000";
    assertThatThrownBy(() -> {
      try (JMSContext context = new JmsConnectionFactory(url).createContext()) {
        context.createProducer().send(context.createQueue("topics/x"), "plain");
      }
    }).isInstanceOf(JMSRuntimeException.class);
  }
}
