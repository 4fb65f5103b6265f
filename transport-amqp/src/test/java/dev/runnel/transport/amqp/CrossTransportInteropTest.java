package dev.runnel.transport.amqp;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.proton.ProtonClient;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.ProtonReceiver;
import jakarta.jms.BytesMessage;
import jakarta.jms.Connection;
import jakarta.jms.MapMessage;
import jakarta.jms.Message;
import jakarta.jms.MessageConsumer;
import jakarta.jms.MessageProducer;
import jakarta.jms.Session;
import jakarta.jms.TextMessage;
import org.apache.qpid.jms.JmsConnectionFactory;
import org.apache.qpid.proton.amqp.Binary;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Data;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A record crosses transports (DESIGN.md section 7, "Between transports"): produced over HTTP, it reaches Qpid JMS as
 * a TextMessage (JSON, text) or a BytesMessage (other bytes) with its headers as string properties, and a raw AMQP
 * receiver (vertx-proton's ProtonClient, since JMS cannot read message annotations) sees one Data section with its
 * content type and its key as {@code x-opt-partition-key}; produced over AMQP by JMS, it reads over HTTP with an
 * amqp-value string as {@code utf8}, the message's content type, and typed application properties as text headers.
 */
class CrossTransportInteropTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static AmqpNode node;
  private static WebClient web;

  @BeforeAll
  static void start() {
    node = new AmqpNode(PG);
    web = WebClient.create(node.vertx);
  }

  @AfterAll
  static void stop() {
    web.close();
    node.close();
  }

  private static JmsConnectionFactory jms() {
    return new JmsConnectionFactory(node.amqpUri() + "?jms.prefetchPolicy.all=0");
  }

  private static HttpResponse<Buffer> post(String path, JsonObject body) throws Exception {
    return web.postAbs(node.httpBase() + path).sendJsonObject(body).await(10, TimeUnit.SECONDS);
  }

  private static JsonArray readOverHttp(String topic, int partition) throws Exception {
    HttpResponse<Buffer> r = web.getAbs(node.httpBase() + "/topics/" + topic + "/partitions/" + partition
        + "/records?offset=0").send().await(10, TimeUnit.SECONDS);
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
    return r.bodyAsJsonObject().getJsonArray("records");
  }

  /** One message from the source, received and accepted by a bare vertx-proton client; also its offered capabilities. */
  private record Raw(org.apache.qpid.proton.message.Message message, List<Symbol> offered) {
  }

  private static Raw receiveRaw(String source) throws Exception {
    Promise<Raw> got = Promise.promise();
    ProtonConnection[] conn = new ProtonConnection[1];
    node.vertx.runOnContext(v -> ProtonClient.create(node.vertx).connect("127.0.0.1", node.amqp.actualPort(), ar -> {
      if (ar.failed()) {
        got.tryFail(ar.cause());
        return;
      }
      conn[0] = ar.result();
      conn[0].openHandler(opened -> {
        if (opened.failed()) {
          got.tryFail(opened.cause());
          return;
        }
        Symbol[] offered = conn[0].getRemoteOfferedCapabilities();
        ProtonReceiver receiver = conn[0].createReceiver(source).setPrefetch(0).setAutoAccept(false);
        receiver.handler((delivery, message) -> {
          delivery.disposition(Accepted.getInstance(), true);
          got.tryComplete(new Raw(message, offered == null ? List.of() : Arrays.asList(offered)));
        });
        receiver.openHandler(linked -> {
          if (linked.failed()) {
            got.tryFail(linked.cause());
          } else {
            receiver.flow(1);
          }
        });
        receiver.open();
      }).open();
    }));
    try {
      return got.future().await(15, TimeUnit.SECONDS);
    } finally {
      node.vertx.runOnContext(v -> {
        if (conn[0] != null) {
          conn[0].close();
          conn[0].disconnect();
        }
      });
    }
  }

  @Test
  void httpRecordsReachAmqpConsumers() throws Exception {
    String topic = node.topic(2);
    HttpResponse<Buffer> produced = post("/topics/" + topic + "/records", new JsonObject().put("records", new JsonArray()
        .add(new JsonObject().put("key", "order-7").put("value", new JsonObject().put("id", 7).put("total", 12.5))
            .put("headers", new JsonObject().put("source", "web").put("trace", "abc")))
        .add(new JsonObject().put("key", "order-7").put("value", Base64.getEncoder().encodeToString(new byte[]{0, 1, -1}))
            .put("valueEncoding", "base64"))
        .add(new JsonObject().put("key", "order-7").put("value", "plain words").put("valueEncoding", "utf8"))));
    assertThat(produced.statusCode()).as(produced.bodyAsString()).isEqualTo(200);

    // Qpid JMS: JSON and text/* are TextMessages, other bytes a BytesMessage; headers are string properties.
    // (AUTO_ACKNOWLEDGE: the three share a key, and a key's next record waits until its head is done.)
    try (Connection connection = jms().createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + topic + "/groups/jms"));
      Message json = consumer.receive(10_000);
      assertThat(json).isInstanceOf(TextMessage.class);
      assertThat(((TextMessage) json).getText()).isEqualTo("{\"id\":7,\"total\":12.5}");
      assertThat(json.getObjectProperty("source")).isEqualTo("web");
      assertThat(json.getObjectProperty("trace")).isEqualTo("abc");
      Message bytes = consumer.receive(10_000);
      assertThat(bytes).isInstanceOf(BytesMessage.class);
      byte[] body = new byte[(int) ((BytesMessage) bytes).getBodyLength()];
      ((BytesMessage) bytes).readBytes(body);
      assertThat(body).containsExactly(0, 1, -1);
      Message text = consumer.receive(10_000);
      assertThat(text).isInstanceOf(TextMessage.class);
      assertThat(((TextMessage) text).getText()).isEqualTo("plain words");
    }

    // A bare AMQP receiver sees the sections themselves.
    Raw raw = receiveRaw("topics/" + topic + "/groups/raw");
    assertThat(raw.offered()).contains(Symbol.valueOf("ANONYMOUS-RELAY"), Symbol.valueOf("SHARED-SUBS"));
    org.apache.qpid.proton.message.Message m = raw.message();
    assertThat(m.getBody()).isInstanceOf(Data.class);
    Binary data = ((Data) m.getBody()).getValue();
    assertThat(new String(data.getArray(), data.getArrayOffset(), data.getLength(), StandardCharsets.UTF_8))
        .isEqualTo("{\"id\":7,\"total\":12.5}");
    assertThat(m.getContentType()).isEqualTo("application/json");
    Map<Symbol, Object> annotations = m.getMessageAnnotations().getValue();
    assertThat(annotations.get(Symbol.valueOf("x-opt-partition-key"))).isEqualTo("order-7");
    assertThat(annotations.get(Symbol.valueOf("x-opt-jms-msg-type"))).isEqualTo((byte) 5);
    assertThat(annotations.get(Symbol.valueOf("x-opt-sequence-number"))).isEqualTo(0L);
    assertThat(annotations).containsKeys(Symbol.valueOf("x-opt-partition-id"), Symbol.valueOf("x-opt-enqueued-time"));
    assertThat(m.getApplicationProperties().getValue()).containsEntry("source", "web").containsEntry("trace", "abc");
  }

  @Test
  void amqpRecordsReadOverHttp() throws Exception {
    String topic = node.topic(1);
    try (Connection connection = jms().createConnection()) {
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      MessageProducer producer = session.createProducer(session.createQueue("topics/" + topic));
      TextMessage text = session.createTextMessage("héllo from JMS");
      text.setStringProperty("colour", "red");
      text.setIntProperty("n", 3);
      text.setBooleanProperty("urgent", true);
      text.setStringProperty("JMSXGroupID", "customer-9");
      producer.send(text);
      BytesMessage bytes = session.createBytesMessage();
      bytes.writeBytes(new byte[]{9, 8, 7});
      producer.send(bytes);
      MapMessage map = session.createMapMessage();
      map.setInt("a", 1);
      producer.send(map);
    }

    JsonArray records = readOverHttp(topic, 0);
    assertThat(records).hasSize(3);
    JsonObject t = records.getJsonObject(0);
    // an amqp-value string: utf8, the text content type, typed application properties as text headers, the group
    // id as the key; the binary sections header is not shown
    assertThat(t.getString("value")).isEqualTo("héllo from JMS");
    assertThat(t.getString("valueEncoding")).isEqualTo("utf8");
    assertThat(t.getString("contentType")).isEqualTo("text/plain; charset=utf-8");
    assertThat(t.getString("key")).isEqualTo("customer-9");
    assertThat(t.getJsonObject("headers").getMap())
        .containsEntry("colour", "red").containsEntry("n", "3").containsEntry("urgent", "true")
        .doesNotContainKey("runnel.amqp");

    // a Data section: its bytes, with the message's content type (Qpid JMS: application/octet-stream)
    JsonObject b = records.getJsonObject(1);
    assertThat(b.getString("valueEncoding")).isEqualTo("base64");
    assertThat(Base64.getDecoder().decode(b.getString("value"))).containsExactly(9, 8, 7);
    assertThat(b.getString("contentType")).isEqualTo("application/octet-stream");
    assertThat(b.getJsonObject("headers").getMap()).doesNotContainKey("runnel.amqp");

    // any other body (a JMS MapMessage is an amqp-value map): base64 of its AMQP encoding
    JsonObject e = records.getJsonObject(2);
    assertThat(e.getString("valueEncoding")).isEqualTo("base64");
    assertThat(e.getString("contentType")).isEqualTo("application/vnd.runnel.amqp");

    // ...and read back over AMQP, each is the message that was sent
    try (Connection connection = jms().createConnection()) {
      connection.start();
      Session session = connection.createSession(false, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer consumer = session.createConsumer(session.createQueue("topics/" + topic + "/groups/back"));
      Message m = consumer.receive(10_000);
      assertThat(((TextMessage) m).getText()).isEqualTo("héllo from JMS");
      assertThat(m.getObjectProperty("n")).isEqualTo(3);
      assertThat(m.getObjectProperty("urgent")).isEqualTo(true);
      assertThat(consumer.receive(10_000)).isInstanceOf(BytesMessage.class);
      Message last = consumer.receive(10_000);
      assertThat(last).isInstanceOf(MapMessage.class);
      assertThat(((MapMessage) last).getInt("a")).isEqualTo(1);
    }
  }
}
