package dev.runnel.load.http;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.Driver;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.ProducerClient;
import dev.runnel.load.driver.RecordSink;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runnel over its HTTP API (transport-http/README.md), on Vert.x's HTTP client with keep-alive pools: one pool for
 * the producers ({@code connections} per node) and one for the consumers' long polls and acks, so a waiting fetch
 * never holds a producer's connection. Consumers receive by long-poll fetches ({@link HttpConsumer}) or, with
 * {@link ConsumeWith#SSE}, by one Server-Sent Events stream each ({@link SseConsumer}), on a client of its own whose
 * connections are not kept alive, so a stream never holds a connection of the pool its acks use. With several
 * nodes, each client starts on the next one in turn and moves on after a connection error or a 503 (and, for
 * consumers, an {@code UNKNOWN_MEMBER}).
 */
public final class HttpDriver implements Driver {

  /** How the consumers receive: long-poll fetches (the default) or one Server-Sent Events stream each. */
  public enum ConsumeWith { FETCH, SSE }

  static final long REQUEST_IDLE_TIMEOUT_MS = 30_000;

  private final List<URI> nodes;
  private final String authorization;
  private final boolean jsonValues;
  private final boolean startAtLatest;
  private final Vertx vertx;
  private final HttpClientAgent producers;
  private final HttpClientAgent consumers;
  private final ConsumeWith consumeWith;
  /** The SSE consumers' streams, one connection each (null when the consumers fetch). */
  private final HttpClientAgent streams;
  private final AtomicInteger nextNode = new AtomicInteger();
  private final SseConsumer.Counts sse = new SseConsumer.Counts();

  /**
   * @param apiKey {@code NAME:SECRET}, sent as {@code Authorization: Bearer NAME:SECRET}, or null
   * @param jsonValues values are JSON documents, sent as JSON ({@code valueEncoding} json), else as base64
   * @param startAtLatest new groups start at the end of the log ({@code startFrom: latest})
   * @param connections the producers' keep-alive connections per node
   */
  public HttpDriver(List<URI> nodes, String apiKey, boolean jsonValues, boolean startAtLatest, int connections) {
    this(nodes, apiKey, jsonValues, startAtLatest, connections, ConsumeWith.FETCH);
  }

  /** @param consumeWith how the consumers receive: long-poll fetches or an SSE stream each */
  public HttpDriver(List<URI> nodes, String apiKey, boolean jsonValues, boolean startAtLatest, int connections,
                    ConsumeWith consumeWith) {
    this.consumeWith = consumeWith;
    this.nodes = List.copyOf(nodes);
    this.authorization = apiKey == null ? null : "Bearer " + apiKey;
    this.jsonValues = jsonValues;
    this.startAtLatest = startAtLatest;
    this.vertx = Driver.newVertx();
    HttpClientOptions options = new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true)
        .setConnectTimeout(10_000);
    this.producers = vertx.httpClientBuilder().with(options)
        .with(new PoolOptions().setHttp1MaxSize(connections).setMaxWaitQueueSize(-1)).build();
    this.consumers = vertx.httpClientBuilder().with(options)
        .with(new PoolOptions().setHttp1MaxSize(256).setMaxWaitQueueSize(-1)).build();
    this.streams = consumeWith != ConsumeWith.SSE ? null : vertx.httpClientBuilder()
        .with(new HttpClientOptions(options).setKeepAlive(false))
        .with(new PoolOptions().setHttp1MaxSize(4096).setMaxWaitQueueSize(-1)).build();
  }

  /** Which node the next client starts on. */
  int firstNode() {
    return Math.floorMod(nextNode.getAndIncrement(), nodes.size());
  }

  List<URI> nodes() {
    return nodes;
  }

  boolean jsonValues() {
    return jsonValues;
  }

  boolean startAtLatest() {
    return startAtLatest;
  }

  Vertx vertx() {
    return vertx;
  }

  @Override
  public CompletionStage<Integer> prepareTopic(String topic, int partitions) {
    Promise<Integer> done = Promise.promise();
    vertx.getOrCreateContext().runOnContext(v -> prepareTopic(topic, partitions, 0).onComplete(done));
    return done.future().toCompletionStage();
  }

  /** On node {@code at}; a node that does not answer, or answers 503, hands over to the next one. */
  private Future<Integer> prepareTopic(String topic, int partitions, int at) {
    URI node = nodes.get(at);
    String path = "/topics/" + encode(topic);
    Future<Integer> here = call(producers, node, HttpMethod.GET, path, null).compose(got -> {
      if (got.status() == 200) {
        return Future.succeededFuture(got.json().getJsonArray("partitions").size());
      }
      if (got.status() != 404) {
        return Future.failedFuture(new NodeFailure(got.failure("GET " + path + " on " + node), got.moveOn()));
      }
      Buffer body = Buffer.buffer(new JsonObject().put("partitions", partitions).encode());
      return call(producers, node, HttpMethod.PUT, path, body).compose(created -> {
        if (created.status() == 200 || created.status() == 201) {
          return Future.succeededFuture(created.json().getJsonArray("partitions").size());
        }
        if ("TOPIC_EXISTS".equals(created.code())) {  // created meanwhile by someone else
          return call(producers, node, HttpMethod.GET, path, null).map(again -> again.json().getJsonArray("partitions").size());
        }
        return Future.failedFuture(new NodeFailure(created.failure("PUT " + path + " on " + node), created.moveOn()));
      });
    });
    return here.recover(err -> {
      boolean moveOn = !(err instanceof NodeFailure f) || f.moveOn;
      if (moveOn && at + 1 < nodes.size()) {
        return prepareTopic(topic, partitions, at + 1);
      }
      return Future.failedFuture(err instanceof NodeFailure f ? f.getCause() : err);
    });
  }

  /** An answer that was not the one wanted; {@code moveOn} when another node may give it. */
  private static final class NodeFailure extends RuntimeException {
    final boolean moveOn;

    NodeFailure(RuntimeException cause, boolean moveOn) {
      super(cause.getMessage(), cause);
      this.moveOn = moveOn;
    }
  }

  @Override
  public ProducerClient producer(String topic) {
    return new HttpProducer(this, topic, firstNode());
  }

  @Override
  public ConsumerClient consumer(String topic, String group, GroupMode mode, RecordSink sink) {
    if (consumeWith == ConsumeWith.SSE) {
      return new SseConsumer(this, topic, group, mode, sink, firstNode());
    }
    return new HttpConsumer(this, topic, group, mode, sink, firstNode());
  }

  ConsumeWith consumeWith() {
    return consumeWith;
  }

  /** What the SSE consumers counted (reconnects, acks that did not answer OK, ...). */
  SseConsumer.Counts sseCounts() {
    return sse;
  }

  @Override
  public List<String> notes() {
    return sse.notes();
  }

  HttpClientAgent producerClient() {
    return producers;
  }

  HttpClientAgent consumerClient() {
    return consumers;
  }

  HttpClientAgent streamClient() {
    return streams;
  }

  /**
   * One request and its whole answer; fails only when no answer came (connection error, timeout). Call it on a
   * Vert.x context (each client has its own), so the request's callbacks run where its response arrives.
   */
  Future<Answer> call(HttpClientAgent client, URI node, HttpMethod method, String path, Buffer body) {
    return call(client, node, method, path, body, REQUEST_IDLE_TIMEOUT_MS);
  }

  Future<Answer> call(HttpClientAgent client, URI node, HttpMethod method, String path, Buffer body, long idleTimeoutMs) {
    RequestOptions options = options(node, method, path, idleTimeoutMs);
    if (body != null) {
      options.putHeader("Content-Type", "application/json");
    }
    return request(client, options, body);
  }

  /** A request to {@code node} with the run's credentials. */
  RequestOptions options(URI node, HttpMethod method, String path, long idleTimeoutMs) {
    RequestOptions options = new RequestOptions().setMethod(method).setHost(node.getHost()).setPort(node.getPort())
        .setURI(path).setIdleTimeout(idleTimeoutMs);
    if (authorization != null) {
      options.putHeader("Authorization", authorization);
    }
    return options;
  }

  /** A request exactly as {@code options} describe it (no credentials added) and its whole answer. */
  static Future<Answer> request(HttpClientAgent client, RequestOptions options, Buffer body) {
    return client.request(options)
        .compose(req -> body == null ? req.send() : req.send(body))
        .compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(), b)));
  }

  static String encode(String segment) {
    return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
  }

  @Override
  public void close() {
    try {
      producers.close().await(10, TimeUnit.SECONDS);
      consumers.close().await(10, TimeUnit.SECONDS);
      if (streams != null) {
        streams.close().await(10, TimeUnit.SECONDS);
      }
    } catch (Exception e) {
      // closing anyway
    }
    try {
      vertx.close().await(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      // best effort: the JVM ends after the report
    }
  }

  /** A status and body; problems ({@code application/problem+json}) carry a {@code code}. */
  record Answer(int status, Buffer body) {

    JsonObject json() {
      return body.length() == 0 ? new JsonObject() : new JsonObject(body);
    }

    JsonArray array(String field) {
      return json().getJsonArray(field);
    }

    /** The problem code, or null. */
    String code() {
      try {
        return body.length() == 0 ? null : new JsonObject(body).getString("code");
      } catch (RuntimeException e) {
        return null;
      }
    }

    /** Whether another node may answer it (503: overloaded, unavailable, not the leader here). */
    boolean moveOn() {
      return status == 503;
    }

    RuntimeException failure(String what) {
      String text = body.length() > 300 ? body.getString(0, 300) + "..." : body.toString();
      return new IllegalStateException(what + " answered " + status + ": " + text);
    }
  }
}
