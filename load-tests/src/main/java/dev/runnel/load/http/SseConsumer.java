package dev.runnel.load.http;

import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.RecordSink;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A group member receiving over Server-Sent Events ({@code --consume-with sse}): join, then one stream
 * {@code GET /groups/{g}/members/{id}/events?maxInFlight=}{@value #MAX_IN_FLIGHT} on a connection of its own, read by
 * {@link SseParser} chunk by chunk as it comes; each {@code delivery} event's data is one delivery, read as the fetch
 * consumer reads one ({@link FetchAnswer#readDelivery}), handed to the sink with the time its chunk arrived, and its
 * token acked over {@code POST /groups/{g}/acks} (the keep-alive pool) in batches: at {@value #ACK_BATCH} tokens or
 * {@value #ACK_LINGER_MS} ms after the first waiting one, at most {@value #MAX_ACK_CALLS} calls in flight (the answer
 * of one sends what gathered meanwhile). The node hands out no more while the member holds {@code maxInFlight} leased
 * deliveries, so the acks keep the stream going.
 *
 * <p>A stream that breaks (connection error, an end without {@code event: end}, a silence of
 * {@value #STREAM_IDLE_TIMEOUT_MS} ms where the node sends a comment every 15 s) or that the node ends ({@code event:
 * end} on shutdown, {@code event: error}) is opened again on the next node with {@code Last-Event-ID}, the last
 * delivery's id, so the node sends again what it still leases to the member from after it; an {@code error} (or a
 * refusal) with {@code UNKNOWN_MEMBER} joins again first and opens a new member's stream, without an id. Reconnects
 * wait {@value HttpMember#RETRY_MS} ms times the attempt (at most {@value #MAX_RETRY_MS} ms); after
 * {@value #MAX_RECONNECTS} attempts in a row with nothing received the consumer gives up (said in the run's
 * problems; what it did not receive counts as lost). Stop closes the stream, acks what was received and leaves once
 * the acks are answered.
 */
final class SseConsumer extends HttpMember {

  private static final Logger LOG = LoggerFactory.getLogger(SseConsumer.class);
  /** The stream's {@code maxInFlight}: leased deliveries the member may hold before the node waits for acks. */
  static final int MAX_IN_FLIGHT = 1000;
  static final int ACK_BATCH = 100;
  static final long ACK_LINGER_MS = 5;
  static final int MAX_ACK_CALLS = 4;
  static final int MAX_RECONNECTS = 20;
  static final long MAX_RETRY_MS = 1000;
  /** The node sends a comment every 15 s on an idle stream: three missed ones end it. */
  static final long STREAM_IDLE_TIMEOUT_MS = 45_000;

  /** What the driver's SSE consumers saw, for the run's report; thread-safe. */
  static final class Counts {
    final AtomicLong streams = new AtomicLong();
    final AtomicLong reconnects = new AtomicLong();
    final AtomicLong rejoins = new AtomicLong();
    final AtomicLong acked = new AtomicLong();
    final AtomicLong ackedNotOk = new AtomicLong();
    final AtomicLong malformed = new AtomicLong();
    final AtomicLong gaveUp = new AtomicLong();
    final AtomicReference<String> firstReconnect = new AtomicReference<>();
    final AtomicReference<String> firstNotOk = new AtomicReference<>();
    final AtomicReference<String> firstMalformed = new AtomicReference<>();
    final AtomicReference<String> firstGiveUp = new AtomicReference<>();

    List<String> notes() {
      List<String> notes = new ArrayList<>();
      if (gaveUp.get() > 0) {
        notes.add(gaveUp.get() + " SSE consumer(s) gave up after " + MAX_RECONNECTS + " reconnects in a row, the first: "
            + firstGiveUp.get());
      }
      if (reconnects.get() > 0) {
        notes.add(reconnects.get() + " SSE stream reconnect(s) (" + rejoins.get() + " after joining again), the first"
            + " after: " + firstReconnect.get());
      }
      if (ackedNotOk.get() > 0) {
        notes.add(ackedNotOk.get() + " SSE ack(s) not answered OK (those records come again when their leases end),"
            + " the first: " + firstNotOk.get());
      }
      if (malformed.get() > 0) {
        notes.add(malformed.get() + " SSE delivery event(s) that are no delivery, the first: " + firstMalformed.get());
      }
      return notes;
    }
  }

  /** One stream request and what became of it (all on the member's context). */
  private final class Stream {
    final SseParser parser = new SseParser(event -> event(this, event));
    HttpClientRequest request;
    boolean finished;
    long chunkAt;

    void chunk(Buffer chunk) {
      if (finished) {
        return;
      }
      chunkAt = System.nanoTime();
      long comments = parser.comments();
      try {
        parser.feed(chunk);
      } catch (RuntimeException e) {
        ended(this, true, false, "an unreadable stream: " + e.getMessage());
        return;
      }
      if (parser.comments() != comments) {
        attempts = 0;  // the node is there and streaming
      }
    }

    void close() {
      if (request != null) {
        request.connection().close();
      }
    }
  }

  private final Counts counts;
  private Stream current;
  /** The id of the last delivery received from this member's streams; null before one (and after joining again). */
  private String lastEventId;
  /** Reconnects in a row with nothing received in between. */
  private int attempts;
  private JsonArray pending = new JsonArray();
  private long linger = -1;

  SseConsumer(HttpDriver driver, String topic, String group, GroupMode mode, RecordSink sink, int node) {
    super(driver, topic, group, mode, sink, node);
    this.counts = driver.sseCounts();
  }

  @Override
  void receive() {
    open();
  }

  @Override
  void stopping() {
    if (current != null) {
      current.finished = true;
      current.close();
      current = null;
    }
    flush();
    leave();
  }

  private void open() {
    if (stopping) {
      return;
    }
    Stream s = new Stream();
    current = s;
    counts.streams.incrementAndGet();
    RequestOptions options = driver.options(uri(), HttpMethod.GET, memberPath() + "/events?maxInFlight=" + MAX_IN_FLIGHT,
        STREAM_IDLE_TIMEOUT_MS).putHeader("Accept", "text/event-stream");
    if (lastEventId != null) {
      options.putHeader("Last-Event-ID", lastEventId);
    }
    driver.streamClient().request(options).onComplete(requested -> {
      if (requested.failed()) {
        ended(s, true, false, "the stream's connection: " + requested.cause().getMessage());
        return;
      }
      s.request = requested.result();
      if (s.finished) {  // stopped meanwhile
        s.close();
        return;
      }
      s.request.send().onComplete(answered -> {
        if (answered.failed()) {
          ended(s, true, false, "the stream's request: " + answered.cause().getMessage());
          return;
        }
        HttpClientResponse response = answered.result();
        if (response.statusCode() != 200) {
          response.body().onComplete(body -> refused(s, response.statusCode(),
              body.succeeded() ? body.result() : Buffer.buffer()));
          return;
        }
        response.handler(s::chunk);
        response.exceptionHandler(e -> ended(s, true, false, "the stream broke: " + e.getMessage()));
        response.endHandler(v -> ended(s, true, false, "the stream ended without an end event"));
      });
    });
  }

  /** The node answered the stream's request with a problem instead of the stream. */
  private void refused(Stream s, int status, Buffer body) {
    HttpDriver.Answer answer = new HttpDriver.Answer(status, body);
    boolean unknown = "UNKNOWN_MEMBER".equals(answer.code());
    ended(s, unknown || answer.moveOn(), unknown, answer.failure("the stream").getMessage());
  }

  private void event(Stream s, SseParser.Event event) {
    switch (event.type()) {
      case "delivery" -> delivery(s, event);
      case "error" -> {
        String code = null;
        try {
          code = new JsonObject(Buffer.buffer(event.data())).getString("code");
        } catch (RuntimeException e) {
          // an error without the problem's shape: reconnect all the same
        }
        ended(s, true, "UNKNOWN_MEMBER".equals(code), "an error event: " + event.dataText());
      }
      case "end" -> ended(s, true, false, "the node ended the stream (event: end)");
      default -> { }  // an event of another type: not this tool's business
    }
  }

  private void delivery(Stream s, SseParser.Event event) {
    long at = s.chunkAt;
    try {
      FetchAnswer.readDelivery(event.data(), (token, key, value, partition, offset) -> {
        sink.received(key, value, partition, offset, at);
        pending.add(token);
      });
    } catch (RuntimeException e) {
      counts.malformed.incrementAndGet();
      counts.firstMalformed.compareAndSet(null, e.getMessage() + " in " + abbreviated(event.dataText()));
      LOG.warn("SSE stream of {}: a delivery event that is no delivery: {}", group, e.getMessage());
      return;
    }
    if (!event.id().isEmpty()) {
      lastEventId = event.id();
    }
    attempts = 0;
    if (pending.size() >= ACK_BATCH) {
      flush();
    } else if (linger < 0) {
      linger = driver.vertx().setTimer(ACK_LINGER_MS, t -> context.runOnContext(v -> {
        linger = -1;
        flush();
      }));
    }
  }

  /** Acks what is pending: now, unless {@value #MAX_ACK_CALLS} calls are in flight (the next answer sends it). */
  private void flush() {
    if (pending.isEmpty() || (acksInFlight() >= MAX_ACK_CALLS && !stopping)) {
      return;
    }
    if (linger >= 0) {
      driver.vertx().cancelTimer(linger);
      linger = -1;
    }
    JsonArray tokens = pending;
    pending = new JsonArray();
    ack(tokens, ar -> {
      long ok = 0;
      String why;
      if (ar.failed()) {
        why = ar.cause().getMessage();
      } else if (ar.result().status() != 200) {
        why = ar.result().failure("acks").getMessage();
      } else {
        why = null;
        JsonArray results = ar.result().array("results");
        for (int i = 0; results != null && i < results.size(); i++) {
          JsonObject r = results.getJsonObject(i);
          if ("OK".equals(r.getString("status"))) {
            ok++;
          } else if (why == null) {
            why = r.encode();
          }
        }
      }
      counts.acked.addAndGet(ok);
      if (ok < tokens.size()) {
        // The records come back when their leases end: duplicates, which the verifier counts.
        counts.ackedNotOk.addAndGet(tokens.size() - ok);
        counts.firstNotOk.compareAndSet(null, why);
        LOG.debug("acks of {}: {} of {} not OK: {}", group, tokens.size() - ok, tokens.size(), why);
      }
      flush();
    });
  }

  /**
   * Stream {@code s} is over: opened again after a pause, on the next node when {@code moveOn}, by a new member
   * when {@code rejoin} (the old one is gone); nothing more when the consumer is stopping or gave up.
   */
  private void ended(Stream s, boolean moveOn, boolean rejoin, String why) {
    if (s.finished) {
      return;
    }
    s.finished = true;
    s.close();
    if (s != current || stopping) {
      return;
    }
    current = null;
    if (moveOn) {
      moveOn();
    }
    again(rejoin, why);
  }

  private void again(boolean rejoin, String why) {
    if (stopping) {
      return;
    }
    if (++attempts > MAX_RECONNECTS) {
      counts.gaveUp.incrementAndGet();
      counts.firstGiveUp.compareAndSet(null, group + ": " + why);
      LOG.error("SSE consumer of {} gives up after {} reconnects in a row: {}", group, MAX_RECONNECTS, why);
      return;
    }
    counts.reconnects.incrementAndGet();
    counts.firstReconnect.compareAndSet(null, why);
    LOG.debug("SSE stream of {} on {}: {}; opening it again (attempt {})", group, uri(), why, attempts);
    retry(() -> {
      if (stopping) {
        return;
      }
      if (!rejoin) {
        open();
        return;
      }
      counts.rejoins.incrementAndGet();
      join(1).onComplete(joined -> {
        if (stopping) {
          leave();  // the stop's leave went out for the old member
        } else if (joined.failed()) {
          again(true, "joining again: " + joined.cause().getMessage());
        } else {
          lastEventId = null;  // a new member: its stream's ids start afresh
          open();
        }
      });
    }, Math.min(RETRY_MS * attempts, MAX_RETRY_MS));
  }

  private static String abbreviated(String text) {
    return text.length() > 200 ? text.substring(0, 200) + "..." : text;
  }
}
