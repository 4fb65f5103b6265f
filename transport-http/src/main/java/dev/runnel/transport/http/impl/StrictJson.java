package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * JSON as the HTTP API reads it: strict RFC 8259 (no comments, no trailing content), into Vert.x's
 * {@link JsonObject}/{@link JsonArray} tree, with numbers kept exact: integers as Integer, Long or BigInteger and
 * decimals as {@link java.math.BigDecimal}, so a JSON value stored and read back keeps its digits.
 */
final class StrictJson {

  private static final JsonFactory FACTORY = new JsonFactory();

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
    } catch (StreamConstraintsException e) {
      throw malformed(e.getMessage());
    } catch (JsonProcessingException e) {
      throw malformed(e.getOriginalMessage() + " at " + where(e.getLocation()));
    } catch (IOException e) {
      throw malformed(e.getMessage());
    }
  }

  /** Whether {@code bytes} are one JSON value; answers the value or {@link #NOT_JSON}. */
  static Object parseOrNotJson(byte[] bytes) {
    try {
      return parse(bytes);
    } catch (BrokerException e) {
      return NOT_JSON;
    }
  }

  static final Object NOT_JSON = new Object();

  /** The value's compact serialisation in UTF-8; a string with an unpaired surrogate fails with BAD_ENCODING. */
  static byte[] compact(Object value, String what) {
    return utf8(Json.encode(value), what);
  }

  /** {@code s} as UTF-8; an unpaired surrogate (which JSON's {@code \\uD800} escapes can produce) is BAD_ENCODING. */
  static byte[] utf8(String s, String what) {
    try {
      ByteBuffer bytes = StandardCharsets.UTF_8.newEncoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .encode(CharBuffer.wrap(s));
      byte[] out = new byte[bytes.remaining()];
      bytes.get(out);
      return out;
    } catch (CharacterCodingException e) {
      throw new BrokerException(BrokerError.BAD_ENCODING, what + " is not valid Unicode (unpaired surrogate)");
    }
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
      case VALUE_STRING:
        return parser.getText();
      case VALUE_NUMBER_INT:
        return parser.getNumberValue();
      case VALUE_NUMBER_FLOAT:
        return parser.getDecimalValue();
      case VALUE_TRUE:
        return Boolean.TRUE;
      case VALUE_FALSE:
        return Boolean.FALSE;
      case VALUE_NULL:
        return null;
      default:
        throw malformed("unexpected " + token + " at " + where(parser.currentLocation()));
    }
  }

  private static String where(JsonLocation location) {
    return location == null ? "an unknown position" : "line " + location.getLineNr() + ", column " + location.getColumnNr();
  }

  private static BrokerException malformed(String message) {
    return new BrokerException(BrokerError.MALFORMED_JSON, "the body is not valid JSON: " + message);
  }
}
