package dev.runnel.load.amqp;

import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import org.apache.qpid.proton.Proton;
import org.apache.qpid.proton.amqp.Binary;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Data;
import org.apache.qpid.proton.amqp.messaging.MessageAnnotations;
import org.apache.qpid.proton.amqp.messaging.Rejected;
import org.apache.qpid.proton.amqp.messaging.Released;
import org.apache.qpid.proton.amqp.transport.ErrorCondition;
import org.apache.qpid.proton.message.Message;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The AMQP driver against stand-in nodes ({@link StandInAmqpNode}) that keep to the contract of DESIGN.md section 7:
 * the messages it sends, the window and the node's credit bounding what is unsettled, the outcomes, SASL, the move to
 * the next node, the consumer's link, its settlements and its leaving; and the topic prepared over HTTP.
 */
class AmqpDriverTest {

  private final List<AutoCloseable> closing = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (int i = closing.size() - 1; i >= 0; i--) {
      closing.get(i).close();
    }
  }

  private StandInAmqpNode node(String user, String password) throws Exception {
    StandInAmqpNode n = new StandInAmqpNode(user, password);
    closing.add(n);
    return n;
  }

  private AmqpDriver driver(String target, String apiKey, boolean json, int window) {
    return driver(target, apiKey, json, false, window);
  }

  private AmqpDriver driver(String target, String apiKey, boolean json, boolean startAtLatest, int window) {
    List<URI> nodes = dev.runnel.load.DriverFactory.nodes(target);
    AmqpDriver d = new AmqpDriver(nodes, AmqpDriver.adminNodes(nodes, null), apiKey, json, startAtLatest, window);
    closing.add(d);
    return d;
  }

  private static List<OutgoingRecord> records(int n, String prefix) {
    List<OutgoingRecord> records = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      records.add(new OutgoingRecord("key-" + i, ("{\"n\":\"" + prefix + i + "\"}").getBytes(StandardCharsets.UTF_8),
          Map.of("source", "load-test")));
    }
    return records;
  }

  private static List<Ack> await(java.util.concurrent.CompletionStage<List<Ack>> sent) throws Exception {
    return sent.toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @Test
  void aSendGoesAsTheContractsMessagesAndCompletesOnceAllAreAccepted() throws Exception {
    StandInAmqpNode node = node(null, null);
    AmqpDriver driver = driver(node.url(), null, true, 1000);
    try (ProducerClient p = driver.producer("orders")) {
      List<Ack> acks = await(p.send(records(3, "a")));
      assertThat(acks).hasSize(3).allSatisfy(a -> assertThat(a.placed()).isFalse());
    }
    assertThat(node.producerTargets).containsExactly("topics/orders");
    assertThat(node.users()).containsExactly("(anonymous)");
    assertThat(node.messages).hasSize(3);
    Message m = node.messages.get(1);
    assertThat(((Data) m.getBody()).getValue().toString()).isNotEmpty();
    assertThat(new String(AmqpMessages.body(m.getBody()), StandardCharsets.UTF_8)).isEqualTo("{\"n\":\"a1\"}");
    assertThat(m.getContentType()).isEqualTo("application/json");
    assertThat(m.getMessageAnnotations().getValue()).containsEntry(Symbol.valueOf("x-opt-partition-key"), "key-1");
    assertThat(m.getApplicationProperties().getValue()).containsEntry("source", "load-test");
    assertThat(driver.acksNamePositions()).isFalse();
  }

  @Test
  void theWindowBoundsTheUnsettledMessagesOfALink() throws Exception {
    StandInAmqpNode node = node(null, null);
    AmqpDriver driver = driver(node.url(), null, false, 5);
    try (ProducerClient p = driver.producer("t")) {
      List<CompletableFuture<List<Ack>>> sends = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        sends.add(p.send(records(10, "b" + i + "-")).toCompletableFuture());
      }
      for (CompletableFuture<List<Ack>> s : sends) {
        assertThat(s.get(10, TimeUnit.SECONDS)).hasSize(10);
      }
      assertThat(((AmqpProducer) p).peakUnsettled()).isEqualTo(5);
    }
    assertThat(node.messages).hasSize(100);
    assertThat(node.maxUnsettled.get()).as("never more than the window unsettled").isBetween(1, 5);
    assertThat(node.messages.get(0).getContentType()).isEqualTo("application/octet-stream");
  }

  @Test
  void theNodesCreditBoundsThemToo() throws Exception {
    StandInAmqpNode node = node(null, null);
    node.credit = 3;
    AmqpDriver driver = driver(node.url(), null, true, 1000);
    try (ProducerClient p = driver.producer("t")) {
      assertThat(await(p.send(records(50, "c")))).hasSize(50);
    }
    assertThat(node.messages).hasSize(50);
    assertThat(node.maxUnsettled.get()).isBetween(1, 3);
  }

  /** Credit the node never tops up: three messages go, the others wait in the driver (not in proton's buffers). */
  @Test
  void messagesPastTheCreditWaitInTheDriver() throws Exception {
    StandInAmqpNode node = node(null, null);
    node.credit = 3;
    node.topUp = false;
    AmqpDriver driver = driver(node.url(), null, true, 1000);
    try (ProducerClient p = driver.producer("t")) {
      List<CompletableFuture<List<Ack>>> sends = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        sends.add(p.send(records(1, "w" + i)).toCompletableFuture());
      }
      for (int i = 0; i < 3; i++) {
        assertThat(sends.get(i).get(10, TimeUnit.SECONDS)).hasSize(1);
      }
      Thread.sleep(100);
      assertThat(sends.get(3)).isNotDone();
      assertThat(node.messages).hasSize(3);
      assertThat(((AmqpProducer) p).queuedMessages()).as("waiting for credit").isEqualTo(2);
      assertThat(((AmqpProducer) p).peakUnsettled()).isEqualTo(3);
    }
  }

  @Test
  void aRejectedMessageFailsItsSendWithTheNodesCondition() throws Exception {
    StandInAmqpNode node = node(null, null);
    node.outcomes = n -> {
      if (n != 1) {
        return Accepted.getInstance();
      }
      Rejected r = new Rejected();
      r.setError(new ErrorCondition(Symbol.valueOf("amqp:invalid-field"), "no such thing"));
      return r;
    };
    AmqpDriver driver = driver(node.url(), null, true, 1000);
    try (ProducerClient p = driver.producer("t")) {
      assertThatThrownBy(() -> await(p.send(records(3, "d")))).isInstanceOf(ExecutionException.class)
          .hasMessageContaining("rejected").hasMessageContaining("amqp:invalid-field").hasMessageContaining("no such thing");
      assertThat(await(p.send(records(2, "e")))).as("the link goes on").hasSize(2);
    }
  }

  @Test
  void aReleasedMessageIsSentAgainAndSaidInTheNotes() throws Exception {
    StandInAmqpNode node = node(null, null);
    node.outcomes = n -> n == 0 ? Released.getInstance() : Accepted.getInstance();
    AmqpDriver driver = driver(node.url(), null, true, 1000);
    try (ProducerClient p = driver.producer("t")) {
      assertThat(await(p.send(records(1, "f")))).hasSize(1);
    }
    assertThat(node.messages).hasSize(2);
    assertThat(AmqpMessages.body(node.messages.get(1).getBody())).isEqualTo(AmqpMessages.body(node.messages.get(0).getBody()));
    assertThat(driver.notes()).anySatisfy(n -> assertThat(n).contains("1 AMQP message(s) the node released"));
  }

  @Test
  void aMessageReleasedEveryTimeFailsItsSendAfterTheAttempts() throws Exception {
    StandInAmqpNode node = node(null, null);
    node.outcomes = n -> Released.getInstance();
    AmqpDriver driver = driver(node.url(), null, true, 1000);
    try (ProducerClient p = driver.producer("t")) {
      assertThatThrownBy(() -> await(p.send(records(1, "g")))).hasMessageContaining("released a message 5 times");
    }
    assertThat(node.messages).hasSize(AmqpProducer.ATTEMPTS);
  }

  @Test
  void anApiKeyGoesAsSaslPlain() throws Exception {
    StandInAmqpNode node = node("loader", "s3cret");
    try (ProducerClient p = driver(node.url(), "loader:s3cret", true, 1000).producer("t")) {
      assertThat(await(p.send(records(1, "h")))).hasSize(1);
    }
    assertThat(node.users()).containsExactly("loader");
    try (ProducerClient p = driver(node.url(), "loader:wrong", true, 1000).producer("t")) {
      assertThatThrownBy(() -> await(p.send(records(1, "i")))).isInstanceOf(ExecutionException.class);
    }
    assertThat(node.messages).hasSize(1);
  }

  @Test
  void aNodeThatDoesNotAnswerIsLeftForTheNextOne() throws Exception {
    StandInAmqpNode node = node(null, null);
    AmqpDriver driver = driver("amqp://127.0.0.1:1," + node.url(), null, true, 1000);
    try (ProducerClient p = driver.producer("t")) {
      assertThatThrownBy(() -> await(p.send(records(1, "j")))).hasMessageContaining("127.0.0.1:1");
      assertThat(await(p.send(records(2, "k")))).hasSize(2);
    }
    assertThat(node.messages).hasSize(2);
  }

  @Test
  void aConsumerReadsTheAnnotationsAcceptsEachDeliveryAndLeavesByClosingItsLink() throws Exception {
    StandInAmqpNode node = node(null, null);
    List<Message> deliveries = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      Message m = Proton.message();
      m.setBody(new Data(new Binary(("v" + i).getBytes(StandardCharsets.UTF_8))));
      m.setMessageAnnotations(new MessageAnnotations(Map.of(Symbol.valueOf("x-opt-partition-key"), "key-" + i,
          Symbol.valueOf("x-opt-partition-id"), i % 2, Symbol.valueOf("x-opt-sequence-number"), 10L + i,
          Symbol.valueOf("x-opt-enqueued-time"), new java.util.Date())));
      deliveries.add(m);
    }
    node.deliveries = deliveries;
    AmqpDriver driver = driver(node.url(), null, true, 1000);
    List<String> got = new CopyOnWriteArrayList<>();
    ConsumerClient c = driver.consumer("orders", "g1", GroupMode.PARTITIONED, (key, value, partition, offset, at) ->
        got.add(key + "=" + new String(value, StandardCharsets.UTF_8) + "@" + partition + "/" + offset));
    c.start();
    awaitSize(got, 3);
    assertThat(got).containsExactly("key-0=v0@0/10", "key-1=v1@1/11", "key-2=v2@0/12");
    awaitSize(node.consumerOutcomes, 3);
    assertThat(node.consumerOutcomes).allSatisfy(o -> assertThat(o).isInstanceOf(Accepted.class));
    c.stop().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(node.consumerSources).containsExactly("topics/orders/groups/g1");
    assertThat(node.consumerCapabilities).containsExactly(List.of(Symbol.valueOf("partitioned")));
    assertThat(node.consumerLinksClosed.get()).as("the link closed: the member left").isEqualTo(1);

    ConsumerClient shared = driver.consumer("orders", "g2", GroupMode.SHARED, (key, value, partition, offset, at) -> { });
    shared.start();
    awaitSize(node.consumerSources, 2);
    shared.stop().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(node.consumerCapabilities.get(1)).as("shared, from the log start: no capability").isEmpty();

    ConsumerClient latest = driver(node.url(), null, true, true, 1000).consumer("orders", "g3", GroupMode.PARTITIONED,
        (key, value, partition, offset, at) -> { });
    latest.start();
    awaitSize(node.consumerSources, 3);
    latest.stop().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(node.consumerCapabilities.get(2)).containsExactly(Symbol.valueOf("partitioned"), Symbol.valueOf("latest"));
  }

  @Test
  void aConsumerWhoseNodeDoesNotAnswerMovesToTheNextOne() throws Exception {
    StandInAmqpNode node = node(null, null);
    Message m = Proton.message();
    m.setBody(new Data(new Binary("x".getBytes(StandardCharsets.UTF_8))));
    node.deliveries = List.of(m);
    AmqpDriver driver = driver("amqp://127.0.0.1:1," + node.url(), null, true, 1000);
    List<Long> got = new CopyOnWriteArrayList<>();
    ConsumerClient c = driver.consumer("t", "g", GroupMode.SHARED, (key, value, partition, offset, at) -> got.add(offset));
    c.start();
    awaitSize(got, 1);
    assertThat(got).as("no annotations: no position").containsExactly(-1L);
    c.stop().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(driver.notes()).anySatisfy(n -> assertThat(n).contains("AMQP consumer link(s) opened again"));
  }

  @Test
  void theTopicIsPreparedOverTheHttpApi() throws Exception {
    Vertx vertx = Vertx.vertx();
    closing.add(() -> vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS));
    List<String> seen = new CopyOnWriteArrayList<>();
    HttpServer http = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      seen.add(req.method() + " " + req.path() + " " + req.getHeader("Authorization") + " " + body);
      if (req.method().name().equals("GET")) {
        req.response().setStatusCode(404).end("{\"code\":\"TOPIC_NOT_FOUND\"}");
      } else {
        int n = new JsonObject(body).getInteger("partitions");
        io.vertx.core.json.JsonArray parts = new io.vertx.core.json.JsonArray();
        for (int i = 0; i < n; i++) {
          parts.add(new JsonObject().put("partition", i));
        }
        req.response().setStatusCode(201).end(new JsonObject().put("name", "t").put("partitions", parts).encode());
      }
    })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    List<URI> nodes = dev.runnel.load.DriverFactory.nodes("amqp://127.0.0.1:1");
    AmqpDriver driver = new AmqpDriver(nodes, AmqpDriver.adminNodes(nodes,
        dev.runnel.load.DriverFactory.nodes("http://127.0.0.1:1,http://127.0.0.1:" + http.actualPort())),
        "loader:s3cret", true, false, 1000);
    closing.add(driver);
    assertThat(driver.prepareTopic("t", 3).toCompletableFuture().get(20, TimeUnit.SECONDS)).isEqualTo(3);
    assertThat(seen).containsExactly("GET /topics/t Bearer loader:s3cret ",
        "PUT /topics/t Bearer loader:s3cret {\"partitions\":3}");
  }

  @Test
  void theHttpApiIsOnPort8080OfEachNodeUnlessNamed() {
    List<URI> nodes = dev.runnel.load.DriverFactory.nodes("amqp://a:5672,b:5673,amqp://a:5674");
    assertThat(AmqpDriver.adminNodes(nodes, null)).containsExactly(URI.create("http://a:8080"), URI.create("http://b:8080"));
    List<URI> named = dev.runnel.load.DriverFactory.nodes("http://admin:9000");
    assertThat(AmqpDriver.adminNodes(nodes, named)).isEqualTo(named);
  }

  private static void awaitSize(List<?> list, int n) throws InterruptedException {
    for (int i = 0; i < 500 && list.size() < n; i++) {
      Thread.sleep(10);
    }
    assertThat(list).hasSizeGreaterThanOrEqualTo(n);
  }
}
