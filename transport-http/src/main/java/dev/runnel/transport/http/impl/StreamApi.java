package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.Delivery;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Server-Sent Events for a group member, {@code GET /groups/{group}/members/{memberId}/events}: each event is one
 * delivery with its token ({@code event: delivery}, {@code id:} a per-member sequence, {@code data:} the delivery as a
 * fetch renders it), settled over the outcomes route like any other.
 *
 * <p>The stream long-polls the broker for at most {@code maxInFlight} minus what the member holds under lease, so a
 * consumer that does not ack gets nothing more until it does (or its leases run out); a client that does not read
 * pauses the stream (Vert.x's write queue), so a slow reader costs bounded memory. A reconnect with
 * {@code Last-Event-ID} first sends again the member's deliveries still under lease that were sent after that id, with
 * their tokens (acked ones are not under lease, so never); when this node has no record of the member's earlier stream,
 * it sends every one still under lease. A comment line every {@link #POLL_MS} keeps proxies from closing an idle
 * stream. On shutdown the stream ends with {@code event: end}; deliveries that arrive for a closed stream are released
 * at once, without an attempt counted.
 */
final class StreamApi {

  static final int DEFAULT_MAX_IN_FLIGHT = 100;
  static final int MAX_MAX_IN_FLIGHT = 10_000;
  static final int MAX_MAX_EVENTS = 1_000_000;
  /** Each fetch's long poll; an idle stream gets a comment line this often. */
  static final long POLL_MS = 15_000;
  /** While the member holds {@code maxInFlight} leases, how often the stream looks again. */
  static final long FULL_WAIT_MS = 200;

  private final Vertx vertx;
  private final Broker broker;
  private final GroupApi groups;
  private final StreamSessions sessions;
  private final Set<Stream> open = new HashSet<>();
  private boolean draining;

  StreamApi(Vertx vertx, Broker broker, GroupApi groups, StreamSessions sessions) {
    this.vertx = vertx;
    this.broker = broker;
    this.groups = groups;
    this.sessions = sessions;
  }

  void stream(RoutingContext ctx) {
    if (draining) {
      throw new BrokerException(BrokerError.UNAVAILABLE, "the node is shutting down: reconnect to another node");
    }
    String group = ctx.pathParam("group");
    String member = ctx.pathParam("member");
    int maxInFlight = Answers.bounded(ctx, "maxInFlight", DEFAULT_MAX_IN_FLIGHT, MAX_MAX_IN_FLIGHT);
    int maxBytes = Answers.bounded(ctx, "maxBytes", RecordApi.DEFAULT_MAX_BYTES, RecordApi.MAX_MAX_BYTES);
    // A script's "give me n and stop"; the stream then ends with an end event.
    long maxEvents = Answers.query(ctx, "maxEvents") == null ? Long.MAX_VALUE
        : Answers.bounded(ctx, "maxEvents", 1, MAX_MAX_EVENTS);
    String lastEventId = ctx.request().getHeader("Last-Event-ID");
    // The member must exist before the stream is answered 200, so a wrong id is a plain 404 problem.
    broker.leased(group, member).onComplete(ar -> {
      if (ar.failed()) {
        ctx.fail(BrokerException.from(ar.cause()));
        return;
      }
      HttpServerResponse response = ctx.response();
      if (response.closed()) {
        return;
      }
      response.setStatusCode(200)
          .setChunked(true)
          .putHeader(HttpHeaders.CONTENT_TYPE, "text/event-stream; charset=utf-8")
          .putHeader(HttpHeaders.CACHE_CONTROL, "no-store")
          .putHeader("X-Accel-Buffering", "no");
      Stream stream = new Stream(ctx, group, member, maxInFlight, maxBytes, maxEvents, sessions.of(group, member));
      open.add(stream);
      response.closeHandler(v -> stream.close());
      ctx.addEndHandler(v -> stream.close());
      response.write("retry: 1000\n\n");
      if (lastEventId != null) {
        stream.resend(ar.result(), lastEventId.trim());
      }
      stream.next();
    });
  }

  /** The node is stopping: every stream ends now, with an {@code end} event. */
  void drain() {
    draining = true;
    for (Stream s : List.copyOf(open)) {
      s.end();
    }
  }

  private final class Stream {
    final RoutingContext ctx;
    final String group;
    final String member;
    final int maxInFlight;
    final int maxBytes;
    long eventsLeft;
    final StreamSessions.Session session;
    boolean closed;

    Stream(RoutingContext ctx, String group, String member, int maxInFlight, int maxBytes, long maxEvents,
           StreamSessions.Session session) {
      this.eventsLeft = maxEvents;
      this.ctx = ctx;
      this.group = group;
      this.member = member;
      this.maxInFlight = maxInFlight;
      this.maxBytes = maxBytes;
      this.session = session;
    }

    /** Sends again the leased deliveries sent after {@code lastEventId} (all of them if this node never sent them). */
    void resend(List<Delivery> leased, String lastEventId) {
      long after;
      try {
        after = Long.parseLong(lastEventId);
      } catch (NumberFormatException e) {
        after = -1;
      }
      for (Delivery d : leased) {
        long seq = session.sequenceOf(d.token());
        if ((seq < 0 || seq > after) && eventsLeft > 0 && !send(d, seq)) {
          return;  // the rest stay leased: the next reconnect sends them
        }
      }
    }

    void next() {
      if (closed) {
        return;
      }
      if (eventsLeft <= 0) {
        end();
        return;
      }
      HttpServerResponse response = ctx.response();
      if (response.writeQueueFull()) {
        response.drainHandler(v -> next());
        return;
      }
      broker.inFlight(group, member).onComplete(counted -> {
        if (closed) {
          return;
        }
        if (counted.failed()) {
          fail(counted.cause());
          return;
        }
        if (session.size() > 2 * maxInFlight) {  // forget what is settled, so the session stays small
          broker.leased(group, member).onComplete(leased -> {
            if (leased.succeeded()) {
              session.retain(leased.result().stream().map(Delivery::token).toList());
            }
            nextLater();
          });
          return;
        }
        int room = maxInFlight - counted.result();
        if (room <= 0) {
          vertx.setTimer(FULL_WAIT_MS, t -> next());
          return;
        }
        broker.fetch(group, member, (int) Math.min(room, eventsLeft), maxBytes, POLL_MS).onComplete(fetched -> {
          if (fetched.failed()) {
            if (!closed) {
              fail(fetched.cause());
            }
            return;
          }
          List<Delivery> deliveries = fetched.result();
          if (!closed && (response.closed() || response.ended())) {
            close();  // the connection went before its close handler ran: nobody can read these
          }
          if (closed) {
            groups.giveBack(group, deliveries, "the SSE stream closed before the deliveries were sent");
            return;
          }
          if (deliveries.isEmpty()) {
            response.write(": idle\n\n");
          }
          for (int i = 0; i < deliveries.size(); i++) {
            if (!send(deliveries.get(i), -1)) {
              groups.giveBack(group, deliveries.subList(i, deliveries.size()), "the node holds too many answers not "
                  + "yet written out");
              fail(new BrokerException(BrokerError.OVERLOADED, "the node holds too many answers not yet written out "
                  + "(http.maxHeldBytes): reconnect with Last-Event-ID after a second"));
              return;
            }
          }
          nextLater();
        });
      });
    }

    /**
     * {@link #next()} as a new task on this event loop: the broker's futures often complete at once, and calling
     * {@code next()} from their listeners nested one round in the other until the stack overflowed (a cut stream whose
     * close had not been seen yet, with a backlog to send, killed its event loop's thread that way).
     */
    private void nextLater() {
      vertx.runOnContext(v -> next());
    }

    /**
     * Writes one delivery as an event ({@code seq} -1: a new one, numbered now), its bytes counted in the node's held
     * bytes until written out; false when they do not fit (nothing written).
     */
    private boolean send(Delivery d, long seq) {
      Buffer data = GroupCodec.delivery(d);
      // Every event counts: a stream writes many small ones, and a reader that stops would pin them all.
      long held = Answers.hold(ctx, data.length() + 64, 0);
      if (held < 0) {
        return false;
      }
      long id = seq < 0 ? session.sent(d.token()) : seq;
      Buffer event = Buffer.buffer(data.length() + 64).appendString("id: " + id + "\nevent: delivery\ndata: ").appendBuffer(data)
          .appendString("\n\n");
      ctx.response().write(event).onComplete(written -> {
        Answers.release(ctx, held);
        if (written.failed()) {  // the connection went: nobody will settle it, so it comes back at once
          groups.giveBack(group, List.of(d), "the SSE event could not be written to its client");
        }
      });
      eventsLeft--;
      return true;
    }

    /** The stream cannot go on (the member is gone, storage failed): an {@code error} event with the problem, then end. */
    private void fail(Throwable cause) {
      BrokerException e = BrokerException.from(cause);
      JsonObject problem = new JsonObject().put("code", e.error().name()).put("status", Problems.kind(e.error()).status())
          .put("detail", e.error() == BrokerError.INTERNAL ? "internal error" : e.getMessage());
      ctx.response().write("event: error\ndata: " + problem.encode() + "\n\n");
      end();
    }

    void end() {
      if (!closed) {
        closed = true;
        open.remove(this);
        if (!ctx.response().ended() && !ctx.response().closed()) {
          ctx.response().end("event: end\ndata: {}\n\n");
        }
        session.closed();
      }
    }

    void close() {
      if (!closed) {
        closed = true;
        open.remove(this);
        session.closed();
      }
    }
  }
}
