package dev.runnel.load.amqp;

import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import io.vertx.core.Context;
import io.vertx.core.Promise;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.ProtonDelivery;
import io.vertx.proton.ProtonQoS;
import io.vertx.proton.ProtonSender;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Modified;
import org.apache.qpid.proton.amqp.messaging.Rejected;
import org.apache.qpid.proton.amqp.messaging.Released;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.apache.qpid.proton.amqp.transport.ErrorCondition;
import org.apache.qpid.proton.message.Message;

import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One producer: one connection, one sender link to {@code topics/<topic>}, messages sent unsettled. A send's
 * messages join the link's {@link SendWindow}; they go while fewer than {@code --amqp-window} are unsettled and the
 * node has credit left (it grants the link window and tops it up per commit), and the send completes once the node
 * settled every one of them {@code accepted}. The outcomes: {@code rejected} fails the send with the node's error
 * condition; {@code released} (and {@code modified}, which the node does not send producers) sends the message
 * again after 100 ms × the attempt, up to {@link #ATTEMPTS} attempts, then fails the send. A lost connection or link
 * fails the sends whose messages were unsettled on it (stored or not, nobody can say), the producer moves to the
 * next node, and messages not yet sent go there. Everything but building the messages runs on the producer's own
 * context, where its connection lives.
 */
final class AmqpProducer implements ProducerClient {

  /** Attempts of one message the node keeps releasing. */
  static final int ATTEMPTS = 5;

  private final AmqpDriver driver;
  private final String address;
  private final Context context;
  private final SendWindow<Pending> window;
  private int node;
  private ProtonConnection connection;
  private ProtonSender sender;
  private boolean opening;
  private boolean ready;
  private boolean closed;

  AmqpProducer(AmqpDriver driver, String address, int node) {
    this.driver = driver;
    this.address = address;
    this.node = node;
    this.window = new SendWindow<>(driver.window());
    this.context = driver.vertx().getOrCreateContext();
  }

  @Override
  public CompletionStage<List<Ack>> send(List<OutgoingRecord> records) {
    List<Message> messages = new ArrayList<>(records.size());
    for (OutgoingRecord r : records) {
      messages.add(AmqpMessages.message(r, driver.jsonValues()));
    }
    Batch batch = new Batch(messages.size());
    context.runOnContext(v -> {
      for (Message m : messages) {
        window.add(new Pending(m, batch));
      }
      pump();
    });
    return batch.done.future().toCompletionStage();
  }

  /** Sends what the window and the credit allow; opens the link first when there is none. */
  private void pump() {
    if (closed) {
      fail(window.takeQueued(), new IllegalStateException("the producer is closed"));
      return;
    }
    if (sender == null) {
      if (window.queued() > 0) {
        open();
      }
      return;
    }
    if (!ready) {
      return;
    }
    Pending p;
    while ((p = window.next(sender.getRemoteCredit())) != null) {
      if (p.batch.failed) {  // another message of its send failed: the send has failed, this one stays unsent
        window.settled(p);
        continue;
      }
      Pending sent = p;
      p.delivery = sender.send(p.message, d -> outcome(sent, d));
    }
  }

  private void open() {
    if (opening) {
      return;
    }
    opening = true;
    int at = node;
    URI target = driver.nodes().get(at);
    driver.connect(at).onComplete(ar -> {
      if (ar.failed()) {
        opening = false;
        moveFrom(at);
        fail(window.takeQueued(), ar.cause());
        return;
      }
      ProtonConnection c = ar.result();
      connection = c;
      c.closeHandler(x -> lost(c, target + " closed the connection"
          + (x.failed() ? ": " + AmqpDriver.message(x.cause()) : ""), true));
      c.disconnectHandler(x -> lost(c, "the connection to " + target + " was lost", true));
      ProtonSender s = c.createSender(address);
      s.setQoS(ProtonQoS.AT_LEAST_ONCE);
      s.setAutoSettle(true);
      s.openHandler(o -> {
        if (sender != s) {
          return;
        }
        opening = false;
        if (o.failed()) {
          lost(c, target + " refused the link to " + address + ": " + AmqpDriver.message(o.cause()), false);
        } else if (s.getRemoteTarget() == null) {
          // Refused: the node attached with no target and closes the link with the reason next.
        } else {
          ready = true;
          pump();
        }
      });
      s.closeHandler(x -> lost(c, target + " closed the link to " + address + ": " + condition(s), false));
      s.detachHandler(x -> lost(c, target + " detached the link to " + address + ": " + condition(s), false));
      s.sendQueueDrainHandler(x -> pump());
      sender = s;
      s.open();
    });
  }

  private void outcome(Pending p, ProtonDelivery d) {
    DeliveryState state = d.getRemoteState();
    if (p.delivery != d || !(d.remotelySettled() || state instanceof Accepted || state instanceof Rejected
        || state instanceof Released || state instanceof Modified)) {
      return;  // not final yet, or a delivery of an earlier attempt
    }
    p.delivery = null;
    if (!window.settled(p)) {
      return;
    }
    if (state instanceof Accepted) {
      p.batch.accepted();
    } else if (state instanceof Rejected r) {
      p.batch.fail(new IllegalStateException(address + ": the node rejected a message: " + describe(r.getError())));
    } else if ((state instanceof Released || state instanceof Modified) && !p.batch.failed) {
      if (++p.attempts >= ATTEMPTS) {
        p.batch.fail(new IllegalStateException(address + ": the node released a message " + ATTEMPTS + " times"));
      } else {
        driver.counts().resent.incrementAndGet();
        driver.vertx().setTimer(100L * p.attempts, t -> {
          window.addFirst(p);
          pump();
        });
      }
    } else if (!p.batch.failed) {
      p.batch.fail(new IllegalStateException(address + ": the node settled a message with no outcome (" + state + ")"));
    }
    pump();
  }

  /**
   * The connection or link {@code c} carried is gone: the unsettled messages' sends fail (the node may have stored
   * them or not), what was not sent yet goes on a new link, on the next node when the connection broke.
   */
  private void lost(ProtonConnection c, String why, boolean connectionBroke) {
    if (connection != c) {
      return;
    }
    connection = null;
    sender = null;
    ready = false;
    opening = false;
    List<Pending> unsettled = window.takeUnsettled();
    if (!unsettled.isEmpty() || connectionBroke) {
      driver.counts().producerConnectionsLost.incrementAndGet();
    }
    IllegalStateException failure = new IllegalStateException(why);
    fail(unsettled, failure);
    c.disconnect();
    if (connectionBroke) {
      moveFrom(node);
      pump();  // what was not sent yet goes to the next node
    } else {
      fail(window.takeQueued(), failure);  // a link the node refused or closed: it would refuse the next one too
    }
  }

  private static void fail(List<Pending> pending, Throwable cause) {
    for (Pending p : pending) {
      p.delivery = null;
      p.batch.fail(cause);
    }
  }

  private void moveFrom(int at) {
    if (node == at) {
      node = (at + 1) % driver.nodes().size();
    }
  }

  private static String condition(ProtonSender s) {
    return describe(s.getRemoteCondition());
  }

  static String describe(ErrorCondition e) {
    if (e == null || e.getCondition() == null) {
      return "no error condition";
    }
    return e.getCondition() + (e.getDescription() == null ? "" : " (" + e.getDescription() + ")");
  }

  /** Closes the link and the connection once the harness is done with the producer (bounded by 5 s). */
  @Override
  public void close() {
    CountDownLatch done = new CountDownLatch(1);
    context.runOnContext(v -> {
      closed = true;
      fail(window.takeQueued(), new IllegalStateException("the producer is closed"));
      fail(window.takeUnsettled(), new IllegalStateException("the producer closed with the message unsettled"));
      ProtonConnection c = connection;
      connection = null;
      sender = null;
      if (c == null) {
        done.countDown();
        return;
      }
      c.closeHandler(x -> {
        c.disconnect();
        done.countDown();
      });
      c.disconnectHandler(x -> done.countDown());
      c.close();
      driver.vertx().setTimer(2_000, t -> {
        c.disconnect();
        done.countDown();
      });
    });
    try {
      done.await(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** The window's peak of unsettled messages (for tests). */
  int peakUnsettled() {
    return window.peak();
  }

  /** Messages waiting for the window or credit (for tests; read off the context, so only once it is quiet). */
  int queuedMessages() {
    return window.queued();
  }

  /** One message of a send, over its attempts. */
  private static final class Pending {
    final Message message;
    final Batch batch;
    int attempts;
    /** The delivery of its current attempt while unsettled, else null. */
    ProtonDelivery delivery;

    Pending(Message message, Batch batch) {
      this.message = message;
      this.batch = batch;
    }
  }

  /** One send's messages: done once all are accepted, failed at the first that fails. Used on the context only. */
  private static final class Batch {
    final Promise<List<Ack>> done = Promise.promise();
    final int size;
    int accepted;
    boolean failed;

    Batch(int size) {
      this.size = size;
    }

    void accepted() {
      if (!failed && ++accepted == size) {
        done.complete(Collections.nCopies(size, Ack.UNPLACED));
      }
    }

    void fail(Throwable cause) {
      if (!failed) {
        failed = true;
        done.fail(cause);
      }
    }
  }
}
