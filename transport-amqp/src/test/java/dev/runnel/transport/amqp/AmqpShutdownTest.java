package dev.runnel.transport.amqp;

import dev.runnel.broker.Delivery;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.proton.ProtonClient;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.ProtonDelivery;
import io.vertx.proton.ProtonReceiver;
import io.vertx.proton.ProtonSender;
import org.apache.qpid.proton.Proton;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.AmqpValue;
import org.apache.qpid.proton.amqp.messaging.Released;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.apache.qpid.proton.amqp.transport.ErrorCondition;
import org.apache.qpid.proton.message.Message;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A stop of the transport (the node's SIGTERM), DESIGN.md section 7: producer transfers already received are settled
 * by their commit's outcome, consumer deliveries are released with no attempt counted, and the connection closes with
 * {@code amqp:connection:forced}.
 */
@Timeout(60)
class AmqpShutdownTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  @Test
  void aStopSettlesProducersReleasesDeliveriesAndClosesConnectionsForced() throws Exception {
    AmqpNode node = new AmqpNode(PG);
    try {
      String topic = node.topic(1);
      node.broker.produce(topic, List.of(new ProduceRecord(null, "held".getBytes(StandardCharsets.UTF_8),
          "text/plain", List.of(), null, null))).await();

      CompletableFuture<ProtonConnection> connected = new CompletableFuture<>();
      CompletableFuture<ErrorCondition> closed = new CompletableFuture<>();
      CompletableFuture<ProtonDelivery> held = new CompletableFuture<>();
      CompletableFuture<DeliveryState> heldOutcome = new CompletableFuture<>();
      List<DeliveryState> produced = new CopyOnWriteArrayList<>();
      CompletableFuture<Void> producerReady = new CompletableFuture<>();
      ProtonSender[] producer = new ProtonSender[1];
      node.vertx.runOnContext(v -> ProtonClient.create(node.vertx).connect("127.0.0.1", node.amqp.actualPort(), ar -> {
        ProtonConnection c = ar.result();
        c.closeHandler(x -> closed.complete(c.getRemoteCondition()));
        c.openHandler(x -> connected.complete(c)).open();
        ProtonReceiver consumer = c.createReceiver("topics/" + topic + "/groups/g");
        consumer.setPrefetch(0).setAutoAccept(false).handler((d, m) -> held.complete(d));
        consumer.open();
        consumer.flow(10);
        producer[0] = c.createSender("topics/" + topic);
        producer[0].openHandler(x -> producerReady.complete(null)).open();
      }));
      ProtonDelivery delivery = held.get(20, TimeUnit.SECONDS);  // held, never settled by the client
      producerReady.get(20, TimeUnit.SECONDS);
      CompletableFuture<Void> sent = new CompletableFuture<>();
      node.vertx.runOnContext(v -> {
        for (int i = 0; i < 20; i++) {
          Message m = Proton.message();
          m.setBody(new AmqpValue("during stop " + i));
          producer[0].send(m, d -> produced.add(d.getRemoteState()));
        }
        sent.complete(null);
      });
      sent.get(10, TimeUnit.SECONDS);

      node.amqp.stop().await();

      ErrorCondition condition = closed.get(20, TimeUnit.SECONDS);
      assertThat(condition).isNotNull();
      assertThat(condition.getCondition().toString()).isEqualTo("amqp:connection:forced");
      // Every transfer that reached the node before the stop got its outcome, and each accepted one is stored.
      long accepted = produced.stream().filter(s -> s instanceof Accepted).count();
      assertThat(produced).allMatch(s -> s instanceof Accepted || s instanceof Released);
      long stored = node.broker.describeTopic(topic).await().partitions().get(0).highWatermark() - 1;
      assertThat(stored).isGreaterThanOrEqualTo(accepted);
      // The held delivery was released to the client and comes back with no attempt counted.
      assertThat(delivery.getRemoteState()).isInstanceOf(Released.class);
      assertThat(delivery.remotelySettled()).isTrue();
      Membership m = node.broker.join("g", new JoinRequest(List.of(topic), null, 30_000, 30_000, false)).await();
      List<Delivery> again = node.broker.fetch("g", m.memberId(), 10, 1 << 20, 0).await();
      assertThat(again).isNotEmpty();
      assertThat(again.get(0).offset()).isEqualTo(0);
      assertThat(again.get(0).attempt()).isEqualTo(1);
    } finally {
      node.close();
    }
  }
}
