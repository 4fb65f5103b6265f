package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.Right;
import dev.runnel.transport.amqp.AmqpTransportOptions;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.proton.ProtonDelivery;
import io.vertx.proton.ProtonHelper;
import io.vertx.proton.ProtonReceiver;
import org.apache.qpid.proton.amqp.UnsignedLong;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Rejected;
import org.apache.qpid.proton.amqp.messaging.Released;
import org.apache.qpid.proton.amqp.transport.AmqpError;
import org.apache.qpid.proton.amqp.transport.ErrorCondition;
import org.apache.qpid.proton.message.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A client's producer link (our receiver): each transfer is stored and then settled by its commit's outcome —
 * {@code accepted} only after the commit, {@code rejected} with a precise condition for bad input, {@code released}
 * when the broker is overloaded or storage is down (nothing stored). Prefetch is 0 and credit is topped up as
 * transfers complete, so credit plus transfers in flight never exceed the link window. Runs on its connection's
 * context; the broker's futures complete there.
 */
final class ProducerLink {

  private record Pending(ProtonDelivery delivery, ProduceRecord record) {
  }

  private static final Logger LOG = LoggerFactory.getLogger(ProducerLink.class);

  private final ProtonReceiver receiver;
  private final Broker broker;
  private final ApiKey key;
  /** The link's topic; null for the anonymous relay (each message's {@code to} names it). */
  private final String topic;
  private final int window;
  private final Context context;
  /** Transfers received this event-loop turn, by topic, not yet given to the broker. */
  private Map<String, List<Pending>> batches = new LinkedHashMap<>();
  private boolean flushScheduled;
  private boolean topUpScheduled;
  private int inFlight;
  private boolean stopping;
  private boolean gone;
  private Promise<Void> idle;

  ProducerLink(ProtonReceiver receiver, Broker broker, ApiKey key, String topic, AmqpTransportOptions options) {
    this.receiver = receiver;
    this.broker = broker;
    this.key = key;
    this.topic = topic;
    this.window = options.getLinkCredit();
    this.context = Vertx.currentContext();
    receiver.setTarget(receiver.getRemoteTarget());
    receiver.setSource(receiver.getRemoteSource());
    receiver.setQoS(receiver.getRemoteQoS());
    receiver.setPrefetch(0);
    receiver.setAutoAccept(false);
    receiver.setMaxMessageSize(UnsignedLong.valueOf(options.getMaxMessageBytes()));
    receiver.handler(this::onMessage);
  }

  void open() {
    receiver.open();
    topUp();
  }

  private void onMessage(ProtonDelivery delivery, Message message) {
    String to = topic;
    if (to == null) {
      try {
        Address address = Address.parse(message.getAddress());
        if (address.group() != null) {
          throw new IllegalArgumentException("a message goes to topics/<topic>, not to a group: " + message.getAddress());
        }
        to = address.topic();
      } catch (IllegalArgumentException e) {
        settle(delivery, rejected(Conditions.invalidField(e.getMessage())));
        return;
      }
    }
    if (!key.may(Right.PRODUCE, to)) {
      settle(delivery, rejected(Conditions.unauthorized("API key '" + key.name() + "' may not produce to topic " + to)));
      return;
    }
    ProduceRecord record;
    try {
      record = MessageCodec.record(message);
    } catch (RuntimeException e) {
      LOG.debug("a message to {} cannot be stored", to, e);
      settle(delivery, rejected(ProtonHelper.condition(AmqpError.DECODE_ERROR, "cannot store this message: " + e.getMessage())));
      return;
    }
    if (delivery.remotelySettled()) {
      delivery.settle();  // pre-settled: at-most-once, no outcome can reach the client
    }
    inFlight++;
    List<Pending> batch = batches.computeIfAbsent(to, k -> new ArrayList<>());
    batch.add(new Pending(delivery, record));
    if (!flushScheduled) {
      flushScheduled = true;
      context.runOnContext(v -> flush());
    }
  }

  /** The transfers of one event-loop turn go to the broker as one produce per topic. */
  private void flush() {
    flushScheduled = false;
    Map<String, List<Pending>> due = batches;
    batches = new LinkedHashMap<>();
    due.forEach((t, pending) -> produce(t, pending, true));
  }

  private void produce(String t, List<Pending> pending, boolean together) {
    List<ProduceRecord> records = new ArrayList<>(pending.size());
    for (Pending p : pending) {
      records.add(p.record());
    }
    broker.produce(t, records).onComplete(ar -> {
      if (ar.failed() && together && pending.size() > 1 && isAboutOneRecord(ar.cause())) {
        // Validation is all-or-nothing per call: one bad record must not fail the others, so each goes alone.
        for (Pending p : pending) {
          produce(t, List.of(p), false);
        }
        return;
      }
      inFlight -= pending.size();
      for (Pending p : pending) {
        outcome(t, p.delivery(), ar.failed() ? ar.cause() : null);
      }
      flushOutcomes();  // the outcomes of one commit in one write
      checkIdle();
    });
  }

  private static boolean isAboutOneRecord(Throwable e) {
    return e instanceof BrokerException b && switch (b.error()) {
      case RECORD_TOO_LARGE, INVALID_RECORD, BAD_ENCODING, PARTITION_OUT_OF_RANGE -> true;
      default -> false;
    };
  }

  private void outcome(String t, ProtonDelivery delivery, Throwable failure) {
    if (failure == null) {
      settleUnflushed(delivery, Accepted.getInstance());
    } else if (failure instanceof BrokerException b && b.error() == BrokerError.OUTCOME_UNKNOWN) {
      // Whether it committed cannot be told: it stays unsettled and the link ends, as DESIGN.md section 7 says.
      LOG.warn("a produce to {} has an unknown outcome; closing the producer link {}", t, receiver.getName());
      end(ProtonHelper.condition(AmqpError.INTERNAL_ERROR, b.getMessage()));
    } else if (failure instanceof BrokerException b
        && (b.error() == BrokerError.OVERLOADED || b.error() == BrokerError.UNAVAILABLE)) {
      settleUnflushed(delivery, Released.getInstance());  // nothing stored: the client may send it again
    } else {
      if (!(failure instanceof BrokerException)) {
        LOG.error("a produce to {} failed", t, failure);
      }
      settleUnflushed(delivery, rejected(Conditions.of(failure)));
    }
  }

  private void settle(ProtonDelivery delivery, org.apache.qpid.proton.amqp.transport.DeliveryState state) {
    settleUnflushed(delivery, state);
    flushOutcomes();
  }

  private void flushOutcomes() {
    if (!gone) {
      Dispositions.flush(receiver);
    }
  }

  private static Rejected rejected(ErrorCondition condition) {
    Rejected r = new Rejected();
    r.setError(condition);
    return r;
  }

  /** Settles without writing: the caller flushes (one write for a commit's outcomes). */
  private void settleUnflushed(ProtonDelivery delivery, org.apache.qpid.proton.amqp.transport.DeliveryState state) {
    if (!gone && !delivery.isSettled()) {
      Dispositions.settle(delivery, state);
    }
    if (!topUpScheduled) {
      topUpScheduled = true;  // one flow frame per turn, not one per transfer
      context.runOnContext(v -> {
        topUpScheduled = false;
        topUp();
      });
    }
  }

  /** Credit back up to the window, counting what is in flight, never below zero (Artemis's runaway-credit lesson). */
  private void topUp() {
    if (stopping || gone || !receiver.isOpen()) {
      return;
    }
    int grant = window - receiver.getCredit() - inFlight;
    if (grant > 0) {
      receiver.flow(grant);
    }
  }

  private void end(ErrorCondition condition) {
    if (gone) {
      return;
    }
    gone = true;
    receiver.setCondition(condition);
    receiver.close();
    checkIdle();
  }

  /** The link or its connection went: outcomes still to come are not sent. */
  void gone() {
    gone = true;
    checkIdle();
  }

  /** Stops granting credit; completes once every transfer received has been settled by its commit's outcome. */
  Future<Void> stop() {
    stopping = true;
    if (idle == null) {
      idle = Promise.promise();
    }
    checkIdle();
    return idle.future();
  }

  private void checkIdle() {
    if (idle != null && inFlight == 0) {
      idle.tryComplete();
    }
  }
}
