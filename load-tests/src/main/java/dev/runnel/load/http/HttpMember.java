package dev.runnel.load.http;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.RecordSink;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.util.Locale;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * What every group member over HTTP does, however it receives: join (moving to the next node after a connection
 * error or a 503), one outcomes call per batch of acks with the calls in flight counted, and leave on stop once those
 * calls are answered, so that it gives nothing back that was seen. {@link HttpConsumer} receives by long-poll fetches,
 * {@link SseConsumer} by a Server-Sent Events stream. Everything runs on the member's own Vert.x context.
 */
abstract class HttpMember implements ConsumerClient {

  static final long RETRY_MS = 100;

  final HttpDriver driver;
  final String topic;
  final String group;
  final GroupMode mode;
  final RecordSink sink;
  final Context context;
  private final Promise<Void> stopped = Promise.promise();
  volatile boolean stopping;
  private volatile boolean started;
  private int node;
  String memberId;
  /** Ack calls sent and not answered yet; leave waits for them (all on {@link #context}). */
  private int acksInFlight;
  private boolean leaveWhenAcked;

  HttpMember(HttpDriver driver, String topic, String group, GroupMode mode, RecordSink sink, int node) {
    this.driver = driver;
    this.topic = topic;
    this.group = group;
    this.mode = mode;
    this.sink = sink;
    this.node = node;
    this.context = driver.vertx().getOrCreateContext();
  }

  /** Starts receiving, on {@link #context}, once the member exists. */
  abstract void receive();

  /** {@link #stop()} was called (on {@link #context}); the member leaves when it is done with what it holds. */
  abstract void stopping();

  /** Joins (blocking the caller until the member exists, so records sent afterwards are this group's), then receives. */
  @Override
  public void start() {
    Promise<Void> joined = Promise.promise();
    context.runOnContext(v -> join(1).onComplete(joined));
    try {
      joined.future().await(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException("group " + group + " could not join on " + uri() + ": " + e.getMessage(), e);
    }
    started = true;
    context.runOnContext(v -> receive());
  }

  @Override
  public CompletionStage<Void> stop() {
    stopping = true;
    if (!started) {
      stopped.tryComplete();
    } else {
      context.runOnContext(v -> stopping());
    }
    return stopped.future().toCompletionStage();
  }

  URI uri() {
    return driver.nodes().get(node);
  }

  void moveOn() {
    node = (node + 1) % driver.nodes().size();
  }

  String groupPath() {
    return "/groups/" + HttpDriver.encode(group);
  }

  String memberPath() {
    return groupPath() + "/members/" + HttpDriver.encode(memberId);
  }

  /** Joins on the current node; after a connection error or a 503 tries the next node, up to one round of them. */
  Future<Void> join(int attempt) {
    JsonObject request = new JsonObject().put("topics", new JsonArray().add(topic))
        .put("mode", mode.name().toLowerCase(Locale.ROOT))
        .put("startFrom", driver.startAtLatest() ? "latest" : "earliest");
    return driver.call(driver.consumerClient(), uri(), HttpMethod.POST, groupPath() + "/members", request.toBuffer())
        .transform(ar -> {
          if (ar.succeeded() && ar.result().status() == 201) {
            memberId = ar.result().json().getString("memberId");
            return Future.succeededFuture();
          }
          RuntimeException failure = ar.succeeded() ? ar.result().failure("join " + group)
              : new IllegalStateException(ar.cause().getMessage(), ar.cause());
          if ((ar.failed() || ar.result().moveOn()) && attempt < driver.nodes().size()) {
            moveOn();
            return join(attempt + 1);
          }
          return Future.failedFuture(failure);
        });
  }

  /**
   * Acks {@code tokens} in one outcomes call; {@code answered} sees its answer (or its failure) before a leave that
   * waited for it goes out.
   */
  void ack(JsonArray tokens, Handler<AsyncResult<HttpDriver.Answer>> answered) {
    acksInFlight++;
    driver.call(driver.consumerClient(), uri(), HttpMethod.POST, groupPath() + "/acks",
        new JsonObject().put("ack", tokens).toBuffer()).onComplete(ar -> {
          acksInFlight--;
          answered.handle(ar);
          if (acksInFlight == 0 && leaveWhenAcked) {
            leave();
          }
        });
  }

  int acksInFlight() {
    return acksInFlight;
  }

  /** Leaves the group (after the acks in flight are answered); the stop completes when the node answered. */
  void leave() {
    if (memberId == null) {
      stopped.tryComplete();
      return;
    }
    if (acksInFlight > 0) {
      leaveWhenAcked = true;  // the last ack's answer leaves
      return;
    }
    leaveWhenAcked = false;
    driver.call(driver.consumerClient(), uri(), HttpMethod.DELETE, memberPath(), null)
        .onComplete(ar -> stopped.tryComplete());
  }

  void retry(Runnable action) {
    retry(action, RETRY_MS);
  }

  void retry(Runnable action, long delayMs) {
    driver.vertx().setTimer(delayMs, t -> context.runOnContext(v -> action.run()));
  }
}
