package dev.runnel.load;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Values that carry their {@link Identity}, padded to the workload's size: binary (a 32-byte header, then zeros) or
 * JSON ({@code {"rl":run,"p":producer,"k":key,"s":seq,"t":intendedNanos,"pad":"xxx"}}, compact, so a system that
 * stores JSON re-serialised still answers the same fields; webhook payloads start with {@code "type":"runnel.load"},
 * which decoding skips).
 */
public final class ValueCodec {

  public enum Kind { JSON, BINARY }

  static final int MAGIC = 0x524e4c44;  // "RNLD"
  static final int BINARY_HEADER = 32;
  private static final JsonFactory JSON = new JsonFactory();

  private final Kind kind;
  private final int size;
  /** {@code "type":"<t>",} written first in every JSON value, or empty. */
  private final String type;

  public ValueCodec(Kind kind, int size) {
    this(kind, size, null);
  }

  /**
   * @param type a {@code type} field every JSON value starts with (a webhook payload's event type, which the node
   *     copies into a header), within the same size; null for none. Letters, digits, {@code . _ -} only.
   */
  public ValueCodec(Kind kind, int size, String type) {
    if (type != null && !type.matches("[A-Za-z0-9._-]+")) {
      throw new IllegalArgumentException("a value type must be letters, digits, '.', '_' or '-' (got " + type + ")");
    }
    this.kind = kind;
    this.size = size;
    this.type = type == null ? "" : "\"type\":\"" + type + "\",";
  }

  public Kind kind() {
    return kind;
  }

  public byte[] encode(Identity id) {
    if (kind == Kind.BINARY) {
      ByteBuffer b = ByteBuffer.allocate(Math.max(size, BINARY_HEADER));
      b.putInt(MAGIC).putInt(id.run()).putInt(id.producer()).putInt(id.key()).putLong(id.sequence())
          .putLong(id.intendedNanos());
      return b.array();
    }
    String head = "{" + type + "\"rl\":" + id.run() + ",\"p\":" + id.producer() + ",\"k\":" + id.key() + ",\"s\":"
        + id.sequence() + ",\"t\":" + id.intendedNanos() + ",\"pad\":\"";
    int pad = Math.max(0, size - head.length() - 2);
    byte[] out = new byte[head.length() + pad + 2];
    byte[] h = head.getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(h, 0, out, 0, h.length);
    Arrays.fill(out, h.length, h.length + pad, (byte) 'x');
    out[out.length - 2] = '"';
    out[out.length - 1] = '}';
    return out;
  }

  /** The identity in a value, or null when the value is not one of the harness's (another writer's record). */
  public static Identity decode(byte[] value) {
    if (value == null || value.length == 0) {
      return null;
    }
    if (value[0] == '{') {
      return decodeJson(value);
    }
    if (value.length < BINARY_HEADER) {
      return null;
    }
    ByteBuffer b = ByteBuffer.wrap(value);
    if (b.getInt() != MAGIC) {
      return null;
    }
    return new Identity(b.getInt(), b.getInt(), b.getInt(), b.getLong(), b.getLong());
  }

  private static Identity decodeJson(byte[] value) {
    long run = Long.MIN_VALUE, producer = Long.MIN_VALUE, key = Long.MIN_VALUE, seq = Long.MIN_VALUE, t = Long.MIN_VALUE;
    try (JsonParser p = JSON.createParser(value)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken tok = p.nextToken();
        if (tok == JsonToken.VALUE_NUMBER_INT) {
          long v = p.getLongValue();
          switch (name) {
            case "rl" -> run = v;
            case "p" -> producer = v;
            case "k" -> key = v;
            case "s" -> seq = v;
            case "t" -> t = v;
            default -> { }
          }
        } else {
          p.skipChildren();
        }
      }
    } catch (IOException e) {
      return null;
    }
    if (run == Long.MIN_VALUE || producer == Long.MIN_VALUE || key == Long.MIN_VALUE || seq == Long.MIN_VALUE
        || t == Long.MIN_VALUE) {
      return null;
    }
    return new Identity((int) run, (int) producer, (int) key, seq, t);
  }
}
