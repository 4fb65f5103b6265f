package dev.runnel.broker;

import java.util.List;

/**
 * How a record produced over AMQP keeps the parts of its message that a record has no field for (DESIGN.md section
 * 7), so an AMQP consumer gets the message back as it was sent and an HTTP reader still sees a plain record.
 *
 * <p>The record's value is the body: a Data section's bytes (content type: the message's), an amqp-value string in
 * UTF-8 ({@value #STRING_CONTENT_TYPE}), or any other body in its AMQP encoding ({@value #ENCODED_CONTENT_TYPE}). Its
 * headers are the application properties rendered as text, then one header named {@value #HEADER}, whose value is one
 * byte naming the body's {@link Body kind} followed by the AMQP encoding of the message without its body (header,
 * message annotations, properties, typed application properties, footer). Which protocol reads the sections is the
 * transport's business; the broker only keeps them, in dead-letter copies too.
 */
public final class AmqpSections {

  public static final String HEADER = "runnel.amqp";
  public static final String STRING_CONTENT_TYPE = "text/plain; charset=utf-8";
  public static final String ENCODED_CONTENT_TYPE = "application/vnd.runnel.amqp";

  /** What the record's value holds. */
  public enum Body {
    /** One Data section's bytes. */
    DATA('D'),
    /** An amqp-value section holding a string, in UTF-8. */
    STRING('S'),
    /** Any other body (amqp-value of another type, amqp-sequence, several Data sections, none), AMQP-encoded. */
    ENCODED('E');

    public final byte tag;

    Body(char tag) {
      this.tag = (byte) tag;
    }

    public static Body of(byte tag) {
      for (Body b : values()) {
        if (b.tag == tag) {
          return b;
        }
      }
      return null;
    }
  }

  private AmqpSections() {
  }

  /** The sections header's value, or null when the record did not come over AMQP. */
  public static byte[] sections(List<Header> headers) {
    for (int i = headers.size() - 1; i >= 0; i--) {
      if (headers.get(i).name().equals(HEADER)) {
        return headers.get(i).value();
      }
    }
    return null;
  }

  /** The kind of the record's body, or null when the record did not come over AMQP (or its sections are unreadable). */
  public static Body body(StoredRecord record) {
    byte[] s = sections(record.headers());
    return s == null || s.length == 0 ? null : Body.of(s[0]);
  }
}
