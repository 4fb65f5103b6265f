package dev.runnel.transport.http;

import dev.runnel.broker.AmqpSections;
import dev.runnel.broker.Header;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * How HTTP readers see records that came over AMQP (DESIGN.md section 7): an amqp-value string as {@code utf8}, a
 * Data body as its bytes, any other body as base64 of its AMQP encoding, each with the message's content type; the
 * binary sections header is not shown, the application properties are. Records produced over HTTP keep their shape.
 */
class AmqpRecordsHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static HttpNode node;

  @BeforeAll
  static void start() {
    node = new HttpNode(PG, new HttpTransportOptions());
  }

  @AfterAll
  static void stop() {
    node.close();
  }

  private static ProduceRecord amqp(AmqpSections.Body body, byte[] value, String contentType) {
    return new ProduceRecord(null, value, contentType, List.of(new Header("colour", "blue".getBytes(StandardCharsets.UTF_8)),
        new Header(AmqpSections.HEADER, new byte[]{body.tag, 0x00, 0x53})), 0, null);
  }

  @Test
  void anAmqpStringIsUtf8ADataBodyAndAnEncodedBodyBase64EachWithItsContentType() {
    String topic = "amqp-records-" + ProcessHandle.current().pid();
    node.broker.createTopic(topic, 1, TopicConfig.DEFAULT).await();
    byte[] encoded = {0x00, 0x53, 0x77, (byte) 0xa1, 0x02, 'h', 'i'};
    node.broker.produce(topic, List.of(
        amqp(AmqpSections.Body.STRING, "héllo".getBytes(StandardCharsets.UTF_8), AmqpSections.STRING_CONTENT_TYPE),
        amqp(AmqpSections.Body.DATA, new byte[]{1, 2, 3}, "application/x-thing"),
        amqp(AmqpSections.Body.ENCODED, encoded, AmqpSections.ENCODED_CONTENT_TYPE),
        new ProduceRecord(null, "plain".getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), 0, null))).await();

    Reply read = node.call("GET", "/topics/" + topic + "/partitions/0/records?offset=0", null);
    assertThat(read.status()).isEqualTo(200);
    List<JsonObject> records = read.json().getJsonArray("records").stream().map(JsonObject.class::cast).toList();
    assertThat(records).hasSize(4);

    assertThat(records.get(0).getString("value")).isEqualTo("héllo");
    assertThat(records.get(0).getString("valueEncoding")).isEqualTo("utf8");
    assertThat(records.get(0).getString("contentType")).isEqualTo(AmqpSections.STRING_CONTENT_TYPE);
    assertThat(records.get(0).getJsonObject("headers").getMap()).containsExactly(java.util.Map.entry("colour", "blue"));

    assertThat(records.get(1).getString("value")).isEqualTo(Base64.getEncoder().encodeToString(new byte[]{1, 2, 3}));
    assertThat(records.get(1).getString("valueEncoding")).isEqualTo("base64");
    assertThat(records.get(1).getString("contentType")).isEqualTo("application/x-thing");

    assertThat(records.get(2).getString("value")).isEqualTo(Base64.getEncoder().encodeToString(encoded));
    assertThat(records.get(2).getString("valueEncoding")).isEqualTo("base64");
    assertThat(records.get(2).getString("contentType")).isEqualTo(AmqpSections.ENCODED_CONTENT_TYPE);

    // A record produced over HTTP keeps its pinned shape: base64, no contentType field.
    assertThat(records.get(3).getString("valueEncoding")).isEqualTo("base64");
    assertThat(records.get(3).containsKey("contentType")).isFalse();
  }
}
