package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.Header;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.RoutingContext;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/** The records resource: produce (JSON records, a raw body, CloudEvents) and read (DESIGN.md section 7). */
final class RecordApi {

  static final int DEFAULT_MAX_RECORDS = 500;
  static final int MAX_MAX_RECORDS = 10_000;
  static final int DEFAULT_MAX_BYTES = 1024 * 1024;
  static final int MAX_MAX_BYTES = 16 * 1024 * 1024;

  private final Broker broker;
  private final int maxRecordsPerRequest;
  private final String cloudEventsKeyExtension;

  RecordApi(Broker broker, int maxRecordsPerRequest, String cloudEventsKeyExtension) {
    this.broker = broker;
    this.maxRecordsPerRequest = maxRecordsPerRequest;
    this.cloudEventsKeyExtension = cloudEventsKeyExtension;
  }

  void produce(RoutingContext ctx) {
    Buffer body = ctx.body().buffer();
    List<ProduceRecord> records = withTraceparent(RecordCodec.produceRequest(body == null ? Buffer.buffer() : body,
        maxRecordsPerRequest), ctx.request().getHeader(TRACEPARENT));
    Answers.answerRendered(ctx, broker.produce(ctx.pathParam("topic"), records), 200, RecordCodec::produceResponse);
  }

  static final String TRACEPARENT = "traceparent";
  /** W3C Trace Context, version 00: {@code 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>}, ids not all zero. */
  private static final Pattern TRACEPARENT_FORMAT =
      Pattern.compile("00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}");

  /**
   * The request's {@code traceparent} goes into each record that has none of its own, so consumers continue the trace.
   * One that is not valid W3C Trace Context is ignored, as the specification says.
   */
  static List<ProduceRecord> withTraceparent(List<ProduceRecord> records, String traceparent) {
    if (traceparent == null || !TRACEPARENT_FORMAT.matcher(traceparent).matches()) {
      return records;
    }
    Header header = new Header(TRACEPARENT, traceparent.getBytes(StandardCharsets.US_ASCII));
    List<ProduceRecord> out = new ArrayList<>(records.size());
    for (ProduceRecord r : records) {
      if (r.headers().stream().anyMatch(h -> h.name().equals(TRACEPARENT))) {
        out.add(r);
      } else {
        List<Header> headers = new ArrayList<>(r.headers().size() + 1);
        headers.addAll(r.headers());
        headers.add(header);
        out.add(new ProduceRecord(r.key(), r.value(), r.contentType(), headers, r.partition(), r.idempotencyKey()));
      }
    }
    return out;
  }

  static final String HEADER_PREFIX = "x-runnel-header-";

  /**
   * {@code POST /topics/{topic}}: CloudEvents (binary, structured or batch mode), or else the raw body as one record
   * with the request's content type, key from {@code ?key=}, partition from {@code ?partition=}, headers from
   * {@code X-Runnel-Header-<name>} (names in lower case) and an idempotency key from {@code Idempotency-Key}. A body
   * sent as {@code application/json} must be one JSON value.
   */
  void produceBody(RoutingContext ctx) {
    Buffer buffer = ctx.body().buffer();
    byte[] body = buffer == null ? new byte[0] : buffer.getBytes();
    String contentType = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    MultiMap headers = ctx.request().headers();
    List<ProduceRecord> records;
    if (CloudEventCodec.isCloudEvents(contentType, headers)) {
      records = CloudEventCodec.records(contentType, headers, body, maxRecordsPerRequest, cloudEventsKeyExtension);
    } else {
      records = List.of(raw(ctx, body, contentType));
    }
    Answers.answerRendered(ctx, broker.produce(ctx.pathParam("topic"),
        withTraceparent(records, ctx.request().getHeader(TRACEPARENT))), 200, RecordCodec::produceResponse);
  }

  private static ProduceRecord raw(RoutingContext ctx, byte[] body, String contentType) {
    if (contentType == null || contentType.isBlank()) {
      contentType = RecordCodec.BINARY;
    } else if (RecordCodec.isJson(contentType)) {
      StrictJson.checkSyntax(body);
    }
    String key = Answers.query(ctx, "key");
    String partition = Answers.query(ctx, "partition");
    List<Header> headers = new ArrayList<>();
    for (Map.Entry<String, String> h : ctx.request().headers()) {
      String name = h.getKey().toLowerCase(Locale.ROOT);
      if (name.startsWith(HEADER_PREFIX) && name.length() > HEADER_PREFIX.length()) {
        headers.add(new Header(name.substring(HEADER_PREFIX.length()), h.getValue().getBytes(StandardCharsets.UTF_8)));
      }
    }
    String idempotencyKey = ctx.request().getHeader("Idempotency-Key");
    return new ProduceRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8), body, contentType, headers,
        partition == null ? null : Answers.intParam("partition", partition), idempotencyKey);
  }

  /**
   * Reads from {@code ?offset=}, or from {@code ?timestamp=} (epoch ms: the first record appended at or after it; none
   * that young reads from the high watermark, so nothing): one of the two.
   */
  void read(RoutingContext ctx) {
    int partition = Answers.intParam("partition", ctx.pathParam("partition"));
    String offsetParam = Answers.query(ctx, "offset");
    String timestampParam = Answers.query(ctx, "timestamp");
    if ((offsetParam == null) == (timestampParam == null)) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, offsetParam == null
          ? "query parameter 'offset' (or 'timestamp', to read from a time) is required"
          : "give 'offset' or 'timestamp', not both");
    }
    long from = longParam(offsetParam != null ? "offset" : "timestamp", offsetParam != null ? offsetParam : timestampParam);
    if (timestampParam != null && from < 0) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "'timestamp' must be 0 or more (epoch ms), not " + from);
    }
    int maxRecords = Answers.bounded(ctx, "maxRecords", DEFAULT_MAX_RECORDS, MAX_MAX_RECORDS);
    int maxBytes = Answers.bounded(ctx, "maxBytes", DEFAULT_MAX_BYTES, MAX_MAX_BYTES);
    String topic = ctx.pathParam("topic");
    Future<Long> offset = offsetParam != null ? Future.succeededFuture(from)
        : broker.offsetForTimestamp(topic, partition, from);
    Answers.answerRendered(ctx, offset.compose(o -> broker.read(topic, partition, o, maxRecords, maxBytes)), 200,
        result -> RecordCodec.readResponse(partition, result));
  }

  private static long longParam(String name, String raw) {
    try {
      return Long.parseLong(raw);
    } catch (NumberFormatException e) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "'" + name + "' must be an integer, not '" + raw + "'");
    }
  }
}
