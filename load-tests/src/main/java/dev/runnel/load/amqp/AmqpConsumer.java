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

/**
 * One member of a group: one connection, one receiver link from {@code topics/<topic>/groups/<group>} (with the
 * source capability {@code partitioned} for a partitioned group; without it the node makes the group shared). Credit
 * is granted by hand ({@link #CREDIT}, topped up once half of it is used; the node keeps at most its
 * {@code amqp.maxUnsettled} deliveries unsettled per link whatever the credit), and each delivery is settled
 * {@code accepted} once the sink took it. A link or connection that breaks is opened again on the next node after
 * 100 ms × the breaks in a row (at most 1 s); after 20 in a row with nothing received the consumer gives up (said in
 * the run's problems; what it did not receive counts as lost). Stop closes the link (the member leaves the group),
 * then the connection.
 */
final class AmqpConsumer implements ConsumerClient {

  static final Symbol PARTITIONED = Symbol.valueOf("partitioned");
  /** Credit the link is given; topped up to it when half is used. */
  static final int CREDIT = 1000;
  static final int MAX_BREAKS = 20;

  private final AmqpDriver driver;
  private final String address;
  private final GroupMode mode;
  private final RecordSink sink;
  private final Context context;
  private final Promise<Void> stopped = Promise.promise();
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

  @Override
  public void start() {
    context.runOnContext(v -> open());
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
      if (mode == GroupMode.PARTITIONED) {
        ((Source) r.getSource()).setCapabilities(PARTITIONED);
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
    driver.counts().firstConsumerFailure.compareAndSet(null, why);
    if (++breaks > MAX_BREAKS) {
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
        if (breaks > MAX_BREAKS) {
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
