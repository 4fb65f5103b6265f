package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.AmqpSections;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.Header;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.StoredRecord;
import org.apache.qpid.proton.amqp.Binary;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.UnsignedInteger;
import org.apache.qpid.proton.amqp.UnsignedLong;
import org.apache.qpid.proton.amqp.messaging.AmqpValue;
import org.apache.qpid.proton.amqp.messaging.ApplicationProperties;
import org.apache.qpid.proton.amqp.messaging.Data;
import org.apache.qpid.proton.amqp.messaging.MessageAnnotations;
import org.apache.qpid.proton.amqp.messaging.Section;
import org.apache.qpid.proton.message.Message;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;

/**
 * An AMQP message ↔ a record, as DESIGN.md section 7 maps them; {@link AmqpSections} says how a record keeps what it
 * has no field for. Stateless.
 */
final class MessageCodec {

  static final Symbol PARTITION_KEY = Symbol.valueOf("x-opt-partition-key");
  static final Symbol PARTITION_ID = Symbol.valueOf("x-opt-partition-id");
  static final Symbol SEQUENCE_NUMBER = Symbol.valueOf("x-opt-sequence-number");
  static final Symbol ENQUEUED_TIME = Symbol.valueOf("x-opt-enqueued-time");
  static final Symbol JMS_MSG_TYPE = Symbol.valueOf("x-opt-jms-msg-type");
  static final byte JMS_BYTES_MESSAGE = 3;
  static final byte JMS_TEXT_MESSAGE = 5;
  private static final String OCTET_STREAM = "application/octet-stream";

  private MessageCodec() {
  }

  /** The record a producer's message becomes; fails with IllegalArgumentException on a key it cannot take. */
  static ProduceRecord record(Message message) {
    Section body = message.getBody();
    AmqpSections.Body kind;
    byte[] value;
    String contentType;
    if (body instanceof Data data) {
      kind = AmqpSections.Body.DATA;
      value = owned(data.getValue());
      contentType = message.getContentType() != null ? message.getContentType() : OCTET_STREAM;
    } else if (body instanceof AmqpValue v && v.getValue() instanceof String s) {
      kind = AmqpSections.Body.STRING;
      value = s.getBytes(StandardCharsets.UTF_8);
      contentType = AmqpSections.STRING_CONTENT_TYPE;
    } else {
      kind = AmqpSections.Body.ENCODED;
      value = body == null ? new byte[0] : encode(Message.Factory.create(null, null, null, null, null, body, null));
      contentType = AmqpSections.ENCODED_CONTENT_TYPE;
    }
    ApplicationProperties props = message.getApplicationProperties();
    Map<String, Object> typed = props == null ? null : props.getValue();
    List<Header> headers = new ArrayList<>(typed == null ? 1 : typed.size() + 1);
    if (typed != null) {
      for (Map.Entry<String, Object> e : typed.entrySet()) {
        if (e.getKey() != null && !e.getKey().equals(AmqpSections.HEADER)) {
          headers.add(new Header(e.getKey(), text(e.getValue()).getBytes(StandardCharsets.UTF_8)));
        }
      }
    }
    // Delivery annotations are for one hop only: they are not kept. A string x-opt-partition-key is the record's
    // key, which every delivery carries as that annotation anyway: it is not stored twice.
    Message rest = Message.Factory.create(message.getHeader(), null, keptAnnotations(message.getMessageAnnotations()),
        message.getProperties(), props, null, message.getFooter());
    headers.add(new Header(AmqpSections.HEADER, encode(rest, kind.tag)));
    return new ProduceRecord(key(message), value, contentType, headers, null, messageId(message.getMessageId()));
  }

  /** The annotations to store: all but a string {@code x-opt-partition-key}; null when none is left. */
  private static MessageAnnotations keptAnnotations(MessageAnnotations annotations) {
    Map<Symbol, Object> all = annotations == null ? null : annotations.getValue();
    if (all == null || !(all.get(PARTITION_KEY) instanceof String)) {
      return annotations;
    }
    if (all.size() == 1) {
      return null;
    }
    Map<Symbol, Object> kept = new HashMap<>(all);
    kept.remove(PARTITION_KEY);
    return new MessageAnnotations(kept);
  }

  /** The key: the {@code x-opt-partition-key} annotation, else {@code group-id} (JMSXGroupID), else none. */
  static byte[] key(Message message) {
    MessageAnnotations annotations = message.getMessageAnnotations();
    Object key = annotations == null || annotations.getValue() == null ? null : annotations.getValue().get(PARTITION_KEY);
    if (key instanceof Binary b) {
      return bytes(b);
    }
    if (key != null) {
      return text(key).getBytes(StandardCharsets.UTF_8);
    }
    String group = message.getGroupId();
    return group == null ? null : group.getBytes(StandardCharsets.UTF_8);
  }

  /** {@code message-id} as the idempotency key; non-string ids keep their type in a prefix so they never collide. */
  static String messageId(Object id) {
    if (id == null || id instanceof String) {
      return (String) id;
    }
    if (id instanceof UnsignedLong u) {
      return "ulong:" + u;
    }
    if (id instanceof UUID u) {
      return "uuid:" + u;
    }
    if (id instanceof Binary b) {
      return "binary:" + Base64.getEncoder().encodeToString(bytes(b));
    }
    return id.getClass().getSimpleName().toLowerCase(Locale.ROOT) + ":" + id;
  }

  /** The message a consumer gets for a delivery: the stored sections when it came over AMQP, else the HTTP mapping. */
  static Message message(Delivery delivery) {
    StoredRecord r = delivery.record();
    Message m = restored(r);
    if (m == null) {
      m = Message.Factory.create();
      m.setBody(new Data(new Binary(r.value())));
      m.setContentType(r.contentType());
      Map<Symbol, Object> annotations = new HashMap<>();
      annotations.put(JMS_MSG_TYPE, isText(r.contentType()) ? JMS_TEXT_MESSAGE : JMS_BYTES_MESSAGE);
      m.setMessageAnnotations(new MessageAnnotations(annotations));
    }
    // Headers the record gained after its message (a dead letter's runnel.dlq.*, a traceparent) join as strings.
    Map<String, Object> props = m.getApplicationProperties() == null || m.getApplicationProperties().getValue() == null
        ? new LinkedHashMap<>() : new LinkedHashMap<>(m.getApplicationProperties().getValue());
    Map<String, Object> typed = Map.copyOf(props);
    for (Header h : r.headers()) {
      if (!h.name().equals(AmqpSections.HEADER) && !typed.containsKey(h.name())) {
        props.put(h.name(), new String(h.value(), StandardCharsets.UTF_8));
      }
    }
    if (!props.isEmpty()) {
      m.setApplicationProperties(new ApplicationProperties(props));
    }
    Map<Symbol, Object> annotations = m.getMessageAnnotations() == null || m.getMessageAnnotations().getValue() == null
        ? new HashMap<>() : new HashMap<>(m.getMessageAnnotations().getValue());
    if (r.key() != null) {
      String text = utf8OrNull(r.key());
      annotations.put(PARTITION_KEY, text != null ? text : new Binary(r.key()));
    }
    annotations.put(PARTITION_ID, delivery.partition());
    annotations.put(SEQUENCE_NUMBER, delivery.offset());
    annotations.put(ENQUEUED_TIME, new Date(r.timestamp()));
    m.setMessageAnnotations(new MessageAnnotations(annotations));
    if (m.getHeader() == null) {
      m.setHeader(new org.apache.qpid.proton.amqp.messaging.Header());
    }
    m.getHeader().setDeliveryCount(UnsignedInteger.valueOf(delivery.attempt() - 1L));
    return m;
  }

  /** The message an AMQP-produced record was, or null for another record (or sections that cannot be read). */
  private static Message restored(StoredRecord r) {
    byte[] sections = AmqpSections.sections(r.headers());
    AmqpSections.Body kind = sections == null || sections.length == 0 ? null : AmqpSections.Body.of(sections[0]);
    if (kind == null) {
      return null;
    }
    try {
      Message m = Message.Factory.create();
      if (sections.length > 1) {
        m.decode(sections, 1, sections.length - 1);
      }
      switch (kind) {
        case DATA -> m.setBody(new Data(new Binary(r.value())));
        case STRING -> m.setBody(new AmqpValue(new String(r.value(), StandardCharsets.UTF_8)));
        case ENCODED -> {
          if (r.value().length > 0) {
            Message body = Message.Factory.create();
            body.decode(r.value(), 0, r.value().length);
            m.setBody(body.getBody());
          }
        }
      }
      return m;
    } catch (RuntimeException e) {
      return null;  // not sections proton can read (a header of that name set by hand): deliver it as a plain record
    }
  }

  /** {@code application/json} and {@code text/*}: a Qpid JMS consumer gets a TextMessage. */
  static boolean isText(String contentType) {
    String type = contentType == null ? "" : contentType.toLowerCase(Locale.ROOT).trim();
    return type.startsWith("text/") || type.startsWith("application/json");
  }

  static byte[] encode(Message m) {
    byte[] withTag = encode(m, (byte) 0);
    return Arrays.copyOfRange(withTag, 1, withTag.length);
  }

  /** A per-thread buffer that most messages' sections fit in, so encoding one allocates only its result. */
  private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[16 * 1024]);

  /** {@code tag} then the message's encoded sections. */
  private static byte[] encode(Message m, byte tag) {
    byte[] out = SCRATCH.get();
    while (true) {
      try {
        int n = m.encode(out, 1, out.length - 1);
        byte[] encoded = Arrays.copyOf(out, n + 1);
        encoded[0] = tag;
        return encoded;
      } catch (java.nio.BufferOverflowException tooSmall) {
        out = new byte[out.length * 4];  // a large message: its own buffer, grown until it fits
      }
    }
  }

  /** The bytes of a Binary; its own array when it spans all of it (proton decodes each binary into a new one). */
  private static byte[] owned(Binary b) {
    if (b == null) {
      return new byte[0];
    }
    return b.getArrayOffset() == 0 && b.getLength() == b.getArray().length ? b.getArray() : bytes(b);
  }

  private static byte[] bytes(Binary b) {
    return b == null ? new byte[0] : Arrays.copyOfRange(b.getArray(), b.getArrayOffset(), b.getArrayOffset() + b.getLength());
  }

  /** A typed value as text, for HTTP readers: strings as they are, binary as base64, the rest by toString. */
  private static String text(Object v) {
    if (v == null) {
      return "";
    }
    if (v instanceof Binary b) {
      return Base64.getEncoder().encodeToString(bytes(b));
    }
    return v.toString();
  }

  private static String utf8OrNull(byte[] bytes) {
    try {
      CharBuffer chars = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes));
      return chars.toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }
}
