package dev.runnel.load.http;

import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.RecordSink;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A group member over HTTP: join, then long-poll fetches, each followed by one outcomes call acking every token of
 * it once the sink has seen them, and leave on stop. The next fetch goes out beside the acks, as a Kafka consumer's
 * next poll does not wait for its commit; leave waits for the acks in flight, so that it gives nothing back that was
 * seen. Fetch answers are read by streaming, each JSON value taken as its bytes in the answer (nothing re-encoded).
 * Runs on its own Vert.x context.
 */
final class HttpConsumer extends HttpMember {

  private static final Logger LOG = LoggerFactory.getLogger(HttpConsumer.class);
  static final int MAX_RECORDS = 500;
  static final int MAX_WAIT_MS = 1000;

  HttpConsumer(HttpDriver driver, String topic, String group, GroupMode mode, RecordSink sink, int node) {
    super(driver, topic, group, mode, sink, node);
  }

  @Override
  void receive() {
    fetch();
  }

  /** The fetch loop sees {@link #stopping} when its long poll returns, and leaves then. */
  @Override
  void stopping() {
  }

  private void fetch() {
    if (stopping) {
      leave();
      return;
    }
    JsonObject request = new JsonObject().put("maxRecords", MAX_RECORDS).put("maxWaitMs", MAX_WAIT_MS);
    driver.call(driver.consumerClient(), uri(), HttpMethod.POST, memberPath() + "/fetch", request.toBuffer(),
            MAX_WAIT_MS + 10_000L)
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
      ack(tokens, ar -> {
        if (ar.failed() || ar.result().status() != 200) {
          // The records come back when their leases end: duplicates, which the verifier counts.
          LOG.debug("acks of {} failed: {}", group, ar.failed() ? ar.cause().getMessage() : ar.result().status());
        }
      });
    }
    fetch();
  }
}
