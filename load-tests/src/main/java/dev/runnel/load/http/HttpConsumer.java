package dev.runnel.load.http;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.RecordSink;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Locale;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * A group member over HTTP: join, then long-poll fetches, each followed by one outcomes call acking every token of
 * it once the sink has seen them, and leave on stop. The next fetch goes out beside the acks, as a Kafka consumer's
 * next poll does not wait for its commit; leave waits for the acks in flight, so that it gives nothing back that was
 * seen. Fetch answers are read by streaming, each JSON value taken as its bytes in the answer (nothing re-encoded).
 * Runs on its own Vert.x context.
 */
final class HttpConsumer implements ConsumerClient {

  private static final Logger LOG = LoggerFactory.getLogger(HttpConsumer.class);
  static final int MAX_RECORDS = 500;
  static final int MAX_WAIT_MS = 1000;
  static final long RETRY_MS = 100;

  private final HttpDriver driver;
  private final String topic;
  private final String group;
  private final GroupMode mode;
  private final RecordSink sink;
  private final Context context;
  private final Promise<Void> stopped = Promise.promise();
  private volatile boolean stopping;
  private volatile boolean started;
  private int node;
  private String memberId;
  /** Ack calls sent and not answered yet; leave waits for them (all on {@link #context}). */
  private int acksInFlight;
  private boolean leaveWhenAcked;

  HttpConsumer(HttpDriver driver, String topic, String group, GroupMode mode, RecordSink sink, int node) {
    this.driver = driver;
    this.topic = topic;
    this.group = group;
    this.mode = mode;
    this.sink = sink;
    this.node = node;
    this.context = driver.vertx().getOrCreateContext();
  }

  /** Joins (blocking the caller until the member exists, so records sent afterwards are this group's), then polls. */
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
    context.runOnContext(v -> fetch());
  }

  @Override
  public CompletionStage<Void> stop() {
    stopping = true;
    if (!started) {
      stopped.tryComplete();
    }
    return stopped.future().toCompletionStage();
  }

  private URI uri() {
    return driver.nodes().get(node);
  }

  private void moveOn() {
    node = (node + 1) % driver.nodes().size();
  }

  /** Joins on the current node; after a connection error or a 503 tries the next node, up to one round of them. */
  private Future<Void> join(int attempt) {
    JsonObject request = new JsonObject().put("topics", new JsonArray().add(topic))
        .put("mode", mode.name().toLowerCase(Locale.ROOT))
        .put("startFrom", driver.startAtLatest() ? "latest" : "earliest");
    return driver.call(driver.consumerClient(), uri(), HttpMethod.POST, "/groups/" + HttpDriver.encode(group) + "/members",
        request.toBuffer()).transform(ar -> {
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

  private void fetch() {
    if (stopping) {
      leave();
      return;
    }
    JsonObject request = new JsonObject().put("maxRecords", MAX_RECORDS).put("maxWaitMs", MAX_WAIT_MS);
    String path = "/groups/" + HttpDriver.encode(group) + "/members/" + HttpDriver.encode(memberId) + "/fetch";
    driver.call(driver.consumerClient(), uri(), HttpMethod.POST, path, request.toBuffer(), MAX_WAIT_MS + 10_000L)
        .onComplete(ar -> {
          if (ar.failed()) {
            LOG.debug("fetch of {} on {} failed: {}", group, uri(), ar.cause().getMessage());
            moveOn();
            retry(this::fetch);
          } else if (ar.result().status() == 200) {
            deliver(ar.result().body());
          } else if ("UNKNOWN_MEMBER".equals(ar.result().code())) {
            moveOn();  // the member is gone (expired, or the node lost the group): join again, elsewhere
            retry(() -> join(1).onComplete(j -> {
              if (j.failed()) {
                LOG.warn("{} could not join again: {}", group, j.cause().getMessage());
              }
              retry(this::fetch);
            }));
          } else {
            if (ar.result().moveOn()) {
              moveOn();
            }
            LOG.warn("fetch of {}: {}", group, ar.result().failure("fetch").getMessage());
            retry(this::fetch);
          }
        });
  }

  private void deliver(Buffer answer) {
    long at = System.nanoTime();
    JsonArray tokens = new JsonArray();
    try {
      FetchAnswer.read(answer, (token, key, value, partition, offset) -> {
        sink.received(key, value, partition, offset, at);
        tokens.add(token);
      });
    } catch (RuntimeException e) {
      LOG.warn("fetch of {}: an answer that is not the fetch's shape: {}", group, e.getMessage());
    }
    if (!tokens.isEmpty()) {
      acksInFlight++;
      driver.call(driver.consumerClient(), uri(), HttpMethod.POST, "/groups/" + HttpDriver.encode(group) + "/acks",
          new JsonObject().put("ack", tokens).toBuffer()).onComplete(ar -> {
            if (ar.failed() || ar.result().status() != 200) {
              // The records come back when their leases end: duplicates, which the verifier counts.
              LOG.debug("acks of {} failed: {}", group, ar.failed() ? ar.cause().getMessage() : ar.result().status());
            }
            if (--acksInFlight == 0 && leaveWhenAcked) {
              leave();
            }
          });
    }
    fetch();
  }

  private void leave() {
    if (memberId == null) {
      stopped.tryComplete();
      return;
    }
    if (acksInFlight > 0) {
      leaveWhenAcked = true;  // the last ack's answer leaves
      return;
    }
    leaveWhenAcked = false;
    String path = "/groups/" + HttpDriver.encode(group) + "/members/" + HttpDriver.encode(memberId);
    driver.call(driver.consumerClient(), uri(), HttpMethod.DELETE, path, null).onComplete(ar -> stopped.tryComplete());
  }

  private void retry(Runnable action) {
    driver.vertx().setTimer(RETRY_MS, t -> context.runOnContext(v -> action.run()));
  }

}
