package dev.runnel.load.amqp;

import dev.runnel.load.driver.OutgoingRecord;
import org.apache.qpid.proton.Proton;
import org.apache.qpid.proton.amqp.Binary;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.AmqpValue;
import org.apache.qpid.proton.amqp.messaging.ApplicationProperties;
import org.apache.qpid.proton.amqp.messaging.Data;
import org.apache.qpid.proton.amqp.messaging.MessageAnnotations;
import org.apache.qpid.proton.amqp.messaging.Section;
import org.apache.qpid.proton.message.Message;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The messages of Runnel's AMQP contract (DESIGN.md section 7), both ways: a record as the message a producer sends
 * to {@code topics/<topic>}, and a delivery from {@code topics/<topic>/groups/<group>} as what the sink takes.
 */
final class AmqpMessages {

  static final Symbol PARTITION_KEY = Symbol.valueOf("x-opt-partition-key");
  static final Symbol PARTITION_ID = Symbol.valueOf("x-opt-partition-id");
  static final Symbol SEQUENCE_NUMBER = Symbol.valueOf("x-opt-sequence-number");
  static final Symbol ENQUEUED_TIME = Symbol.valueOf("x-opt-enqueued-time");
  static final String JSON = "application/json";
  static final String BYTES = "application/octet-stream";

  private AmqpMessages() {
  }

  /**
   * One Data section with the value's bytes and its content type, the key in the message annotation
   * {@code x-opt-partition-key} (a string), the record's headers as string application-properties; no header
   * section, no message-id (the load topic does not deduplicate).
   */
  static Message message(OutgoingRecord record, boolean jsonValues) {
    Message m = Proton.message();
    m.setBody(new Data(new Binary(record.value())));
    m.setContentType(jsonValues ? JSON : BYTES);
    if (record.key() != null) {
      Map<Symbol, Object> annotations = new HashMap<>(2);
      annotations.put(PARTITION_KEY, record.key());
      m.setMessageAnnotations(new MessageAnnotations(annotations));
    }
    if (record.headers() != null && !record.headers().isEmpty()) {
      Map<String, Object> properties = new HashMap<>(record.headers());
      m.setApplicationProperties(new ApplicationProperties(properties));
    }
    return m;
  }

  /** A delivery as the sink takes it; partition and offset are -1 when the message does not carry them. */
  record Received(String key, byte[] value, int partition, long offset) {
  }

  static Received read(Message m) {
    MessageAnnotations ma = m.getMessageAnnotations();
    Map<Symbol, Object> annotations = ma == null || ma.getValue() == null ? Map.of() : ma.getValue();
    Object key = annotations.get(PARTITION_KEY);
    return new Received(key == null ? null : key instanceof Binary b ? utf8(b) : key.toString(), body(m.getBody()),
        number(annotations.get(PARTITION_ID)).intValue(), number(annotations.get(SEQUENCE_NUMBER)).longValue());
  }

  /** The body's bytes: a Data section's, an amqp-value string's UTF-8 or binary's; empty when there is none. */
  static byte[] body(Section body) {
    if (body instanceof Data d) {
      return bytes(d.getValue());
    }
    if (body instanceof AmqpValue v) {
      Object value = v.getValue();
      if (value instanceof Binary b) {
        return bytes(b);
      }
      if (value != null) {
        return value.toString().getBytes(StandardCharsets.UTF_8);
      }
    }
    return new byte[0];
  }

  private static byte[] bytes(Binary b) {
    if (b == null) {
      return new byte[0];
    }
    if (b.getArrayOffset() == 0 && b.getLength() == b.getArray().length) {
      return b.getArray();
    }
    byte[] copy = new byte[b.getLength()];
    System.arraycopy(b.getArray(), b.getArrayOffset(), copy, 0, b.getLength());
    return copy;
  }

  private static String utf8(Binary b) {
    return new String(b.getArray(), b.getArrayOffset(), b.getLength(), StandardCharsets.UTF_8);
  }

  private static Number number(Object annotation) {
    return annotation instanceof Number n ? n : -1;
  }
}
