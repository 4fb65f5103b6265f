package dev.runnel.load;

import dev.runnel.load.http.WebhookVerification;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Stands in front of a Runnel node for its {@code POST /webhooks/{source}} route until the node has one: checks the
 * Standard Webhooks signature with the tests' own code ({@link WebhookVerification}), stores the body as one
 * unkeyed record through the node's produce API with the delivery id as its idempotency key (so the node places it
 * by that id, as the route will) and the payload's {@code type} in {@code runnel.webhook.event}, deduplicates
 * delivery ids, and answers {@code {"partition","offset","timestamp","duplicate"}}. Every other request is passed to
 * the node as it is.
 */
final class WebhookGateway implements AutoCloseable {

  private final Vertx vertx = Vertx.vertx();
  private final URI node;
  private final String source;
  private final String topic;
  private final String secret;
  private final HttpClientAgent client;
  private final HttpServer server;
  private final Map<String, Future<JsonObject>> stored = new ConcurrentHashMap<>();
  /** Every webhook-id that arrived correctly signed. */
  final Set<String> deliveries = ConcurrentHashMap.newKeySet();
  final AtomicLong attempts = new AtomicLong();
  final AtomicLong refused = new AtomicLong();

  WebhookGateway(String nodeUrl, String source, String topic, String secret) throws Exception {
    this.node = URI.create(nodeUrl);
    this.source = source;
    this.topic = topic;
    this.secret = secret;
    this.client = vertx.httpClientBuilder().with(new HttpClientOptions().setKeepAlive(true))
        .with(new PoolOptions().setHttp1MaxSize(128).setMaxWaitQueueSize(-1)).build();
    this.server = vertx.createHttpServer().requestHandler(this::handle).listen(0, "127.0.0.1")
        .await(10, TimeUnit.SECONDS);
  }

  String url() {
    return "http://127.0.0.1:" + server.actualPort();
  }

  private void handle(HttpServerRequest req) {
    req.body().onSuccess(body -> {
      if (req.method() == HttpMethod.POST && req.path().equals("/webhooks/" + source)) {
        webhook(req, body);
      } else {
        forward(req, body);
      }
    });
  }

  private void webhook(HttpServerRequest req, Buffer body) {
    attempts.incrementAndGet();
    String id = req.getHeader("webhook-id");
    String refusal = WebhookVerification.refusal(secret, id, req.getHeader("webhook-timestamp"), body.getBytes(),
        req.getHeader("webhook-signature"), Instant.now());
    if (refusal != null) {
      refused.incrementAndGet();
      req.response().setStatusCode(401).putHeader("Content-Type", "application/problem+json")
          .end(new JsonObject().put("status", 401).put("detail", refusal).put("code", "INVALID_SIGNATURE").encode());
      return;
    }
    deliveries.add(id);
    boolean[] first = {false};
    Future<JsonObject> at = stored.computeIfAbsent(id, k -> {
      first[0] = true;
      return produce(id, body);
    });
    at.onComplete(ar -> {
      if (ar.failed()) {
        stored.remove(id, at);
        req.response().setStatusCode(503).putHeader("Content-Type", "application/problem+json")
            .end("{\"code\":\"UNAVAILABLE\",\"status\":503}");
        return;
      }
      req.response().putHeader("Content-Type", "application/json")
          .end(ar.result().copy().put("duplicate", !first[0]).encode());
    });
  }

  /** The record on the node: the body unchanged (compact JSON), no key, the delivery id as idempotency key. */
  private Future<JsonObject> produce(String id, Buffer body) {
    JsonObject headers = new JsonObject();
    String type = new JsonObject(body).getString("type");
    if (type != null) {
      headers.put("runnel.webhook.event", type);
    }
    String records = "{\"records\":[{\"value\":" + body + ",\"idempotencyKey\":" + Json.encode(id) + ",\"headers\":"
        + headers.encode() + "}]}";
    RequestOptions o = new RequestOptions().setMethod(HttpMethod.POST).setHost(node.getHost()).setPort(node.getPort())
        .setURI("/topics/" + topic + "/records").putHeader("Content-Type", "application/json");
    return client.request(o).compose(r -> r.send(Buffer.buffer(records))).compose(resp -> resp.body().compose(b -> {
      if (resp.statusCode() != 200) {
        return Future.failedFuture("produce answered " + resp.statusCode() + ": " + b);
      }
      JsonObject r = b.toJsonObject().getJsonArray("results").getJsonObject(0);
      return Future.succeededFuture(new JsonObject().put("partition", r.getInteger("partition"))
          .put("offset", r.getLong("offset")).put("timestamp", r.getLong("timestamp")));
    }));
  }

  private void forward(HttpServerRequest req, Buffer body) {
    RequestOptions o = new RequestOptions().setMethod(req.method()).setHost(node.getHost()).setPort(node.getPort())
        .setURI(req.uri());
    for (String h : new String[] {"Content-Type", "Authorization"}) {
      if (req.getHeader(h) != null) {
        o.putHeader(h, req.getHeader(h));
      }
    }
    client.request(o).compose(r -> r.send(body)).compose(resp -> resp.body().map(b -> {
      req.response().setStatusCode(resp.statusCode());
      if (resp.getHeader("Content-Type") != null) {
        req.response().putHeader("Content-Type", resp.getHeader("Content-Type"));
      }
      return req.response().end(b);
    })).onFailure(e -> req.response().setStatusCode(502).end());
  }

  @Override
  public void close() throws Exception {
    vertx.close().await(10, TimeUnit.SECONDS);
  }
}
