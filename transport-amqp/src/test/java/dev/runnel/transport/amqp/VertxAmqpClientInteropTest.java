package dev.runnel.transport.amqp;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.amqp.AmqpClient;
import io.vertx.amqp.AmqpClientOptions;
import io.vertx.amqp.AmqpConnection;
import io.vertx.amqp.AmqpMessage;
import io.vertx.amqp.AmqpReceiverOptions;
import io.vertx.amqp.AmqpSender;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.apache.qpid.proton.amqp.Symbol;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Interop with vertx-amqp-client (from the Vert.x BOM; written by nobody here): a sender sends a batch and waits for
 * each message's {@code accepted}; a receiver with manual acknowledgement gets the whole batch and accepts each.
 */
class VertxAmqpClientInteropTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final int BATCH = 500;
  private static final int KEYS = 7;
  private static AmqpNode node;
  private static Vertx clientVertx;

  @BeforeAll
  static void start() {
    node = new AmqpNode(PG);
    clientVertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() {
    clientVertx.close().await();
    node.close();
  }

  @Test
  void aBatchIsAcceptedThenReceivedAndAccepted() throws Exception {
    String topic = node.topic(3);
    String group = AmqpNode.unique("vertx");
    AmqpClient client = AmqpClient.create(clientVertx, new AmqpClientOptions()
        .setHost("127.0.0.1").setPort(node.amqp.actualPort()));
    try {
      AmqpConnection connection = client.connect().await(10, TimeUnit.SECONDS);
      AmqpSender sender = connection.createSender("topics/" + topic).await(10, TimeUnit.SECONDS);
      List<Future<Void>> acks = new ArrayList<>();
      for (int i = 0; i < BATCH; i++) {
        AmqpMessage m = AmqpMessage.create().id("vx-" + i).groupId("k" + (i % KEYS)).withBody("body " + i)
            .applicationProperties(new JsonObject().put("n", i)).build();
        acks.add(sender.sendWithAck(m));  // completes when the server settles it accepted, failed otherwise
      }
      Future.all(acks).await(30, TimeUnit.SECONDS);
      assertThat(Interop.records(node, topic)).hasSize(BATCH);

      Promise<Void> all = Promise.promise();
      List<AmqpMessage> received = new ArrayList<>();  // touched on the client's context only
      connection.createReceiver("topics/" + topic + "/groups/" + group,
          new AmqpReceiverOptions().setAutoAcknowledgement(false)).await(10, TimeUnit.SECONDS)
          .handler(m -> {
            received.add(m);
            m.accepted();
            if (received.size() == BATCH) {
              all.tryComplete();
            }
          });
      all.future().await(30, TimeUnit.SECONDS);

      Map<String, List<Integer>> byKey = new LinkedHashMap<>();
      for (AmqpMessage m : received) {
        int n = m.applicationProperties().getInteger("n");
        assertThat(m.bodyAsString()).isEqualTo("body " + n);
        assertThat(m.id()).isEqualTo("vx-" + n);
        // the group id became the record's key, which comes back as x-opt-partition-key
        Object key = m.unwrap().getMessageAnnotations().getValue().get(Symbol.valueOf("x-opt-partition-key"));
        assertThat(key).isEqualTo("k" + (n % KEYS)).isEqualTo(m.groupId());
        byKey.computeIfAbsent(m.groupId(), k -> new ArrayList<>()).add(n);
      }
      assertThat(received).hasSize(BATCH);
      // every message once, and each key's messages in the order they were sent
      assertThat(received.stream().map(m -> m.applicationProperties().getInteger("n")).distinct().count())
          .isEqualTo(BATCH);
      byKey.forEach((k, ns) -> assertThat(ns).as("order of key %s", k).isSorted());
      Interop.awaitLag(node, group, 0);
      connection.close().await(10, TimeUnit.SECONDS);
    } finally {
      client.close().await(10, TimeUnit.SECONDS);
    }
  }
}
