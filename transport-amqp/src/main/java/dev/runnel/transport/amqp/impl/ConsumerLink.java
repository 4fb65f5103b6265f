package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Outcomes;
import dev.runnel.transport.amqp.AmqpTransportOptions;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.proton.ProtonDelivery;
import io.vertx.proton.ProtonHelper;
import io.vertx.proton.ProtonQoS;
import io.vertx.proton.ProtonSender;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Modified;
import org.apache.qpid.proton.amqp.messaging.Rejected;
import org.apache.qpid.proton.amqp.messaging.Released;
import org.apache.qpid.proton.amqp.messaging.Source;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.apache.qpid.proton.amqp.transport.ErrorCondition;
import org.apache.qpid.proton.amqp.transport.LinkError;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A client's consumer link (our sender): one member of its group for as long as the link lives. Deliveries go out
 * while the client grants credit, never more than {@code maxUnsettled} at once; a disposition is the delivery's
 * outcome (DESIGN.md section 7's mapping); a drain is answered with what is eligible now. The link's end (detach,
 * session end, close, a dropped connection) leaves the group, which gives back what was in flight with no attempt
 * counted, up to {@code maxFreeReleases} times per record. Runs on its connection's context.
 */
final class ConsumerLink {

  private static final Logger LOG = LoggerFactory.getLogger(ConsumerLink.class);
  /** How long a fetch waits for records when the client has credit and nothing is eligible. */
  private static final long LONG_POLL_MS = 5_000;
  private static final int FETCH_MAX_BYTES = 4 * 1024 * 1024;

  /** A delivery the client has not settled yet. */
  private record Outstanding(String token, long leaseExpiresAt) {
  }

  private final Vertx vertx;
  /** The connection's context: this link's proton objects are touched only there. */
  private final Context context;
  private final ProtonSender sender;
  private final Broker broker;
  private final String topic;
  private final String group;
  private final AmqpTransportOptions options;
  private final Map<ProtonDelivery, Outstanding> outstanding = new LinkedHashMap<>();
  private final boolean atMostOnce;
  /** The source's default outcome, for a client that settles without one. */
  private final DeliveryState defaultOutcome;
  private String memberId;
  private boolean fetching;
  /** The fetch in flight is a long poll (not a drain's zero-wait fetch). */
  private boolean longPolling;
  /** A drain's zero-wait fetch runs beside a long poll. */
  private boolean probing;
  private boolean closed;
  private long timer = -1;
  private List<String> acks = new ArrayList<>();
  private List<Outcomes.Nack> nacks = new ArrayList<>();
  private List<Outcomes.Reject> rejects = new ArrayList<>();
  private List<String> releases = new ArrayList<>();
  private boolean flushScheduled;
  private Future<?> lastFlush = Future.succeededFuture();

  ConsumerLink(Vertx vertx, ProtonSender sender, Broker broker, String topic, String group, AmqpTransportOptions options) {
    this.vertx = vertx;
    this.context = vertx.getOrCreateContext();
    this.sender = sender;
    this.broker = broker;
    this.topic = topic;
    this.group = group;
    this.options = options;
    Source source = (Source) sender.getRemoteSource();
    this.defaultOutcome = source.getDefaultOutcome() instanceof DeliveryState d ? d : Accepted.getInstance();
    this.atMostOnce = sender.getRemoteQoS() == ProtonQoS.AT_MOST_ONCE;
  }

  /** Joins the group; the link is opened by the caller once this succeeds. */
  Future<Void> join(GroupMode mode, boolean startAtLatest) {
    JoinRequest request = new JoinRequest(List.of(topic), mode, options.getSessionTimeoutMs(),
        options.getConsumerTimeoutMs(), startAtLatest, new JoinRequest.LinkBound(options.getMaxFreeReleases()));
    return broker.join(group, request).map(m -> {
      memberId = m.memberId();
      return null;
    });
  }

  void open(org.apache.qpid.proton.amqp.Symbol[] offered) {
    sender.setSource(sender.getRemoteSource());
    sender.setTarget(sender.getRemoteTarget());
    sender.setQoS(atMostOnce ? ProtonQoS.AT_MOST_ONCE : ProtonQoS.AT_LEAST_ONCE);
    if (offered.length > 0) {
      sender.setOfferedCapabilities(offered);
    }
    sender.setAutoDrained(false);
    sender.sendQueueDrainHandler(s -> onFlow());
    sender.open();
    long period = Math.max(10, Math.min(1_000, options.getSessionTimeoutMs() / 3));
    timer = vertx.setPeriodic(period, id -> onTimer());
  }

  /** The client granted credit or asked for a drain. */
  private void onFlow() {
    if (fetching && sender.getDrain()) {
      // Answering drained at once here gave an empty drain while records waited (AmqpFlowTest): the fetch in flight
      // may have found records whose answer is still on its way. A drain's own fetch answers the drain when it
      // completes; beside a long poll, a zero-wait probe answers it.
      if (longPolling && !probing) {
        probe();
      }
      return;
    }
    pump();
  }

  /**
   * The broker runs the long poll before the probe, so if the long poll found records its answer was queued on this
   * context before the probe's; but the probe's answer may come back inline, ahead of it. So the probe's records and
   * the drained answer go one turn later, behind the long poll's answer; what the long poll brings after the drain
   * finds no credit and goes back (no attempt counted).
   */
  private void probe() {
    int room = Math.min(sender.getCredit(), options.getMaxUnsettled() - outstanding.size());
    if (room <= 0) {
      sender.drained();
      return;
    }
    probing = true;
    broker.fetch(group, memberId, room, FETCH_MAX_BYTES, 0).onComplete(ar -> context.runOnContext(v -> {
      probing = false;
      if (ar.failed()) {
        onFetchFailure(ar.cause());
      } else {
        handOut(ar.result());
      }
      if (!closed && sender.getDrain()) {
        sender.drained();
      }
    }));
  }

  private void pump() {
    if (closed || fetching || memberId == null) {
      return;
    }
    int room = Math.min(sender.getCredit(), options.getMaxUnsettled() - outstanding.size());
    if (room <= 0) {
      if (sender.getDrain()) {
        sender.drained();
      }
      return;
    }
    fetching = true;
    boolean drain = sender.getDrain();
    longPolling = !drain;
    broker.fetch(group, memberId, room, FETCH_MAX_BYTES, drain ? 0 : LONG_POLL_MS).onComplete(ar -> {
      fetching = false;
      if (ar.failed()) {
        onFetchFailure(ar.cause());
        return;
      }
      List<Delivery> got = ar.result();
      handOut(got);
      if (!closed && sender.getDrain() && got.size() < room) {
        sender.drained();  // everything eligible now was sent
      }
      pump();
    });
  }

  /** Sends what a fetch brought while there is credit and room; gives back the rest (no attempt counted). */
  private void handOut(List<Delivery> got) {
    for (Delivery d : got) {
      if (closed || sender.getCredit() <= 0 || outstanding.size() >= options.getMaxUnsettled()) {
        releases.add(d.token());
        flushLater();
      } else {
        send(d);
      }
    }
  }

  private void onFetchFailure(Throwable cause) {
    if (closed) {
      return;
    }
    if (cause instanceof BrokerException b && b.error() == BrokerError.UNKNOWN_MEMBER) {
      // The group dropped this member (deleted by force, or its session lapsed): the link cannot go on as it.
      end(ProtonHelper.condition(LinkError.DETACH_FORCED, b.getMessage()));
      return;
    }
    LOG.warn("fetch for consumer link {} of group {} failed; trying again", sender.getName(), group, cause);
    vertx.setTimer(1_000, id -> pump());
  }

  private void send(Delivery d) {
    Outstanding o = new Outstanding(d.token(), d.leaseExpiresAt());
    ProtonDelivery pd = sender.send(MessageCodec.message(d), update -> onUpdate(update));
    if (atMostOnce) {
      acks.add(o.token());  // the client asked for pre-settled deliveries: handed out is done
      flushLater();
    } else {
      outstanding.put(pd, o);
    }
  }

  private void onUpdate(ProtonDelivery d) {
    DeliveryState state = d.getRemoteState();
    if (state == null && !d.remotelySettled()) {
      return;
    }
    Outstanding o = outstanding.remove(d);
    if (!d.isSettled()) {
      if (d.remotelySettled()) {
        d.settle();
      } else {
        // proton-j writes a sender's disposition frame only for a delivery with a local state, so a bare settle()
        // never reached a client that sent its outcome unsettled (AmqpDispositionTest): settle with its outcome.
        d.disposition(state, true);
      }
    }
    if (o == null) {
      return;  // already given back (consumer timeout, stop)
    }
    outcome(o.token(), state != null ? state : defaultOutcome);
    flushLater();
    pump();
  }

  /** DESIGN.md section 7's disposition mapping. */
  private void outcome(String token, DeliveryState state) {
    if (state instanceof Accepted) {
      acks.add(token);
    } else if (state instanceof Rejected r) {
      rejects.add(new Outcomes.Reject(token, describe("rejected", r.getError())));
    } else if (state instanceof Modified m) {
      if (Boolean.TRUE.equals(m.getUndeliverableHere())) {
        rejects.add(new Outcomes.Reject(token, "modified: undeliverable-here"));
      } else if (Boolean.TRUE.equals(m.getDeliveryFailed())) {
        nacks.add(new Outcomes.Nack(token, null, "modified: delivery-failed"));
      } else {
        releases.add(token);
      }
    } else if (state instanceof Released) {
      releases.add(token);
    } else {
      acks.add(token);  // any other terminal outcome: the client is done with it
    }
  }

  private static String describe(String outcome, ErrorCondition error) {
    if (error == null || error.getCondition() == null) {
      return outcome;
    }
    return outcome + ": " + error.getCondition() + (error.getDescription() == null ? "" : " " + error.getDescription());
  }

  /** Outcomes of one event-loop turn go to the broker together. */
  private void flushLater() {
    if (flushScheduled) {
      return;
    }
    flushScheduled = true;
    vertx.getOrCreateContext().runOnContext(v -> flush());
  }

  private Future<?> flush() {
    flushScheduled = false;
    if (acks.isEmpty() && nacks.isEmpty() && rejects.isEmpty() && releases.isEmpty()) {
      return lastFlush;
    }
    Outcomes outcomes = new Outcomes(acks, nacks, rejects, List.of(), releases);
    acks = new ArrayList<>();
    nacks = new ArrayList<>();
    rejects = new ArrayList<>();
    releases = new ArrayList<>();
    lastFlush = broker.settle(group, outcomes).onFailure(e -> LOG.warn("outcomes of consumer link {} of group {} "
        + "failed; their deliveries come again when their leases end", sender.getName(), group, e));
    return lastFlush;
  }

  /** Heartbeats the member and releases, toward the client, deliveries past the consumer timeout. */
  private void onTimer() {
    if (closed) {
      return;
    }
    broker.heartbeat(group, memberId).onFailure(this::onFetchFailure);
    long now = options.getClock().millis();
    boolean freed = false;
    for (var it = outstanding.entrySet().iterator(); it.hasNext(); ) {
      var e = it.next();
      if (e.getValue().leaseExpiresAt() <= now) {
        it.remove();
        // The broker ends the lease itself, counting an attempt (DESIGN.md section 7's consumer timeout).
        e.getKey().disposition(Released.getInstance(), true);
        freed = true;
      }
    }
    if (freed) {
      pump();
    }
  }

  private void end(ErrorCondition condition) {
    if (closed) {
      return;
    }
    sender.setCondition(condition);
    sender.close();
    gone();
  }

  /**
   * The link went (detach, session end, close, dropped connection): leaves the group once the outcomes already
   * received are applied, so what is still in flight goes back as a disconnect.
   */
  Future<Void> gone() {
    if (closed) {
      return Future.succeededFuture();
    }
    closed = true;
    vertx.cancelTimer(timer);
    outstanding.clear();
    return leave();
  }

  /**
   * The node stops: every outstanding delivery is released toward the client and given back with no attempt counted,
   * then the member leaves.
   */
  Future<Void> stop() {
    if (closed) {
      return Future.succeededFuture();
    }
    closed = true;
    vertx.cancelTimer(timer);
    for (var e : outstanding.entrySet()) {
      e.getKey().disposition(Released.getInstance(), true);
      releases.add(e.getValue().token());
    }
    outstanding.clear();
    return leave();
  }

  private Future<Void> leave() {
    String member = memberId;
    if (member == null) {
      return Future.succeededFuture();
    }
    return flush().transform(ignored -> broker.leave(group, member)).recover(e -> Future.succeededFuture());
  }
}
