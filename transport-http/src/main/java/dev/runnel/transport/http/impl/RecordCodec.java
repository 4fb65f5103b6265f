package dev.runnel.transport.http.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.ProduceResult;
import dev.runnel.durability.Header;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.ReadResult;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

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

  /** The records of a produce body {@code {"records":[...]}}; the first bad record fails the whole request. */
  static List<ProduceRecord> produceRequest(Object body) {
    if (!(body instanceof JsonObject request)) {
      throw invalid("the body must be a JSON object {\"records\":[...]}");
    }
    Object records = request.getValue("records");
    if (!(records instanceof JsonArray array)) {
      throw invalid(records == null ? "'records' is missing: expected {\"records\":[...]}" : "'records' must be an array");
    }
    if (array.isEmpty()) {
      throw invalid("'records' is empty: send at least one record");
    }
    List<ProduceRecord> out = new ArrayList<>(array.size());
    for (int i = 0; i < array.size(); i++) {
      out.add(record(i, array.getValue(i)));
    }
    return out;
  }

  private static ProduceRecord record(int index, Object item) {
    String at = "record " + index;
    if (!(item instanceof JsonObject r)) {
      throw invalid(at + ": must be a JSON object");
    }
    String keyEncoding = encoding(r, "keyEncoding", "utf8", at, "utf8", "base64");
    String valueEncoding = encoding(r, "valueEncoding", "json", at, "json", "utf8", "base64");

    byte[] key = null;
    Object k = r.getValue("key");
    if (k != null) {
      if (!(k instanceof String s)) {
        throw invalid(at + ": 'key' must be a string or null");
      }
      key = keyEncoding.equals("base64") ? base64(s, at + ": 'key'") : StrictJson.utf8(s, at + ": 'key'");
    }

    if (!r.containsKey("value")) {
      throw invalid(at + ": 'value' is missing");
    }
    Object v = r.getValue("value");
    byte[] value;
    String contentType;
    switch (valueEncoding) {
      case "json" -> {
        value = StrictJson.compact(v, at + ": 'value'");
        contentType = JSON;
      }
      case "utf8" -> {
        value = StrictJson.utf8(string(v, at + ": 'value' with valueEncoding utf8"), at + ": 'value'");
        contentType = TEXT;
      }
      default -> {
        value = base64(string(v, at + ": 'value' with valueEncoding base64"), at + ": 'value'");
        contentType = BINARY;
      }
    }

    List<Header> headers = new ArrayList<>();
    Object h = r.getValue("headers");
    if (h != null) {
      if (!(h instanceof JsonObject object)) {
        throw invalid(at + ": 'headers' must be an object of strings");
      }
      for (Map.Entry<String, Object> e : object) {
        if (!(e.getValue() instanceof String s)) {
          throw invalid(at + ": header '" + e.getKey() + "' must be a string");
        }
        headers.add(new Header(e.getKey(), StrictJson.utf8(s, at + ": header '" + e.getKey() + "'")));
      }
    }

    Integer partition = null;
    Object p = r.getValue("partition");
    if (p != null) {
      if (!(p instanceof Integer i)) {
        throw invalid(at + ": 'partition' must be an integer between 0 and 2147483647, not " + p);
      }
      partition = i;
    }

    Object idempotencyKey = r.getValue("idempotencyKey");
    if (idempotencyKey != null && !(idempotencyKey instanceof String)) {
      throw invalid(at + ": 'idempotencyKey' must be a string");
    }
    return new ProduceRecord(key, value, contentType, headers, partition, (String) idempotencyKey);
  }

  private static String encoding(JsonObject r, String field, String defaultValue, String at, String... allowed) {
    Object e = r.getValue(field);
    if (e == null) {
      return defaultValue;
    }
    for (String a : allowed) {
      if (a.equals(e)) {
        return a;
      }
    }
    throw invalid(at + ": '" + field + "' must be one of " + String.join(", ", allowed) + ", not " + render(e));
  }

  private static String string(Object v, String what) {
    if (!(v instanceof String s)) {
      throw invalid(what + " must be a string, not " + render(v));
    }
    return s;
  }

  /** RFC 4648 base64 with padding; anything else (unpadded, URL alphabet, whitespace) is BAD_ENCODING. */
  static byte[] base64(String s, String what) {
    if (s.length() % 4 != 0) {
      throw new BrokerException(BrokerError.BAD_ENCODING, what + " is not padded RFC 4648 base64 (length "
          + s.length() + " is not a multiple of 4)");
    }
    try {
      return Base64.getDecoder().decode(s);
    } catch (IllegalArgumentException e) {
      throw new BrokerException(BrokerError.BAD_ENCODING, what + " is not RFC 4648 base64: " + e.getMessage());
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

  static JsonObject produceResponse(List<ProduceResult> results) {
    JsonArray out = new JsonArray(new ArrayList<>(results.size()));
    for (ProduceResult r : results) {
      out.add(new JsonObject()
          .put("partition", r.partition())
          .put("offset", r.offset())
          .put("timestamp", r.timestamp())
          .put("duplicate", r.duplicate()));
    }
    return new JsonObject().put("results", out);
  }

  static JsonObject readResponse(int partition, ReadResult read) {
    JsonArray records = new JsonArray(new ArrayList<>(read.records().size()));
    for (LogRecord r : read.records()) {
      records.add(record(partition, r));
    }
    return new JsonObject()
        .put("records", records)
        .put("nextOffset", read.nextOffset())
        .put("highWatermark", read.highWatermark())
        .put("logStartOffset", read.logStartOffset());
  }

  static JsonObject record(int partition, LogRecord r) {
    JsonObject out = new JsonObject();
    if (r.key() == null) {
      out.putNull("key").put("keyEncoding", "utf8");
    } else {
      String text = StrictJson.utf8OrNull(r.key());
      if (text != null) {
        out.put("key", text).put("keyEncoding", "utf8");
      } else {
        out.put("key", Base64.getEncoder().encodeToString(r.key())).put("keyEncoding", "base64");
      }
    }
    Object json = isJson(r.contentType()) ? StrictJson.parseOrNotJson(r.value()) : StrictJson.NOT_JSON;
    if (json != StrictJson.NOT_JSON) {
      out.put("value", json).put("valueEncoding", "json");
    } else {
      out.put("value", Base64.getEncoder().encodeToString(r.value())).put("valueEncoding", "base64");
    }
    JsonObject headers = new JsonObject();
    for (Header h : r.headers()) {
      // Names may repeat in the log; this JSON shape keeps the last value of a name.
      headers.put(h.name(), new String(h.value(), StandardCharsets.UTF_8));
    }
    out.put("headers", headers)
        .put("partition", partition)
        .put("offset", r.offset())
        .put("timestamp", r.timestamp());
    if (r.idempotencyKey() != null) {
      out.put("idempotencyKey", r.idempotencyKey());
    }
    return out;
  }

  /** {@code application/json}, with or without parameters such as {@code charset=utf-8}. */
  static boolean isJson(String contentType) {
    int semicolon = contentType.indexOf(';');
    String mediaType = (semicolon < 0 ? contentType : contentType.substring(0, semicolon)).trim();
    return mediaType.toLowerCase(Locale.ROOT).equals(JSON);
  }
}
