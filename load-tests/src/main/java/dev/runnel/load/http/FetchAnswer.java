package dev.runnel.load.http;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.vertx.core.buffer.Buffer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;

/**
 * A fetch answer {@code {"deliveries":[...]}} read by streaming: each delivery's token, key, partition, offset and
 * value, the value as its bytes (a JSON value as the answer has it, base64 decoded), with no tree built: the client's
 * cost per record stays small beside the broker's, as a Kafka consumer's does. {@link #readDelivery} reads one
 * delivery alone the same way (an SSE stream's {@code data}, which is one element of that array).
 */
final class FetchAnswer {

  interface Handler {
    void delivery(String token, String key, byte[] value, int partition, long offset);
  }

  private static final JsonFactory JSON = new JsonFactory();

  private FetchAnswer() {
  }

  static void read(Buffer answer, Handler handler) {
    byte[] bytes = answer.getBytes();
    try (JsonParser p = JSON.createParser(bytes)) {
      expect(p.nextToken(), JsonToken.START_OBJECT);
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken t = p.nextToken();
        if (!field.equals("deliveries")) {
          p.skipChildren();
          continue;
        }
        expect(t, JsonToken.START_ARRAY);
        while (p.nextToken() == JsonToken.START_OBJECT) {
          delivery(p, bytes, handler);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** One delivery object, exactly as an element of the answer's {@code deliveries} array (an SSE event's data). */
  static void readDelivery(byte[] json, Handler handler) {
    try (JsonParser p = JSON.createParser(json)) {
      expect(p.nextToken(), JsonToken.START_OBJECT);
      delivery(p, json, handler);
      if (p.nextToken() != null) {
        throw new IllegalArgumentException("more than one delivery");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void delivery(JsonParser p, byte[] bytes, Handler handler) throws IOException {
    String token = null;
    String key = null;
    String keyEncoding = "utf8";
    Object value = null;  // a String (base64, or a JSON string) or the bytes of a JSON value
    String valueEncoding = "json";
    int partition = -1;
    long offset = -1;
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String field = p.currentName();
      JsonToken t = p.nextToken();
      switch (field) {
        case "token" -> token = p.getText();
        case "key" -> key = t == JsonToken.VALUE_NULL ? null : p.getText();
        case "keyEncoding" -> keyEncoding = p.getText();
        case "valueEncoding" -> valueEncoding = p.getText();
        case "partition" -> partition = p.getIntValue();
        case "offset" -> offset = p.getLongValue();
        case "value" -> {
          if (t == JsonToken.VALUE_STRING) {
            value = p.getText();
          } else {
            int start = (int) p.currentTokenLocation().getByteOffset();
            p.skipChildren();
            int end = (int) p.currentLocation().getByteOffset();
            value = Arrays.copyOfRange(bytes, start, end);
          }
        }
        default -> p.skipChildren();
      }
    }
    if (key != null && keyEncoding.equals("base64")) {
      key = new String(Base64.getDecoder().decode(key), StandardCharsets.UTF_8);
    }
    byte[] v;
    if (value instanceof byte[] raw) {
      v = raw;
    } else if (value == null) {
      v = new byte[0];
    } else if (valueEncoding.equals("json")) {
      v = ("\"" + value + "\"").getBytes(StandardCharsets.UTF_8);  // a JSON string: never one of the harness's values
    } else {
      v = Base64.getDecoder().decode((String) value);
    }
    handler.delivery(token, key, v, partition, offset);
  }

  private static void expect(JsonToken got, JsonToken expected) {
    if (got != expected) {
      throw new IllegalArgumentException("expected " + expected + ", got " + got);
    }
  }
}
