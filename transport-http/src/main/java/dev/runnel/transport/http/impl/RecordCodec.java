package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.ProduceResult;
import dev.runnel.broker.AmqpSections;
import dev.runnel.broker.Header;
import dev.runnel.broker.StoredRecord;
import dev.runnel.broker.ReadResult;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Records in the HTTP API's JSON shapes (DESIGN.md section 7).
 *
 * <p>Request: {@code {"key": string|null, "keyEncoding": "utf8"|"base64", "value": any,
 * "valueEncoding": "json"|"utf8"|"base64", "headers": {name: string}, "partition": int?, "idempotencyKey": string?}}.
 * Response: the same fields plus {@code partition}, {@code offset}, {@code timestamp}; values stored as
 * {@code application/json} come back as JSON, all others as base64.
 */
final class RecordCodec {

  static final String JSON = "application/json";
  static final String TEXT = "text/plain; charset=utf-8";
  static final String BINARY = "application/octet-stream";

  private RecordCodec() {
  }

  /**
   * The records of a produce body {@code {"records":[...]}}, read by streaming: each JSON value is copied compactly
   * from the parser into its record, with no tree built. The first bad record fails the whole request, but a body that
   * is not JSON at all fails as MALFORMED_JSON wherever its fault is, as a parse of the whole body would.
   */
  static List<ProduceRecord> produceRequest(Buffer body, int maxRecords) {
    byte[] json = body.getBytes();
    try (JsonParser parser = StrictJson.FACTORY.createParser(json); Compactor compactor = new Compactor(json)) {
      return produceRequest(parser, compactor, maxRecords);
    } catch (BrokerException e) {
      if (e.error() != BrokerError.MALFORMED_JSON) {
        StrictJson.checkSyntax(json);
      }
      throw e;
    } catch (IOException e) {
      throw StrictJson.malformed(e);
    }
  }

  private static List<ProduceRecord> produceRequest(JsonParser parser, Compactor compactor, int maxRecords)
      throws IOException {
    JsonToken token = parser.nextToken();
    if (token == null) {
      throw StrictJson.malformed("the body is empty; expected a JSON value");
    }
    if (token != JsonToken.START_OBJECT) {
      throw invalid("the body must be a JSON object {\"records\":[...]}");
    }
    List<ProduceRecord> records = null;
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String field = parser.currentName();
      token = parser.nextToken();
      if (!field.equals("records")) {
        parser.skipChildren();
      } else if (token == JsonToken.VALUE_NULL) {
        throw invalid("'records' is missing: expected {\"records\":[...]}");
      } else if (token != JsonToken.START_ARRAY) {
        throw invalid("'records' must be an array");
      } else {
        records = new ArrayList<>();
        while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
          if (records.size() == maxRecords) {
            throw new BrokerException(BrokerError.INVALID_REQUEST, "a request carries at most " + maxRecords
                + " records (http.maxRecordsPerRequest); send the rest in another");
          }
          records.add(record(records.size(), parser, token, compactor));
        }
      }
    }
    if (parser.nextToken() != null) {
      throw StrictJson.malformed("unexpected content after the JSON value at " + StrictJson.where(parser.currentLocation()));
    }
    if (records == null) {
      throw invalid("'records' is missing: expected {\"records\":[...]}");
    }
    if (records.isEmpty()) {
      throw invalid("'records' is empty: send at least one record");
    }
    return records;
  }

  /** One record's fields as the body has them, checked once the record's object is read (its fields in any order). */
  private static final class Fields {
    final int index;
    Object key;
    Object keyEncoding;
    Object valueEncoding;
    boolean hasValue;
    /** The value when it is a JSON string; else what an error shows of it, and {@link #valueJson} holds it. */
    Object value;
    byte[] valueJson;
    List<Header> headers = List.of();
    Object partition;
    Object idempotencyKey;

    Fields(int index) {
      this.index = index;
    }

    /** Where an error message says the fault is (built only for one: this is the hot path). */
    String at() {
      return "record " + index;
    }
  }

  /** The field's value when it is a string, a number, true, false or null, else a description of it. */
  private static Object scalar(JsonParser parser, JsonToken token) throws IOException {
    if (token.isStructStart()) {
      parser.skipChildren();
      return token == JsonToken.START_OBJECT ? AN_OBJECT : AN_ARRAY;
    }
    return StrictJson.scalar(parser, token);
  }

  /** Stand-ins for a field whose value is an object or an array, where a scalar was expected. */
  private static final Object AN_OBJECT = new Object() {
    @Override
    public String toString() {
      return "an object";
    }
  };
  private static final Object AN_ARRAY = new Object() {
    @Override
    public String toString() {
      return "an array";
    }
  };

  private static ProduceRecord record(int index, JsonParser parser, JsonToken token, Compactor compactor)
      throws IOException {
    Fields f = new Fields(index);
    if (token != JsonToken.START_OBJECT) {
      throw invalid(f.at() + ": must be a JSON object");
    }
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String field = parser.currentName();
      token = parser.nextToken();
      switch (field) {
        case "key" -> f.key = scalar(parser, token);
        case "keyEncoding" -> f.keyEncoding = scalar(parser, token);
        case "valueEncoding" -> f.valueEncoding = scalar(parser, token);
        case "partition" -> f.partition = scalar(parser, token);
        case "idempotencyKey" -> f.idempotencyKey = scalar(parser, token);
        case "value" -> {
          f.hasValue = true;
          if (token == JsonToken.VALUE_STRING) {
            f.value = parser.getText();  // its encoding, which may come later, says what it means
          } else {
            f.value = token == JsonToken.START_OBJECT ? AN_OBJECT
                : token == JsonToken.START_ARRAY ? AN_ARRAY : scalar(parser, token);
            f.valueJson = compactor.value(parser, f);
          }
        }
        case "headers" -> f.headers = headers(parser, token, f);
        default -> parser.skipChildren();
      }
    }
    return record(f, compactor);
  }

  /**
   * Each JSON value of a produce body as its compact UTF-8 form: a value that is already compact and plain (ASCII, no
   * space between tokens, no {@code \\u} escape; what clients send) is copied from the body as it is, after the parser
   * has checked it; any other value is written again by the generator, which takes out the spaces and checks each
   * string for unpaired surrogates. Numbers keep their text either way.
   */
  private static final class Compactor implements AutoCloseable {
    private final byte[] body;
    private ByteArrayBuilder values;
    /** Made when a value first needs it: most bodies need none. */
    private JsonGenerator generator;

    Compactor(byte[] body) {
      this.body = body;
    }

    private JsonGenerator generator() throws IOException {
      if (generator == null) {
        values = new ByteArrayBuilder();
        generator = StrictJson.FACTORY.createGenerator(values);
        generator.setRootValueSeparator(null);
      }
      return generator;
    }

    /** The value of record {@code f} at the parser's current token, which is left at its last token. */
    byte[] value(JsonParser parser, Fields f) throws IOException {
      if (!parser.currentToken().isStructStart()) {
        // A number, true, false or null: its text (ASCII, checked by the parser) is its JSON.
        return parser.getText().getBytes(StandardCharsets.US_ASCII);
      }
      int start = (int) parser.currentTokenLocation().getByteOffset();
      parser.skipChildren();
      int end = (int) parser.currentLocation().getByteOffset();
      if (plain(body, start, end)) {
        return Arrays.copyOfRange(body, start, end);
      }
      try (JsonParser again = StrictJson.FACTORY.createParser(body, start, end - start)) {
        again.nextToken();
        StrictJson.copy(again, generator(), f.at() + ": 'value'");
      }
      return written();
    }

    byte[] string(String s) throws IOException {
      generator().writeString(s);
      return written();
    }

    private byte[] written() throws IOException {
      generator.flush();
      byte[] out = values.toByteArray();
      values.reset();
      return out;
    }

    /** Whether checked JSON text is ASCII with no whitespace outside strings and no {@code \\u} escape in them. */
    private static boolean plain(byte[] json, int from, int to) {
      boolean inString = false;
      int i = from;
      while (i < to) {
        // Eight bytes at a time while none of them is a quote, a backslash, a space or control, or non-ASCII: such
        // bytes change nothing, in a string or out of one (the bulk of a value is its strings' letters).
        if (i + 8 <= to && ordinary((long) LONGS.get(json, i))) {
          i += 8;
          continue;
        }
        byte c = json[i];
        if (c < 0) {
          return false;
        }
        if (inString) {
          if (c == '"') {
            inString = false;
          } else if (c == '\\') {
            if (json[++i] == 'u') {
              return false;
            }
          }
        } else if (c == '"') {
          inString = true;
        } else if (c <= ' ') {
          return false;  // whitespace: nothing else below '!' gets past the parser outside a string
        }
        i++;
      }
      return true;
    }

    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;

    /** No byte of the eight is '"', '\\', at most ' ', or 0x80 and above (the classic SWAR byte tests). */
    private static boolean ordinary(long w) {
      long quote = w ^ (ONES * '"');
      long backslash = w ^ (ONES * '\\');
      long special = (w - ONES * 0x21)  // a byte below 0x21 borrows into its high bit
          | (quote - ONES) & ~quote
          | (backslash - ONES) & ~backslash;
      return (((special & ~w) | w) & HIGHS) == 0;
    }

    @Override
    public void close() throws IOException {
      if (generator != null) {
        generator.close();  // gives its buffers back to Jackson's pool
      }
    }
  }

  private static List<Header> headers(JsonParser parser, JsonToken token, Fields f) throws IOException {
    if (token == JsonToken.VALUE_NULL) {
      return List.of();
    }
    if (token != JsonToken.START_OBJECT) {
      throw invalid(f.at() + ": 'headers' must be an object of strings");
    }
    List<Header> headers = new ArrayList<>();
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String name = parser.currentName();
      if (parser.nextToken() != JsonToken.VALUE_STRING) {
        throw invalid(f.at() + ": header '" + name + "' must be a string");
      }
      headers.add(new Header(name, StrictJson.utf8(parser.getText(), () -> f.at() + ": header '" + name + "'")));
    }
    return headers;
  }

  private static ProduceRecord record(Fields f, Compactor compactor) throws IOException {
    String keyEncoding = encoding(f.keyEncoding, "keyEncoding", "utf8", f, "utf8", "base64");
    String valueEncoding = encoding(f.valueEncoding, "valueEncoding", "json", f, "json", "utf8", "base64");

    byte[] key = null;
    if (f.key != null) {
      if (!(f.key instanceof String s)) {
        throw invalid(f.at() + ": 'key' must be a string or null");
      }
      key = keyEncoding.equals("base64") ? base64(s, () -> f.at() + ": 'key'")
          : StrictJson.utf8(s, () -> f.at() + ": 'key'");
    }

    if (!f.hasValue) {
      throw invalid(f.at() + ": 'value' is missing");
    }
    byte[] value;
    String contentType;
    switch (valueEncoding) {
      case "json" -> {
        if (f.valueJson != null) {
          value = f.valueJson;
        } else {
          String s = (String) f.value;
          StrictJson.utf8(s, () -> f.at() + ": 'value'");  // an unpaired surrogate is BAD_ENCODING here too
          value = compactor.string(s);
        }
        contentType = JSON;
      }
      case "utf8" -> {
        value = StrictJson.utf8(string(f, "utf8"), () -> f.at() + ": 'value'");
        contentType = TEXT;
      }
      default -> {
        value = base64(string(f, "base64"), () -> f.at() + ": 'value'");
        contentType = BINARY;
      }
    }

    Integer partition = null;
    if (f.partition != null) {
      if (!(f.partition instanceof Integer i)) {
        throw invalid(f.at() + ": 'partition' must be an integer between 0 and 2147483647, not " + render(f.partition));
      }
      partition = i;
    }

    if (f.idempotencyKey != null && !(f.idempotencyKey instanceof String)) {
      throw invalid(f.at() + ": 'idempotencyKey' must be a string");
    }
    return new ProduceRecord(key, value, contentType, f.headers, partition, (String) f.idempotencyKey);
  }

  /** The value, which the encoding requires to be a JSON string. */
  private static String string(Fields f, String encoding) {
    if (f.valueJson != null) {
      throw invalid(f.at() + ": 'value' with valueEncoding " + encoding + " must be a string, not " + render(f.value));
    }
    return (String) f.value;
  }

  private static String encoding(Object e, String field, String defaultValue, Fields f, String... allowed) {
    if (e == null) {
      return defaultValue;
    }
    for (String a : allowed) {
      if (a.equals(e)) {
        return a;
      }
    }
    throw invalid(f.at() + ": '" + field + "' must be one of " + String.join(", ", allowed) + ", not " + render(e));
  }

  /** RFC 4648 base64 with padding; anything else (unpadded, URL alphabet, whitespace) is BAD_ENCODING. */
  static byte[] base64(String s, Supplier<String> what) {
    if (s.length() % 4 != 0) {
      throw new BrokerException(BrokerError.BAD_ENCODING, what.get() + " is not padded RFC 4648 base64 (length "
          + s.length() + " is not a multiple of 4)");
    }
    try {
      return Base64.getDecoder().decode(s);
    } catch (IllegalArgumentException e) {
      throw new BrokerException(BrokerError.BAD_ENCODING, what.get() + " is not RFC 4648 base64: " + e.getMessage());
    }
  }

  /** A JSON value as an error message shows it. */
  static String render(Object v) {
    if (v == null) {
      return "null";
    }
    if (v instanceof String s) {
      return "\"" + s + "\"";
    }
    if (v instanceof JsonObject) {
      return "an object";
    }
    if (v instanceof JsonArray) {
      return "an array";
    }
    return v.toString();
  }

  private static BrokerException invalid(String message) {
    return new BrokerException(BrokerError.INVALID_RECORD, message);
  }

  static Buffer produceResponse(List<ProduceResult> results) {
    return JsonOutput.render(24 + 64 * results.size(), out -> {
      JsonGenerator g = out.g;
      g.writeStartObject();
      g.writeArrayFieldStart("results");
      for (ProduceResult r : results) {
        g.writeStartObject();
        g.writeNumberField("partition", r.partition());
        g.writeNumberField("offset", r.offset());
        g.writeNumberField("timestamp", r.timestamp());
        g.writeBooleanField("duplicate", r.duplicate());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    });
  }

  static Buffer readResponse(int partition, ReadResult read) {
    return JsonOutput.render(64 + sizeHint(read.records()), out -> {
      JsonGenerator g = out.g;
      g.writeStartObject();
      g.writeArrayFieldStart("records");
      for (StoredRecord r : read.records()) {
        g.writeStartObject();
        fields(out, r, partition, true);
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeNumberField("nextOffset", read.nextOffset());
      g.writeNumberField("highWatermark", read.highWatermark());
      g.writeNumberField("logStartOffset", read.logStartOffset());
      g.writeEndObject();
    });
  }

  /** About the size of the records rendered. */
  static long sizeHint(List<StoredRecord> records) {
    long bytes = 0;
    for (StoredRecord r : records) {
      bytes += sizeHint(r);
    }
    return bytes;
  }

  /** About the size of a record rendered: base64 grows a value by a third, and it has its field names. */
  static long sizeHint(StoredRecord r) {
    return 200 + r.value().length * 4L / 3 + (r.key() == null ? 0 : r.key().length * 4L / 3);
  }

  /**
   * A record's fields, into the object the generator is in: key, value and headers, then (with {@code position}) its
   * partition and offset, then its timestamp and idempotency key. A value stored as {@code application/json} that is
   * one JSON value in UTF-8 is copied in as it is stored; any other value is base64.
   */
  static void fields(JsonOutput out, StoredRecord r, int partition, boolean position) throws IOException {
    JsonGenerator g = out.g;
    String keyText = r.key() == null ? null : StrictJson.utf8OrNull(r.key());
    if (r.key() == null) {
      g.writeNullField("key");
      g.writeStringField("keyEncoding", "utf8");
    } else if (keyText != null) {
      g.writeStringField("key", keyText);
      g.writeStringField("keyEncoding", "utf8");
    } else {
      g.writeFieldName("key");
      g.writeBinary(r.key());  // RFC 4648 base64, padded, one line
      g.writeStringField("keyEncoding", "base64");
    }
    g.writeFieldName("value");
    AmqpSections.Body amqpBody = AmqpSections.body(r);
    if (isJson(r.contentType()) && StrictJson.isJson(r.value())) {
      out.rawValue(r.value());
      g.writeStringField("valueEncoding", "json");
    } else if (amqpBody == AmqpSections.Body.STRING) {
      g.writeString(new String(r.value(), StandardCharsets.UTF_8));  // an AMQP amqp-value string (DESIGN.md section 7)
      g.writeStringField("valueEncoding", "utf8");
    } else {
      g.writeBinary(r.value());
      g.writeStringField("valueEncoding", "base64");
    }
    if (amqpBody != null) {
      g.writeStringField("contentType", r.contentType());  // the message's, which an AMQP record's reader needs
    }
    g.writeObjectFieldStart("headers");
    List<Header> headers = r.headers();
    for (int i = 0; i < headers.size(); i++) {
      Header h = headers.get(i);
      if (h.name().equals(AmqpSections.HEADER)) {
        continue;  // an AMQP message's binary sections: its application properties are the headers already
      }
      if (lastOfItsName(headers, i)) {  // names may repeat in the log; this JSON shape keeps the last value of a name
        g.writeStringField(h.name(), new String(h.value(), StandardCharsets.UTF_8));
      }
    }
    g.writeEndObject();
    if (position) {
      g.writeNumberField("partition", partition);
      g.writeNumberField("offset", r.offset());
    }
    g.writeNumberField("timestamp", r.timestamp());
    if (r.idempotencyKey() != null) {
      g.writeStringField("idempotencyKey", r.idempotencyKey());
    }
  }

  private static boolean lastOfItsName(List<Header> headers, int index) {
    String name = headers.get(index).name();
    for (int i = index + 1; i < headers.size(); i++) {
      if (headers.get(i).name().equals(name)) {
        return false;
      }
    }
    return true;
  }

  /** {@code application/json}, with or without parameters such as {@code charset=utf-8}. */
  static boolean isJson(String contentType) {
    return mediaType(contentType).equals(JSON);
  }

  /** A content type's media type, without parameters, in lower case; "" for none. */
  static String mediaType(String contentType) {
    if (contentType == null) {
      return "";
    }
    int semicolon = contentType.indexOf(';');
    return (semicolon < 0 ? contentType : contentType.substring(0, semicolon)).trim().toLowerCase(Locale.ROOT);
  }
}
