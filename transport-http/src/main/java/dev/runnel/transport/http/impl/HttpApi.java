package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ClusterState;
import dev.runnel.broker.TopicNames;
import dev.runnel.broker.auth.Right;
import dev.runnel.transport.http.HttpTransportOptions;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The HTTP API's routes (DESIGN.md section 7): topics, produce, read, health, and the consumer-group routes of
 * {@link GroupApi}. Handlers validate the request, call the {@link Broker} and answer when its future completes;
 * nothing here blocks. Every failure goes to {@link Problems}.
 */
final class HttpApi {

  private static final String TOPICS_PREFIX = "/topics/";
  private static final String GROUPS_PREFIX = "/groups/";

  private final Vertx vertx;
  private final Broker broker;
  private final GroupApi groups;
  private final TopicApi topics;
  private final RecordApi records;
  private final StreamApi streams;
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
  /** The Prometheus text of the node's meters; null: metrics are off. */
  private final Supplier<String> metricsScraper;

  HttpApi(Vertx vertx, Broker broker, HttpTransportOptions options, HeldBytes held, StreamSessions sessions) {
    this.vertx = vertx;
    this.broker = broker;
    this.maxRecordsPerRequest = options.getMaxRecordsPerRequest();
    this.held = held;
    this.groups = new GroupApi(broker);
    this.topics = new TopicApi(broker);
    this.records = new RecordApi(broker, options.getMaxRecordsPerRequest(), options.getCloudEventsKeyExtension());
    this.streams = new StreamApi(vertx, broker, groups, sessions);
    this.access = new Access(options.getApiKeys(), broker, options.isPublicMetrics());
    this.metricsScraper = options.getMetricsScraper();
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
    streams.drain();
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
    route(router, HttpMethod.GET, "/topics", Access::anyKey, topics::list);  // lists what the key sees
    route(router, HttpMethod.PUT, "/topics/:topic", access.onTopic(Right.ADMIN), topics::create);
    route(router, HttpMethod.GET, "/topics/:topic", access.seesTopic(), topics::describe);
    route(router, HttpMethod.DELETE, "/topics/:topic", access.onTopic(Right.ADMIN), topics::delete);
    route(router, HttpMethod.PATCH, "/topics/:topic", access.onTopic(Right.ADMIN), topics::update);
    route(router, HttpMethod.POST, "/topics/:topic/partitions", access.onTopic(Right.ADMIN), topics::grow);
    route(router, HttpMethod.GET, "/topics/:topic/stats", access.onTopic(Right.ADMIN), topics::stats);
    route(router, HttpMethod.GET, "/openapi.yaml", PUBLIC, this::contract);
    route(router, HttpMethod.GET, "/metrics", access.metrics(), this::metrics);
    route(router, HttpMethod.GET, "/cluster", Access.adminOfAll("/cluster"), this::cluster);
    route(router, HttpMethod.POST, "/topics/:topic", access.onTopic(Right.PRODUCE), records::produceBody);
    route(router, HttpMethod.POST, "/topics/:topic/records", access.onTopic(Right.PRODUCE), records::produce);
    route(router, HttpMethod.GET, "/topics/:topic/partitions/:partition/records", access.onTopic(Right.CONSUME),
        records::read);

    // Consumer groups. Each template has its own literal segments, so no route captures another's paths (a path
    // parameter never spans a '/'); dead letters come first all the same. Join, dead letters (list, delete) and
    // redrive name their topics in the request: their handlers check the rights on them. Deleting a group needs admin
    // on every topic it has state in.
    route(router, HttpMethod.GET, "/groups", Access::anyKey, groups::list);  // lists what the key sees
    route(router, HttpMethod.GET, "/groups/:group/dead-letters", Access::anyKey, groups::deadLetters);
    route(router, HttpMethod.DELETE, "/groups/:group/dead-letters", Access::anyKey, groups::deleteDeadLetters);
    route(router, HttpMethod.POST, "/groups/:group/dead-letters/redrive", Access::anyKey, groups::redrive);
    route(router, HttpMethod.GET, "/groups/:group", access.onGroup(null), groups::describe);
    route(router, HttpMethod.PUT, "/groups/:group", access.onGroup(Right.ADMIN), groups::configure);
    route(router, HttpMethod.DELETE, "/groups/:group", access.onGroup(Right.ADMIN), groups::delete);
    route(router, HttpMethod.POST, "/groups/:group/members", Access::anyKey, groups::join);
    route(router, HttpMethod.DELETE, "/groups/:group/members/:member", access.onGroup(Right.CONSUME), groups::leave);
    route(router, HttpMethod.POST, "/groups/:group/members/:member/heartbeat", access.onGroup(Right.CONSUME),
        groups::heartbeat);
    route(router, HttpMethod.POST, "/groups/:group/members/:member/fetch", access.onGroup(Right.CONSUME),
        groups::fetch);
    route(router, HttpMethod.GET, "/groups/:group/members/:member/events", access.onGroup(Right.CONSUME),
        streams::stream);
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
    Answers.countAnswersIn(ctx, held);
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
        Answers.json(ctx, 200, new JsonObject().put("status", "UP"));
      } else {
        ctx.fail(new BrokerException(BrokerError.UNAVAILABLE, "not live: " + BrokerException.from(ar.cause()).getMessage()));
      }
    });
  }

  private void ready(RoutingContext ctx) {
    broker.checkReady().onComplete(ar -> {
      if (ar.succeeded()) {
        Answers.json(ctx, 200, new JsonObject().put("status", "UP"));
      } else {
        ctx.fail(new BrokerException(BrokerError.UNAVAILABLE, "not ready: " + BrokerException.from(ar.cause()).getMessage()));
      }
    });
  }

  /** The members this node sees and every partition's and group's lease, as Postgres holds them (DESIGN.md 6). */
  private void cluster(RoutingContext ctx) {
    broker.clusterState().onComplete(ar -> {
      if (ar.failed()) {
        ctx.fail(ar.cause());
        return;
      }
      ClusterState state = ar.result();
      JsonArray members = new JsonArray();
      state.members().forEach(m -> members.add(new JsonObject().put("node", m.node())
          .put("incarnation", m.incarnation()).put("http", m.http()).put("amqp", m.amqp())));
      JsonArray partitions = new JsonArray();
      state.partitions().forEach(p -> partitions.add(new JsonObject().put("topic", p.topic())
          .put("partition", p.partition()).put("leader", p.leader()).put("epoch", p.epoch())
          .put("leaseExpiresAt", p.leaseExpiresAt() == null ? null : p.leaseExpiresAt().toEpochMilli())
          .put("placedOn", p.placedOn())));
      JsonArray groups = new JsonArray();
      state.groups().forEach(g -> groups.add(new JsonObject().put("group", g.group()).put("owner", g.owner())
          .put("epoch", g.epoch())
          .put("leaseExpiresAt", g.leaseExpiresAt() == null ? null : g.leaseExpiresAt().toEpochMilli())
          .put("placedOn", g.placedOn())));
      Answers.json(ctx, 200, new JsonObject().put("node", state.node()).put("members", members)
          .put("partitions", partitions).put("groups", groups));
    });
  }

  /**
   * The node's meters for Prometheus. The scrape walks every meter, so it runs on a worker (a registry with many
   * topics and groups can take milliseconds); the answer is written back on this event loop.
   */
  private void metrics(RoutingContext ctx) {
    Supplier<String> scraper = metricsScraper;
    if (scraper == null) {
      throw new BrokerException(BrokerError.NOT_FOUND, "metrics are off on this node (metrics.enabled: false)");
    }
    vertx.executeBlocking(scraper::get, false).onComplete(ar -> {
      if (ar.failed()) {
        ctx.fail(ar.cause());
      } else {
        ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8").end(ar.result());
      }
    });
  }

  private void contract(RoutingContext ctx) {
    ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/yaml").end(Contract.yaml());
  }
}
