package dev.runnel.load.amqp;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.RecordSink;
import io.vertx.core.Context;
import io.vertx.core.Promise;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.ProtonDelivery;
import io.vertx.proton.ProtonHelper;
import io.vertx.proton.ProtonQoS;
import io.vertx.proton.ProtonReceiver;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.Source;
import org.apache.qpid.proton.message.Message;

import java.net.URI;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * One member of a group: one connection, one receiver link from {@code topics/<topic>/groups/<group>}, with the
 * source capabilities {@code partitioned} for a partitioned group (without it a group the link creates is shared;
 * an existing group keeps its mode) and {@code latest} when a group the link creates is to start at the end of the
 * log ({@code startFrom: latest}; without it, at the log start). Credit
 * is granted by hand ({@link #CREDIT}, topped up once half of it is used; the node keeps at most its
 * {@code amqp.maxUnsettled} deliveries unsettled per link whatever the credit), and each delivery is settled
 * {@code accepted} once the sink took it. A link or connection that breaks is opened again on the next node after
 * 100 ms × the breaks in a row (at most 1 s); after 20 in a row with nothing received the consumer gives up (said in
 * the run's problems; what it did not receive counts as lost). {@link #start} returns once the node attached the
 * link (the member joined). Stop closes the link (the member leaves the group),
 * then the connection.
 */
final class AmqpConsumer implements ConsumerClient {

  static final Symbol PARTITIONED = Symbol.valueOf("partitioned");
  static final Symbol LATEST = Symbol.valueOf("latest");
  /** Credit the link is given; topped up to it when half is used. */
  static final int CREDIT = 1000;
  static final int MAX_BREAKS = 20;

  private final AmqpDriver driver;
  private final String address;
  private final GroupMode mode;
  private final RecordSink sink;
  private final Context context;
  private final Promise<Void> stopped = Promise.promise();
  private final Promise<Void> attached = Promise.promise();
  private int node;
  private ProtonConnection connection;
  private ProtonReceiver receiver;
  private int credit;
  private int breaks;
  private boolean stopping;

  AmqpConsumer(AmqpDriver driver, String address, GroupMode mode, RecordSink sink, int node) {
    this.driver = driver;
    this.address = address;
    this.mode = mode;
    this.sink = sink;
    this.node = node;
    this.context = driver.vertx().getOrCreateContext();
  }

  /**
   * Opens the link and returns once the node attached it: the node answers the attach only after the member joined,
   * so a group with {@code latest} starts before the producers send anything (as an HTTP member's start returns once
   * joined). Fails when no node attaches it: every node tried once, or 30 s.
   */
  @Override
  public void start() {
    context.runOnContext(v -> open());
    try {
      attached.future().await(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      stop();
      throw new IllegalStateException("the link from " + address + " was not attached: " + AmqpDriver.message(e), e);
    }
  }

  private void open() {
    if (stopping) {
      stopped.tryComplete();
      return;
    }
    int at = node;
    URI target = driver.nodes().get(at);
    driver.connect(at).onComplete(ar -> {
      if (ar.failed()) {
        broken(null, AmqpDriver.message(ar.cause()));
        return;
      }
      ProtonConnection c = ar.result();
      if (stopping) {
        c.close();
        c.disconnect();
        stopped.tryComplete();
        return;
      }
      connection = c;
      c.closeHandler(x -> broken(c, target + " closed the connection"
          + (x.failed() ? ": " + AmqpDriver.message(x.cause()) : "")));
      c.disconnectHandler(x -> broken(c, "the connection to " + target + " was lost"));
      ProtonReceiver r = c.createReceiver(address);
      java.util.List<Symbol> capabilities = new java.util.ArrayList<>(2);
      if (mode == GroupMode.PARTITIONED) {
        capabilities.add(PARTITIONED);
      }
      if (driver.startAtLatest() && !attached.future().isComplete()) {
        capabilities.add(LATEST);  // only the first attach may create the group; a link opened again continues it
      }
      if (!capabilities.isEmpty()) {
        ((Source) r.getSource()).setCapabilities(capabilities.toArray(new Symbol[0]));
      }
      r.setQoS(ProtonQoS.AT_LEAST_ONCE);
      r.setPrefetch(0);
      r.setAutoAccept(false);
      r.handler(this::delivered);
      r.openHandler(o -> {
        if (receiver != r) {
          return;
        }
        if (o.failed()) {
          broken(c, target + " refused the link from " + address + ": " + AmqpDriver.message(o.cause()));
        } else if (r.getRemoteSource() != null) {
          credit = CREDIT;
          r.flow(CREDIT);
          attached.tryComplete();
        }  // else refused: the node attached with no source and closes the link with the reason next
      });
      r.closeHandler(x -> broken(c, target + " closed the link from " + address + ": "
          + AmqpProducer.describe(r.getRemoteCondition())));
      r.detachHandler(x -> broken(c, target + " detached the link from " + address + ": "
          + AmqpProducer.describe(r.getRemoteCondition())));
      receiver = r;
      r.open();
    });
  }

  private void delivered(ProtonDelivery delivery, Message message) {
    long at = System.nanoTime();
    credit--;
    breaks = 0;
    AmqpMessages.Received r = AmqpMessages.read(message);
    sink.received(r.key(), r.value(), r.partition(), r.offset(), at);
    ProtonHelper.accepted(delivery, true);
    ProtonReceiver link = receiver;
    if (link != null && !stopping && credit <= CREDIT / 2 && link.isOpen()) {
      link.flow(CREDIT - credit);
      credit = CREDIT;
    }
  }

  /** The link or connection on {@code c} broke (c null: it never opened); opens again unless stopping. */
  private void broken(ProtonConnection c, String why) {
    if (c != null && connection != c) {
      return;
    }
    connection = null;
    receiver = null;
    if (c != null) {
      c.disconnect();
    }
    if (stopping) {
      stopped.tryComplete();
      return;
    }
    ++breaks;
    if (!attached.future().isComplete() && breaks >= driver.nodes().size()) {
      attached.tryFail(why);  // never attached: start() says why, and the run stops (exit 2)
      stopped.tryComplete();
      return;
    }
    driver.counts().firstConsumerFailure.compareAndSet(null, why);
    if (breaks > MAX_BREAKS) {
      driver.counts().consumersGaveUp.incrementAndGet();
      stopped.tryComplete();
      return;
    }
    driver.counts().consumerReconnects.incrementAndGet();
    node = (node + 1) % driver.nodes().size();
    driver.vertx().setTimer(Math.min(1_000, 100L * breaks), t -> open());
  }

  /** Closes the link (leaving the group), then the connection; completes when the node answered (at most 5 s). */
  @Override
  public CompletionStage<Void> stop() {
    context.runOnContext(v -> {
      if (stopping) {
        return;
      }
      stopping = true;
      ProtonConnection c = connection;
      ProtonReceiver r = receiver;
      if (c == null) {
        if (breaks > MAX_BREAKS || attached.future().failed()) {
          stopped.tryComplete();
        }
        return;  // opening: open() or broken() completes it
      }
      connection = null;
      receiver = null;
      driver.vertx().setTimer(5_000, t -> {
        c.disconnect();
        stopped.tryComplete();
      });
      Runnable closeConnection = () -> {
        c.closeHandler(x -> {
          c.disconnect();
          stopped.tryComplete();
        });
        c.close();
      };
      c.disconnectHandler(x -> stopped.tryComplete());
      if (r != null && r.isOpen()) {
        r.closeHandler(x -> closeConnection.run());
        r.detachHandler(x -> closeConnection.run());
        r.close();
      } else {
        closeConnection.run();
      }
    });
    return stopped.future().toCompletionStage();
  }
}
