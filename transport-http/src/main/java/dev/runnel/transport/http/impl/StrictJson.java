package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * JSON as the HTTP API reads it: strict RFC 8259 (no comments, no trailing content) and no name twice in one object
 * (I-JSON, RFC 7493: which of two values a reader keeps is otherwise anyone's guess), into Vert.x's
 * {@link JsonObject}/{@link JsonArray} tree, with numbers kept exact: integers as Integer, Long or BigInteger and
 * decimals as {@link java.math.BigDecimal}, so a JSON value stored and read back keeps its digits. Produce bodies are
 * read by streaming ({@link RecordCodec}) with the same parser and the same rules.
 */
final class StrictJson {

  static final JsonFactory FACTORY = JsonFactory.builder()
      .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
      .enable(JsonWriteFeature.COMBINE_UNICODE_SURROGATES_IN_UTF8)
      .build();
  /** For checking that stored bytes are JSON: a value with a repeated name is still one. */
  private static final JsonFactory LENIENT = new JsonFactory();

  private StrictJson() {
  }

  /** Parses one JSON value (possibly {@code null}); anything else fails with MALFORMED_JSON. */
  static Object parse(Buffer json) {
    return parse(json.getBytes());
  }

  static Object parse(byte[] json) {
    try (JsonParser parser = FACTORY.createParser(json)) {
      JsonToken token = parser.nextToken();
      if (token == null) {
        throw malformed("the body is empty; expected a JSON value");
      }
      Object value = read(parser, token);
      if (parser.nextToken() != null) {
        throw malformed("unexpected content after the JSON value at " + where(parser.currentLocation()));
      }
      return value;
    } catch (IOException e) {
      throw malformed(e);
    }
  }

  /** Fails with MALFORMED_JSON, as {@link #parse} would, unless {@code json} is one valid JSON value. */
  static void checkSyntax(byte[] json) {
    try (JsonParser parser = FACTORY.createParser(json)) {
      JsonToken token = parser.nextToken();
      if (token == null) {
        throw malformed("the body is empty; expected a JSON value");
      }
      parser.skipChildren();
      if (parser.nextToken() != null) {
        throw malformed("unexpected content after the JSON value at " + where(parser.currentLocation()));
      }
    } catch (IOException e) {
      throw malformed(e);
    }
  }

  /** Whether {@code bytes} are one JSON value in valid UTF-8 (checked token by token; nothing is built). */
  static boolean isJson(byte[] bytes) {
    if (!isUtf8(bytes)) {
      return false;
    }
    try (JsonParser parser = LENIENT.createParser(bytes)) {
      if (parser.nextToken() == null) {
        return false;
      }
      parser.skipChildren();
      return parser.nextToken() == null;
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean isUtf8(byte[] bytes) {
    int i = 0;
    for (; i + 8 <= bytes.length; i += 8) {  // ASCII eight bytes at a time: no high bit in the word
      if (((long) LONGS.get(bytes, i) & 0x8080808080808080L) != 0) {
        return utf8OrNull(bytes) != null;
      }
    }
    for (; i < bytes.length; i++) {
      if (bytes[i] < 0) {
        return utf8OrNull(bytes) != null;
      }
    }
    return true;
  }

  private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  /**
   * Copies the value at the parser's current token to {@code out}, compactly, each number as its text (which the
   * parser checked). Iterative: the depth is the parser's limit only.
   * A string or name with an unpaired surrogate (which {@code \uD800} escapes can produce) is BAD_ENCODING.
   */
  static void copy(JsonParser parser, JsonGenerator out, String what) throws IOException {
    int depth = 0;
    JsonToken token = parser.currentToken();
    while (true) {
      switch (token) {
        case START_OBJECT -> {
          out.writeStartObject();
          depth++;
        }
        case START_ARRAY -> {
          out.writeStartArray();
          depth++;
        }
        case END_OBJECT -> {
          out.writeEndObject();
          depth--;
        }
        case END_ARRAY -> {
          out.writeEndArray();
          depth--;
        }
        case FIELD_NAME -> {
          checkSurrogates(parser.currentName(), () -> what);
          out.writeFieldName(parser.currentName());
        }
        case VALUE_STRING -> {
          char[] chars = parser.getTextCharacters();
          int offset = parser.getTextOffset();
          int length = parser.getTextLength();
          checkSurrogates(CharBuffer.wrap(chars, offset, length), () -> what);
          out.writeString(chars, offset, length);
        }
        case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> out.writeNumber(parser.getText());  // as written: its digits
        case VALUE_TRUE -> out.writeBoolean(true);
        case VALUE_FALSE -> out.writeBoolean(false);
        case VALUE_NULL -> out.writeNull();
        default -> throw malformed("unexpected " + token + " at " + where(parser.currentLocation()));
      }
      if (depth == 0) {
        return;
      }
      token = parser.nextToken();
    }
  }

  private static void checkSurrogates(CharSequence chars, Supplier<String> what) {
    int end = chars.length();
    for (int i = 0; i < end; i++) {
      char c = chars.charAt(i);
      if (Character.isSurrogate(c)) {
        if (Character.isHighSurrogate(c) && i + 1 < end && Character.isLowSurrogate(chars.charAt(i + 1))) {
          i++;
        } else {
          throw unpairedSurrogate(what.get());
        }
      }
    }
  }

  private static BrokerException unpairedSurrogate(String what) {
    return new BrokerException(BrokerError.BAD_ENCODING, what + " is not valid Unicode (unpaired surrogate)");
  }

  /** {@code s} as UTF-8; an unpaired surrogate (which JSON's {@code \\uD800} escapes can produce) is BAD_ENCODING. */
  static byte[] utf8(String s, String what) {
    return utf8(s, () -> what);
  }

  /** {@link #utf8(String, String)} with the message built only on failure (for the hot path). */
  static byte[] utf8(String s, Supplier<String> what) {
    checkSurrogates(s, what);
    return s.getBytes(StandardCharsets.UTF_8);  // exact: a string without unpaired surrogates is all encodable
  }

  /** {@code bytes} as a string when they are valid UTF-8, else {@code null}. */
  static String utf8OrNull(byte[] bytes) {
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes))
          .toString();
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  private static Object read(JsonParser parser, JsonToken token) throws IOException {
    switch (token) {
      case START_OBJECT: {
        JsonObject object = new JsonObject();
        while (parser.nextToken() == JsonToken.FIELD_NAME) {
          String name = parser.currentName();
          object.put(name, read(parser, parser.nextToken()));
        }
        return object;
      }
      case START_ARRAY: {
        JsonArray array = new JsonArray();
        JsonToken next;
        while ((next = parser.nextToken()) != JsonToken.END_ARRAY) {
          array.add(read(parser, next));
        }
        return array;
      }
      default:
        return scalar(parser, token);
    }
  }

  /** A string, number, true, false or null token's value, numbers exact; any other token is MALFORMED_JSON. */
  static Object scalar(JsonParser parser, JsonToken token) throws IOException {
    return switch (token) {
      case VALUE_STRING -> parser.getText();
      case VALUE_NUMBER_INT -> parser.getNumberValue();
      case VALUE_NUMBER_FLOAT -> parser.getDecimalValue();
      case VALUE_TRUE -> Boolean.TRUE;
      case VALUE_FALSE -> Boolean.FALSE;
      case VALUE_NULL -> null;
      default -> throw malformed("unexpected " + token + " at " + where(parser.currentLocation()));
    };
  }

  static String where(JsonLocation location) {
    return location == null ? "an unknown position" : "line " + location.getLineNr() + ", column " + location.getColumnNr();
  }

  /** A parser's failure as MALFORMED_JSON, with where it happened. */
  static BrokerException malformed(IOException e) {
    if (e instanceof StreamConstraintsException) {  // a limit, such as the nesting depth: its message says which
      return malformed(e.getMessage());
    }
    if (e instanceof JsonProcessingException j) {
      return malformed(j.getOriginalMessage() + " at " + where(j.getLocation()));
    }
    return malformed(e.getMessage());
  }

  static BrokerException malformed(String message) {
    return new BrokerException(BrokerError.MALFORMED_JSON, "the body is not valid JSON: " + message);
  }
}
