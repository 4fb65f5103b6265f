package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.AmqpSections;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.StoredRecord;
import org.apache.qpid.proton.Proton;
import org.apache.qpid.proton.amqp.Binary;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.ApplicationProperties;
import org.apache.qpid.proton.amqp.messaging.Data;
import org.apache.qpid.proton.amqp.messaging.MessageAnnotations;
import org.apache.qpid.proton.message.Message;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** A producer's message → record → the message a consumer gets, without a broker. */
class MessageCodecTest {

  private static final Symbol OTHER = Symbol.valueOf("x-opt-app");

  @Test
  void aStringPartitionKeyIsStoredOnceAsTheKeyAndComesBackAsTheAnnotation() {
    Message sent = message(Map.of(MessageCodec.PARTITION_KEY, "k-1", OTHER, 7L));

    ProduceRecord record = MessageCodec.record(sent);
    Message stored = storedSections(record);
    Message received = MessageCodec.message(delivery(record));

    assertThat(record.key()).isEqualTo("k-1".getBytes(StandardCharsets.UTF_8));
    assertThat(stored.getMessageAnnotations().getValue()).containsOnlyKeys(OTHER);
    assertThat(received.getMessageAnnotations().getValue())
        .containsEntry(MessageCodec.PARTITION_KEY, "k-1").containsEntry(OTHER, 7L);
    assertThat(received.getContentType()).isEqualTo("application/json");
    assertThat(received.getApplicationProperties().getValue()).containsEntry("n", 42);
    assertThat(((Data) received.getBody()).getValue().getArray()).isEqualTo(body());
  }

  @Test
  void aMessageWhoseOnlyAnnotationIsTheKeyStoresNoAnnotationsSection() {
    ProduceRecord record = MessageCodec.record(message(Map.of(MessageCodec.PARTITION_KEY, "k-2")));

    assertThat(storedSections(record).getMessageAnnotations()).isNull();
    assertThat(MessageCodec.message(delivery(record)).getMessageAnnotations().getValue())
        .containsEntry(MessageCodec.PARTITION_KEY, "k-2");
  }

  @Test
  void aBinaryPartitionKeyIsKeptAsSent() {
    Binary key = new Binary(new byte[] {(byte) 0xff, 0, 1});
    ProduceRecord record = MessageCodec.record(message(Map.of(MessageCodec.PARTITION_KEY, key)));

    assertThat(record.key()).isEqualTo(new byte[] {(byte) 0xff, 0, 1});
    assertThat(storedSections(record).getMessageAnnotations().getValue()).containsEntry(MessageCodec.PARTITION_KEY, key);
  }

  @Test
  void sectionsLargerThanTheEncodingBufferAreStoredWhole() {
    Message sent = message(Map.of(MessageCodec.PARTITION_KEY, "k-3"));
    String large = "p".repeat(100_000);
    sent.setApplicationProperties(new ApplicationProperties(Map.of("large", large)));

    Message received = MessageCodec.message(delivery(MessageCodec.record(sent)));

    assertThat(received.getApplicationProperties().getValue()).containsEntry("large", large);
  }

  private static byte[] body() {
    return "{\"a\":1}".getBytes(StandardCharsets.UTF_8);
  }

  private static Message message(Map<Symbol, Object> annotations) {
    Message m = Proton.message();
    m.setBody(new Data(new Binary(body())));
    m.setContentType("application/json");
    m.setMessageAnnotations(new MessageAnnotations(new HashMap<>(annotations)));
    m.setApplicationProperties(new ApplicationProperties(new HashMap<>(Map.of("n", 42))));
    return m;
  }

  /** The sections the record keeps in its {@code runnel.amqp} header, decoded. */
  private static Message storedSections(ProduceRecord record) {
    byte[] sections = AmqpSections.sections(record.headers());
    assertThat(sections[0]).isEqualTo(AmqpSections.Body.DATA.tag);
    Message m = Proton.message();
    m.decode(Arrays.copyOfRange(sections, 1, sections.length), 0, sections.length - 1);
    return m;
  }

  private static Delivery delivery(ProduceRecord r) {
    StoredRecord stored = new StoredRecord(r.key(), r.value(), r.contentType(), r.headers(), r.idempotencyKey(), 5, 1_000);
    return new Delivery("token", "t", 0, 5, 1, 2_000, stored);
  }
}
