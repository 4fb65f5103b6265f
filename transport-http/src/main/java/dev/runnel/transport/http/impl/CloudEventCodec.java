package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.Header;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.format.EventFormat;
import io.cloudevents.http.HttpMessageFactory;
import io.cloudevents.jackson.JsonFormat;
import io.vertx.core.MultiMap;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;

/**
 * CloudEvents over HTTP (binary, structured and batch modes) in, records out, with the CloudEvents SDK.
 *
 * <p>An event is stored the way the CloudEvents Kafka binding's binary mode lays it out, so any consumer gets the event
 * back: the data is the value (with {@code datacontenttype} as its content type; JSON when a structured event's data
 * is JSON), every attribute and extension a header {@code ce_<name>} ({@code ce_id}, {@code ce_source},
 * {@code ce_type}, {@code ce_specversion}, ...). The record's key is the configured key extension
 * ({@code http.cloudEventsKeyExtension}, by default {@code partitionkey}: the CloudEvents partitioning extension),
 * else the {@code subject}, else none; its idempotency key is
 * {@code <source> <id>} (a URI reference has no space), which deduplicates where the topic has {@code dedup} on.
 */
final class CloudEventCodec {

  static final String STRUCTURED = "application/cloudevents+json";
  static final String BATCH = "application/cloudevents-batch+json";
  private static final EventFormat FORMAT = new JsonFormat();

  private CloudEventCodec() {
  }

  /** Whether the request carries CloudEvents: a CloudEvents media type, or binary mode's {@code ce-specversion}. */
  static boolean isCloudEvents(String contentType, MultiMap headers) {
    String type = RecordCodec.mediaType(contentType);
    return type.equals(STRUCTURED) || type.equals(BATCH) || headers.contains("ce-specversion");
  }

  /** The request's events as records, in order; at most {@code maxRecords} of them, keyed by {@code keyExtension}. */
  static List<ProduceRecord> records(String contentType, MultiMap headers, byte[] body, int maxRecords,
                                     String keyExtension) {
    List<CloudEvent> events = new ArrayList<>();
    try {
      if (RecordCodec.mediaType(contentType).equals(BATCH)) {
        for (byte[] event : batch(body, maxRecords)) {
          events.add(FORMAT.deserialize(event));
        }
      } else {
        events.add(HttpMessageFactory.createReader(headers::forEach, body).toEvent());
      }
    } catch (BrokerException e) {
      throw e;
    } catch (RuntimeException e) {  // the SDK's EventDeserializationException, and its IllegalState/Argument ones
      throw new BrokerException(BrokerError.INVALID_RECORD, "not a valid CloudEvent: " + message(e));
    }
    if (events.isEmpty()) {
      throw new BrokerException(BrokerError.INVALID_RECORD, "the batch holds no events");
    }
    String type = RecordCodec.mediaType(contentType);
    boolean binaryMode = !type.equals(STRUCTURED) && !type.equals(BATCH);
    List<ProduceRecord> records = new ArrayList<>(events.size());
    for (CloudEvent e : events) {
      records.add(record(e, binaryMode, keyExtension));
    }
    return records;
  }

  private static ProduceRecord record(CloudEvent e, boolean binaryMode, String keyExtension) {
    List<Header> headers = new ArrayList<>();
    header(headers, "specversion", e.getSpecVersion().toString());
    header(headers, "id", e.getId());
    header(headers, "source", e.getSource() == null ? null : e.getSource().toString());
    header(headers, "type", e.getType());
    header(headers, "subject", e.getSubject());
    header(headers, "time", e.getTime() == null ? null : DateTimeFormatter.ISO_OFFSET_DATE_TIME.format(e.getTime()));
    header(headers, "dataschema", e.getDataSchema() == null ? null : e.getDataSchema().toString());
    for (String name : e.getExtensionNames()) {
      Object value = e.getExtension(name);
      header(headers, name, value == null ? null : value.toString());
    }
    byte[] data = e.getData() == null ? new byte[0] : e.getData().toBytes();
    String contentType = e.getDataContentType();
    if (contentType == null) {
      // A structured event without datacontenttype has JSON data (JSON event format, section 3.1).
      contentType = binaryMode || data.length == 0 ? RecordCodec.BINARY : RecordCodec.JSON;
    }
    Object keyValue = e.getExtension(keyExtension);
    String key = keyValue != null ? keyValue.toString() : e.getSubject();
    return new ProduceRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8), data, contentType, headers,
        null, e.getSource() + " " + e.getId());
  }

  private static void header(List<Header> headers, String attribute, String value) {
    if (value != null) {
      headers.add(new Header("ce_" + attribute, value.getBytes(StandardCharsets.UTF_8)));
    }
  }

  /** The elements of a JSON array, each as its own bytes (the SDK reads one event at a time). */
  private static List<byte[]> batch(byte[] body, int maxRecords) {
    List<byte[]> events = new ArrayList<>();
    try (JsonParser p = StrictJson.FACTORY.createParser(body)) {
      if (p.nextToken() != JsonToken.START_ARRAY) {
        throw new BrokerException(BrokerError.INVALID_RECORD, "a CloudEvents batch is a JSON array of events");
      }
      while (p.nextToken() == JsonToken.START_OBJECT) {
        int start = (int) p.currentTokenLocation().getByteOffset();
        p.skipChildren();
        int end = (int) p.currentLocation().getByteOffset();
        if (events.size() == maxRecords) {
          throw new BrokerException(BrokerError.INVALID_REQUEST, "a request may carry at most " + maxRecords
              + " events (http.maxRecordsPerRequest)");
        }
        byte[] event = new byte[end - start];
        System.arraycopy(body, start, event, 0, event.length);
        events.add(event);
      }
      if (p.currentToken() != JsonToken.END_ARRAY || p.nextToken() != null) {
        throw new BrokerException(BrokerError.INVALID_RECORD, "a CloudEvents batch is a JSON array of event objects");
      }
    } catch (IOException e) {
      throw StrictJson.malformed(e);
    }
    return events;
  }

  /** The innermost message, without the class names the SDK and Jackson put in front of it. */
  private static String message(Throwable e) {
    Throwable inner = e;
    while (inner.getCause() != null && inner.getCause() != inner) {
      inner = inner.getCause();
    }
    String m = inner.getMessage() != null ? inner.getMessage() : e.getMessage();
    if (m == null || m.isBlank()) {
      return "it could not be read";
    }
    return m.split("\n", 2)[0].replaceAll("^([\\w.$]+(Exception|Error): )+", "").replaceAll(" \\(for .*\\)$", "");
  }
}
