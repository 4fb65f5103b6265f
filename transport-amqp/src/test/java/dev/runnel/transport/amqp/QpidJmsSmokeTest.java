package dev.runnel.transport.amqp;

import dev.runnel.durability.test.TestPostgres;
import jakarta.jms.JMSConsumer;
import jakarta.jms.JMSContext;
import jakarta.jms.Message;
import jakarta.jms.TextMessage;
import org.apache.qpid.jms.JmsConnectionFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class QpidJmsSmokeTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static AmqpNode node;

  @BeforeAll
  static void start() {
    node = new AmqpNode(PG);
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  @Test
  void producesAndConsumes() throws Exception {
    String topic = node.topic(2);
    JmsConnectionFactory factory = new JmsConnectionFactory(node.amqpUri() + "?jms.prefetchPolicy.all=0");
    try (JMSContext context = factory.createContext(JMSContext.CLIENT_ACKNOWLEDGE)) {
      var producer = context.createProducer();
      for (int i = 0; i < 5; i++) {
        TextMessage m = context.createTextMessage("hello " + i);
        m.setStringProperty("JMSXGroupID", "k");
        m.setIntProperty("n", i);
        producer.send(context.createQueue("topics/" + topic), m);
      }
      JMSConsumer consumer = context.createConsumer(context.createQueue("topics/" + topic + "/groups/g"));
      List<String> got = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        Message m = consumer.receive(10_000);
        assertThat(m).isNotNull();
        got.add(((TextMessage) m).getText() + "/" + m.getIntProperty("n"));
        m.acknowledge();
      }
      assertThat(got).containsExactly("hello 0/0", "hello 1/1", "hello 2/2", "hello 3/3", "hello 4/4");
      assertThat(consumer.receiveNoWait()).isNull();
    }
  }
}
