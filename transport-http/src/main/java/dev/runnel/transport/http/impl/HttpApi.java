package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.TopicDescription;
import dev.runnel.broker.TopicNames;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.Right;
import dev.runnel.durability.Header;
import dev.runnel.transport.http.HttpTransportOptions;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.TopicConfig;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The HTTP API's routes (DESIGN.md section 7): topics, produce, read, health, and the consumer-group routes of
 * {@link GroupApi}. Handlers validate the request, call the {@link Broker} and answer when its future completes;
 * nothing here blocks. Every failure goes to {@link Problems}.
 */
final class HttpApi {

  static final int DEFAULT_MAX_RECORDS = 500;
  static final int MAX_MAX_RECORDS = 10_000;
  static final int DEFAULT_MAX_BYTES = 1024 * 1024;
  static final int MAX_MAX_BYTES = 16 * 1024 * 1024;

  private static final String JSON = "application/json";
  private static final String TOPICS_PREFIX = "/topics/";
  private static final String GROUPS_PREFIX = "/groups/";

  private final Vertx vertx;
  private final Broker broker;
  private final GroupApi groups;
  private final long maxBodyBytes;
  /** Route path templates and their methods, in registration order: the Allow header of a 405. */
  private final Map<String, Set<HttpMethod>> methodsByPath = new LinkedHashMap<>();
  private final Map<String, Pattern> pathPatterns = new LinkedHashMap<>();

  private final HeldBytes held;
  private final Access access;
  private final WebhookApi webhooks;
  /** The check of routes anyone may call (health): nothing. */
  private static final Handler<RoutingContext> PUBLIC = RoutingContext::next;

  private final int maxRecordsPerRequest;

  HttpApi(Vertx vertx, Broker broker, HttpTransportOptions options, HeldBytes held) {
    this.vertx = vertx;
    this.broker = broker;
    this.maxRecordsPerRequest = options.getMaxRecordsPerRequest();
    this.held = held;
    this.groups = new GroupApi(broker);
    this.access = new Access(options.getApiKeys(), broker);
    this.webhooks = new WebhookApi(broker, options.getWebhooks(), options.getClock());
    this.maxBodyBytes = options.getMaxBodyBytes();
  }

  /** Set by {@link #drain()}; read on this API's event loop only. */
  private boolean draining;

  /**
   * The node is stopping: every answer from now on says {@code Connection: close}, a request that arrives is answered
   * 503 without being acted on, and long polls are answered at once with what they have (nothing).
   */
  void drain() {
    draining = true;
    groups.drain();
  }

  Router router() {
    Router router = Router.router(vertx);
    router.route().handler(this::closeWhenDraining);
    router.route().handler(access::authenticate);
    router.route().handler(this::holdBytes);
    // Every route: a bounded body held in memory (never uploads to disk), then the topic- and group-name checks.
    // Webhook routes have their own limit (GitHub sends up to 25 MB); each source's is checked after.
    BodyHandler bodies = BodyHandler.create(false).setHandleFileUploads(false).setBodyLimit(maxBodyBytes);
    BodyHandler webhookBodies = BodyHandler.create(false).setHandleFileUploads(false)
        .setBodyLimit(webhookBodyLimit());
    router.route()
        .handler(ctx -> (isWebhook(ctx) ? webhookBodies : bodies).handle(ctx))
        .failureHandler(this::fail);
    router.route().handler(this::checkNames);

    route(router, HttpMethod.GET, "/health/live", PUBLIC, this::live);
    route(router, HttpMethod.GET, "/health/ready", PUBLIC, this::ready);
    route(router, HttpMethod.GET, "/topics", Access::anyKey, this::listTopics);  // lists what the key sees
    route(router, HttpMethod.PUT, "/topics/:topic", access.onTopic(Right.ADMIN), this::createTopic);
    route(router, HttpMethod.GET, "/topics/:topic", access.seesTopic(), this::describeTopic);
    route(router, HttpMethod.DELETE, "/topics/:topic", access.onTopic(Right.ADMIN), this::deleteTopic);
    route(router, HttpMethod.POST, "/topics/:topic/records", access.onTopic(Right.PRODUCE), this::produce);
    route(router, HttpMethod.GET, "/topics/:topic/partitions/:partition/records", access.onTopic(Right.CONSUME),
        this::read);

    // Consumer groups. Each template has its own literal segments, so no route captures another's paths (a path
    // parameter never spans a '/'); dead letters come first all the same. Join, dead letters and redrive name their
    // topics in the request: their handlers check the rights on them.
    route(router, HttpMethod.GET, "/groups", Access::anyKey, groups::list);  // lists what the key sees
    route(router, HttpMethod.GET, "/groups/:group/dead-letters", Access::anyKey, groups::deadLetters);
    route(router, HttpMethod.POST, "/groups/:group/dead-letters/redrive", Access::anyKey, groups::redrive);
    route(router, HttpMethod.GET, "/groups/:group", access.onGroup(null), groups::describe);
    route(router, HttpMethod.PUT, "/groups/:group", access.onGroup(Right.ADMIN), groups::configure);
    route(router, HttpMethod.POST, "/groups/:group/members", Access::anyKey, groups::join);
    route(router, HttpMethod.DELETE, "/groups/:group/members/:member", access.onGroup(Right.CONSUME), groups::leave);
    route(router, HttpMethod.POST, "/groups/:group/members/:member/heartbeat", access.onGroup(Right.CONSUME),
        groups::heartbeat);
    route(router, HttpMethod.POST, "/groups/:group/members/:member/fetch", access.onGroup(Right.CONSUME),
        groups::fetch);
    route(router, HttpMethod.POST, "/groups/:group/acks", access.onGroup(Right.CONSUME), groups::settle);
    route(router, HttpMethod.POST, "/groups/:group/topics/:topic/seek", access.onTopic(Right.ADMIN), groups::seek);

    route(router, HttpMethod.POST, "/webhooks/:source", PUBLIC, webhooks::deliver);  // checked by its signature

    router.errorHandler(404, this::fail);
    router.errorHandler(405, ctx -> {
      String allow = allowedMethods(ctx.normalizedPath());
      if (!allow.isEmpty()) {
        ctx.response().putHeader(HttpHeaders.ALLOW, allow);
      }
      fail(ctx);
    });
    router.errorHandler(500, this::fail);
    return router;
  }

  /** A route whose {@code check} (who may call it) runs before its handler. */
  private void route(Router router, HttpMethod method, String path, Handler<RoutingContext> check,
                     Handler<RoutingContext> handler) {
    router.route(method, path).handler(check).handler(handler);
    methodsByPath.computeIfAbsent(path, p -> new LinkedHashSet<>()).add(method);
    pathPatterns.computeIfAbsent(path, p -> Pattern.compile(p.replaceAll(":[A-Za-z]+", "[^/]+") + "/?"));
  }

  private String allowedMethods(String path) {
    Set<HttpMethod> methods = new LinkedHashSet<>();
    for (Map.Entry<String, Pattern> e : pathPatterns.entrySet()) {
      if (path != null && e.getValue().matcher(path).matches()) {
        methods.addAll(methodsByPath.get(e.getKey()));
      }
    }
    return methods.stream().map(HttpMethod::name).collect(Collectors.joining(", "));
  }

  private static boolean isWebhook(RoutingContext ctx) {
    String path = ctx.request().path();
    return path != null && path.startsWith("/webhooks/");
  }

  private long webhookBodyLimit() {
    return Math.max(webhooks.maxBodyBytes(), maxBodyBytes);
  }

  /** The body limit of this request's route. */
  private long bodyLimit(RoutingContext ctx) {
    return isWebhook(ctx) ? webhookBodyLimit() : maxBodyBytes;
  }

  private void fail(RoutingContext ctx) {
    Problems.handleFailure(ctx, bodyLimit(ctx));
  }

  /**
   * Reserves the request's body bytes in the node-wide bound before the body is read, until the answer is out or the
   * connection goes (Vert.x Web's end handlers run on both). A request that does not fit is answered 503 OVERLOADED
   * at once; its body is read and dropped as it comes, holding no memory, so the connection stays usable.
   */
  private void holdBytes(RoutingContext ctx) {
    String length = ctx.request().getHeader(HttpHeaders.CONTENT_LENGTH);
    long bytes;
    if (length == null) {  // a chunked body may be as long as the body limit; without either there is no body
      String encoding = ctx.request().getHeader(HttpHeaders.TRANSFER_ENCODING);
      bytes = encoding != null && encoding.toLowerCase(java.util.Locale.ROOT).contains("chunked") ? bodyLimit(ctx) : 0;
    } else {
      try {
        bytes = Math.min(Long.parseLong(length.trim()), bodyLimit(ctx) + 1);  // past the limit: 413 from the body handler
      } catch (NumberFormatException e) {
        throw new BrokerException(BrokerError.INVALID_REQUEST, "Content-Length is not a number: " + length);
      }
    }
    if (bytes <= 0) {
      ctx.next();
      return;
    }
    if (!held.tryReserve(bytes)) {
      if (!ctx.request().isEnded()) {
        ctx.request().handler(dropped -> { }).resume();
      }
      Problems.send(ctx, BrokerError.OVERLOADED, "the node holds " + (held.held() >> 20) + " MiB of requests, its bound "
          + "is " + (held.limit() >> 20) + " MiB (http.maxHeldBytes); this one (" + bytes + " bytes) was not read: retry "
          + "after Retry-After");
      return;
    }
    ctx.addEndHandler(v -> held.release(bytes));  // called once: on the answer's end, an exception or a close
    ctx.next();
  }

  /**
   * While draining, a request is answered 503 and nothing is done. Any answer written after the drain began says
   * {@code Connection: close}, and its connection is closed once the answer is out (no request on it is left
   * unanswered: the client is told before the connection goes).
   */
  private void closeWhenDraining(RoutingContext ctx) {
    ctx.addEndHandler(ended -> {
      if (draining) {
        ctx.request().connection().close();
      }
    });
    if (draining) {
      ctx.response().putHeader(HttpHeaders.CONNECTION, "close");
      Problems.send(ctx, BrokerError.UNAVAILABLE, "the node is shutting down; nothing was done: retry on another "
          + "node, or after it restarts");
      return;
    }
    ctx.addHeadersEndHandler(v -> {  // not response().headersEndHandler: Vert.x Web keeps that one for its own list
      if (draining) {
        ctx.response().putHeader(HttpHeaders.CONNECTION, "close");
      }
    });
    ctx.next();
  }

  /**
   * Refuses an invalid topic or group name in the raw request path before routing sees the normalized path, where
   * {@code /topics/..}, {@code /topics/.} and {@code /topics//records} (or {@code /groups/g/members/../acks}) would
   * otherwise become other routes or 404s.
   */
  private void checkNames(RoutingContext ctx) {
    String path = ctx.request().path();
    if (path != null && path.startsWith(TOPICS_PREFIX)) {
      int end = path.indexOf('/', TOPICS_PREFIX.length());
      // "/topics/" alone is the topic list, as "/topics" is.
      if (end >= 0 || path.length() > TOPICS_PREFIX.length()) {
        TopicNames.check(percentDecode(path.substring(TOPICS_PREFIX.length(), end < 0 ? path.length() : end)));
      }
    } else if (path != null && path.startsWith(GROUPS_PREFIX) && path.length() > GROUPS_PREFIX.length()) {
      checkGroupPath(path.substring(GROUPS_PREFIX.length()));
    }
    ctx.next();
  }

  /**
   * Under {@code /groups/}: the group segment follows the topic-name rule (INVALID_REQUEST, as the broker answers for a
   * bad group name), the segment after {@code topics} is a topic name (INVALID_TOPIC_NAME), and no other segment may
   * be empty, {@code .} or {@code ..} (one trailing '/' is allowed, as on every route).
   */
  private static void checkGroupPath(String rest) {
    String[] segments = rest.split("/", -1);
    int count = segments.length > 1 && segments[segments.length - 1].isEmpty() ? segments.length - 1 : segments.length;
    for (int i = 0; i < count; i++) {
      String segment = percentDecode(segments[i]);
      if (i == 0) {
        if (!TopicNames.isValid(segment)) {
          throw new BrokerException(BrokerError.INVALID_REQUEST, "invalid group name '" + segment
              + "': use 1 to 249 of the characters A-Z a-z 0-9 . _ -");
        }
      } else if (i == 2 && segments[1].equals("topics")) {
        TopicNames.check(segment);
      } else if (segment.isEmpty() || segment.equals(".") || segment.equals("..")) {
        throw new BrokerException(BrokerError.INVALID_REQUEST, "invalid path segment '" + segment + "' in /groups/"
            + rest);
      }
    }
  }

  /** RFC 3986 percent-decoding of one path segment ('+' stays '+'); a broken escape is kept as is. */
  static String percentDecode(String segment) {
    if (segment.indexOf('%') < 0) {
      return segment;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(segment.length());
    for (int i = 0; i < segment.length(); i++) {
      char c = segment.charAt(i);
      if (c == '%' && i + 2 < segment.length()
          && Character.digit(segment.charAt(i + 1), 16) >= 0 && Character.digit(segment.charAt(i + 2), 16) >= 0) {
        out.write(Character.digit(segment.charAt(i + 1), 16) * 16 + Character.digit(segment.charAt(i + 2), 16));
        i += 2;
      } else {
        byte[] bytes = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
        out.write(bytes, 0, bytes.length);
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  // ---- health

  private void live(RoutingContext ctx) {
    broker.checkLive().onComplete(ar -> {
      if (ar.succeeded()) {
        json(ctx, 200, new JsonObject().put("status", "UP"));
      } else {
        ctx.fail(new BrokerException(BrokerError.UNAVAILABLE, "not live: " + BrokerException.from(ar.cause()).getMessage()));
      }
    });
  }

  private void ready(RoutingContext ctx) {
    broker.checkReady().onComplete(ar -> {
      if (ar.succeeded()) {
        json(ctx, 200, new JsonObject().put("status", "UP"));
      } else {
        ctx.fail(new BrokerException(BrokerError.UNAVAILABLE, "not ready: " + BrokerException.from(ar.cause()).getMessage()));
      }
    });
  }

  // ---- topics

  private void listTopics(RoutingContext ctx) {
    answer(ctx, broker.listTopics(), 200, topics -> {
      JsonArray list = new JsonArray(new ArrayList<>(topics.size()));
      ApiKey key = Access.key(ctx);
      topics.stream().filter(t -> key.sees(t.name())).forEach(t -> list.add(topic(t)));
      return new JsonObject().put("topics", list);
    });
  }

  private void createTopic(RoutingContext ctx) {
    String name = ctx.pathParam("topic");
    int partitions = 1;
    TopicConfig config = TopicConfig.DEFAULT;
    Buffer body = ctx.body().buffer();
    if (body != null && body.length() > 0) {
      if (!(StrictJson.parse(body) instanceof JsonObject request)) {
        throw new BrokerException(BrokerError.INVALID_REQUEST,
            "the body must be a JSON object {\"partitions\":n,\"config\":{...}}");
      }
      Object p = request.getValue("partitions");
      if (p != null) {
        if (!(p instanceof Integer n)) {
          throw new BrokerException(BrokerError.INVALID_REQUEST, "'partitions' must be a positive integer, not " + p);
        }
        partitions = n;
      }
      Object c = request.getValue("config");
      if (c != null) {
        if (!(c instanceof JsonObject object)) {
          throw new BrokerException(BrokerError.INVALID_CONFIG, "'config' must be an object");
        }
        config = config(object);
      }
    }
    broker.createTopic(name, partitions, config).onComplete(ar -> {
      try {
        if (ar.failed()) {
          ctx.fail(BrokerException.from(ar.cause()));
          return;
        }
        if (ar.result().created()) {
          ctx.response().putHeader(HttpHeaders.LOCATION, "/topics/" + name);
        }
        json(ctx, ar.result().created() ? 201 : 200, topic(ar.result().topic()));
      } catch (RuntimeException e) {
        ctx.fail(e);
      }
    });
  }

  /** A topic config from JSON; exact numbers outside 64-bit integers are refused here, the rest by TopicConfig. */
  private static TopicConfig config(JsonObject json) {
    JsonObject longs = new JsonObject();
    for (Map.Entry<String, Object> e : json) {
      Object v = e.getValue();
      if (v instanceof BigInteger || v instanceof BigDecimal) {
        try {
          v = (v instanceof BigInteger i ? new BigDecimal(i) : (BigDecimal) v).longValueExact();
        } catch (ArithmeticException ex) {
          throw new BrokerException(BrokerError.INVALID_CONFIG, "topic config '" + e.getKey()
              + "' must be an integer within 64 bits");
        }
      }
      longs.put(e.getKey(), v);
    }
    try {
      return TopicConfig.fromJson(longs);
    } catch (IllegalArgumentException e) {
      throw new BrokerException(BrokerError.INVALID_CONFIG, e.getMessage());
    }
  }

  private void describeTopic(RoutingContext ctx) {
    answer(ctx, broker.describeTopic(ctx.pathParam("topic")), 200, HttpApi::topic);
  }

  private void deleteTopic(RoutingContext ctx) {
    noContent(ctx, broker.deleteTopic(ctx.pathParam("topic")));
  }

  static JsonObject topic(TopicDescription t) {
    JsonArray partitions = new JsonArray(new ArrayList<>(t.partitions().size()));
    for (PartitionOffsets p : t.partitions()) {
      partitions.add(new JsonObject()
          .put("partition", p.partition())
          .put("logStartOffset", p.logStartOffset())
          .put("highWatermark", p.highWatermark()));
    }
    return new JsonObject()
        .put("name", t.name())
        .put("partitions", partitions)
        .put("config", t.config().toJson());
  }

  // ---- records

  private void produce(RoutingContext ctx) {
    Buffer body = ctx.body().buffer();
    List<ProduceRecord> records = withTraceparent(RecordCodec.produceRequest(body == null ? Buffer.buffer() : body,
        maxRecordsPerRequest), ctx.request().getHeader(TRACEPARENT));
    answerRendered(ctx, broker.produce(ctx.pathParam("topic"), records), 200, RecordCodec::produceResponse);
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

  private void read(RoutingContext ctx) {
    int partition = intParam("partition", ctx.pathParam("partition"));
    String offsetParam = query(ctx, "offset");
    if (offsetParam == null) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "query parameter 'offset' is required");
    }
    long offset;
    try {
      offset = Long.parseLong(offsetParam);
    } catch (NumberFormatException e) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "'offset' must be an integer, not '" + offsetParam + "'");
    }
    int maxRecords = bounded(ctx, "maxRecords", DEFAULT_MAX_RECORDS, MAX_MAX_RECORDS);
    int maxBytes = bounded(ctx, "maxBytes", DEFAULT_MAX_BYTES, MAX_MAX_BYTES);
    answerRendered(ctx, broker.read(ctx.pathParam("topic"), partition, offset, maxRecords, maxBytes), 200,
        result -> RecordCodec.readResponse(partition, result));
  }

  static int bounded(RoutingContext ctx, String name, int defaultValue, int max) {
    String raw = query(ctx, name);
    if (raw == null) {
      return defaultValue;
    }
    int value = intParam(name, raw);
    if (value < 1 || value > max) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "'" + name + "' must be between 1 and " + max + ", not "
          + value);
    }
    return value;
  }

  private static int intParam(String name, String raw) {
    try {
      return Integer.parseInt(raw);
    } catch (NumberFormatException e) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "'" + name + "' must be an integer, not '" + raw + "'");
    }
  }

  static String query(RoutingContext ctx, String name) {
    List<String> values = ctx.queryParam(name);
    return values.isEmpty() ? null : values.get(0);
  }

  // ---- answers

  /** Answers {@code status} with the future's result as JSON, or the failure as a problem. */
  static <T> void answer(RoutingContext ctx, Future<T> future, int status, Function<T, JsonObject> body) {
    answerRendered(ctx, future, status, body.andThen(JsonObject::toBuffer));
  }

  /** {@link #answer} for a body already rendered as JSON. */
  static <T> void answerRendered(RoutingContext ctx, Future<T> future, int status, Function<T, Buffer> body) {
    future.onComplete(ar -> {
      try {
        if (ar.succeeded()) {
          send(ctx, status, body.apply(ar.result()));
        } else {
          ctx.fail(BrokerException.from(ar.cause()));
        }
      } catch (RuntimeException e) {
        ctx.fail(e);
      }
    });
  }

  /** Answers 204 when the future succeeds, or the failure as a problem. */
  static void noContent(RoutingContext ctx, Future<?> future) {
    future.onComplete(ar -> {
      if (ar.failed()) {
        ctx.fail(BrokerException.from(ar.cause()));
      } else if (!ctx.response().closed()) {
        ctx.response().setStatusCode(204).end();
      }
    });
  }

  static void json(RoutingContext ctx, int status, JsonObject body) {
    send(ctx, status, body.toBuffer());
  }

  private static void send(RoutingContext ctx, int status, Buffer json) {
    if (ctx.response().closed()) {
      return;
    }
    ctx.response()
        .setStatusCode(status)
        .putHeader(HttpHeaders.CONTENT_TYPE, JSON)
        .end(json);
  }
}
