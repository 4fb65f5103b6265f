package dev.runnel.load.http;

import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Each record as one Standard Webhooks delivery, {@code POST /webhooks/{source}} with the value as the body
 * ({@code Content-Type: application/json}) and the headers {@code webhook-id} (fresh per record), {@code
 * webhook-timestamp} (epoch seconds from the driver's clock) and {@code webhook-signature}; no API key (the route
 * takes the signature instead). The answer {@code {"partition","offset","timestamp","duplicate"}} is the record's
 * acknowledged position.
 *
 * <p>A delivery that got no answer (connection refused, reset, timed out), or a 5xx, 408 or 429, is sent again with
 * the same {@code webhook-id}, as a webhook sender retries, freshly timestamped and signed, up to {@link #MAX_ATTEMPTS}
 * attempts; the node deduplicates delivery ids, so a retry of a delivery it had stored answers that record's
 * position ({@code duplicate: true}). After a connection error or a 503 the producer moves to the next node. Other
 * answers (401 {@code INVALID_SIGNATURE}, 404, ...) fail the send at once. A send of several records ({@code --batch})
 * makes that many deliveries at once and completes when all are answered.
 */
final class WebhookProducer implements ProducerClient {

  static final int MAX_ATTEMPTS = 5;
  static final long RETRY_MS = 100;

  private final WebhookDriver driver;
  private final HttpDriver http;
  private final String path;
  private final String idPrefix;
  private final AtomicLong nextId = new AtomicLong();
  private final Context context;
  private volatile int node;

  WebhookProducer(WebhookDriver driver, String idPrefix, int node) {
    this.driver = driver;
    this.http = driver.http();
    this.path = "/webhooks/" + HttpDriver.encode(driver.source());
    this.idPrefix = idPrefix;
    this.node = node;
    this.context = http.vertx().getOrCreateContext();
  }

  /** One record's delivery: its id and body stay the same over its attempts. */
  record Delivery(String id, byte[] value, Buffer body) {
  }

  @Override
  public CompletionStage<List<Ack>> send(List<OutgoingRecord> records) {
    List<Delivery> deliveries = new ArrayList<>(records.size());
    for (OutgoingRecord r : records) {
      deliveries.add(new Delivery(idPrefix + "_" + nextId.getAndIncrement(), r.value(), Buffer.buffer(r.value())));
    }
    Promise<List<Ack>> done = Promise.promise();
    context.runOnContext(v -> deliverAll(deliveries).onComplete(done));
    return done.future().toCompletionStage();
  }

  private Future<List<Ack>> deliverAll(List<Delivery> deliveries) {
    if (deliveries.size() == 1) {
      return deliver(deliveries.get(0), 1).map(List::of);
    }
    List<Future<Ack>> each = new ArrayList<>(deliveries.size());
    for (Delivery d : deliveries) {
      each.add(deliver(d, 1));
    }
    return Future.all(each).map(all -> {
      List<Ack> acks = new ArrayList<>(each.size());
      for (Future<Ack> f : each) {
        acks.add(f.result());
      }
      return acks;
    });
  }

  /** One attempt of a delivery, and the next ones while it may be retried. */
  private Future<Ack> deliver(Delivery d, int attempt) {
    int at = node;
    URI target = http.nodes().get(at);
    long timestamp = driver.clock().instant().getEpochSecond();
    RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost(target.getHost())
        .setPort(target.getPort()).setURI(path).setIdleTimeout(HttpDriver.REQUEST_IDLE_TIMEOUT_MS)
        .putHeader("Content-Type", "application/json")
        .putHeader("webhook-id", d.id())
        .putHeader("webhook-timestamp", Long.toString(timestamp))
        .putHeader("webhook-signature", driver.signer().sign(d.id(), timestamp, d.value()));
    String what = "POST " + path + " on " + target + " (webhook-id " + d.id() + ", attempt " + attempt + ")";
    return HttpDriver.request(http.producerClient(), options, d.body()).transform(ar -> {
      RuntimeException failure;
      if (ar.succeeded()) {
        HttpDriver.Answer answer = ar.result();
        if (answer.status() / 100 == 2) {
          return ack(answer, what);
        }
        failure = answer.failure(what);
        if (answer.moveOn()) {
          moveFrom(at);
        }
        int s = answer.status();
        if (!(s >= 500 || s == 408 || s == 429)) {
          return Future.failedFuture(failure);
        }
      } else {
        moveFrom(at);  // no answer: connection refused, reset or timed out; the node may have stored it
        failure = new IllegalStateException(what + " got no answer: " + ar.cause().getMessage(), ar.cause());
      }
      if (attempt >= MAX_ATTEMPTS) {
        return Future.failedFuture(failure);
      }
      driver.retrying(failure.getMessage());
      Promise<Ack> again = Promise.promise();
      http.vertx().setTimer(RETRY_MS * attempt,
          t -> context.runOnContext(v -> deliver(d, attempt + 1).onComplete(again)));
      return again.future();
    });
  }

  private static Future<Ack> ack(HttpDriver.Answer answer, String what) {
    try {
      JsonObject a = answer.json();
      Integer partition = a.getInteger("partition");
      Long offset = a.getLong("offset");
      if (partition == null || offset == null) {
        return Future.failedFuture(answer.failure(what + ": an answer without partition and offset"));
      }
      return Future.succeededFuture(new Ack(partition, offset));
    } catch (RuntimeException e) {
      return Future.failedFuture(answer.failure(what + ": an answer that is not {\"partition\",\"offset\",...}"));
    }
  }

  private void moveFrom(int at) {
    if (node == at) {
      node = (at + 1) % http.nodes().size();
    }
  }

  @Override
  public void close() {
    // the driver owns the connection pool
  }
}
