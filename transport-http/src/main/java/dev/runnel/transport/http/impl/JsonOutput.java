package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import io.vertx.core.buffer.Buffer;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;

/**
 * JSON written straight into a {@link Buffer} by Jackson's streaming generator: compact UTF-8, no tree of the
 * answer built, and stored JSON values copied in as they are ({@link #rawValue}), not parsed and serialised again.
 * One instance writes one document.
 */
final class JsonOutput {

  /** Writes one answer. */
  interface Body {
    void write(JsonOutput out) throws IOException;
  }

  /** Characters outside the BMP as 4-byte UTF-8, not as two {@code \\u} escapes. */
  private static final JsonFactory FACTORY = JsonFactory.builder()
      .enable(JsonWriteFeature.COMBINE_UNICODE_SURROGATES_IN_UTF8)
      .build();

  final JsonGenerator g;
  private final Buffer buffer;

  /** @param sizeHint about the bytes it will hold; its first buffer is that large, within 64 B and 64 MiB */
  JsonOutput(long sizeHint) {
    buffer = Buffer.buffer((int) Math.max(64, Math.min(sizeHint, 64 << 20)));
    try {
      g = FACTORY.createGenerator(new OutputStream() {
        @Override
        public void write(int b) {
          buffer.appendByte((byte) b);
        }

        @Override
        public void write(byte[] b, int off, int len) {
          buffer.appendBytes(b, off, len);
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    g.setRootValueSeparator(null);
  }

  /** One answer rendered. */
  static Buffer render(long sizeHint, Body body) {
    JsonOutput out = new JsonOutput(sizeHint);
    try (JsonGenerator g = out.g) {  // closing gives the generator's buffers back to Jackson's pool for the next one
      body.write(out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);  // a Buffer does not fail to grow; the generator's signature says it may
    }
    return out.buffer;
  }

  /**
   * Writes {@code json}, which the caller has checked is one JSON value in UTF-8, as the next value. The empty raw
   * value makes the generator write the separator before it and count it; the bytes go after what it flushed.
   */
  void rawValue(byte[] json) throws IOException {
    g.writeRawValue("");
    g.flush();
    buffer.appendBytes(json);
  }
}
