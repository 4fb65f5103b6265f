package dev.runnel.transport.amqp;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.proton.ProtonClient;
import io.vertx.proton.ProtonClientOptions;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.ProtonDelivery;
import io.vertx.proton.ProtonLink;
import io.vertx.proton.ProtonReceiver;
import io.vertx.proton.ProtonSender;
import io.vertx.proton.ProtonSession;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Data;
import org.apache.qpid.proton.amqp.messaging.MessageAnnotations;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.apache.qpid.proton.amqp.transport.ErrorCondition;
import org.apache.qpid.proton.message.Message;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A vertx-proton client for the behaviour tests, with exact control of credit, settlement and dispositions. Every
 * proton call runs on the client's context (the test thread hands it over and waits, always bounded by
 * {@link #WAIT_MS}); what the server sends is recorded for the test thread to look at.
 */
final class ProtonTestClient implements AutoCloseable {

  /** The bound of every wait: a test fails rather than hangs. */
  static final long WAIT_MS = 10_000;
  static final Symbol SEQUENCE_NUMBER = Symbol.valueOf("x-opt-sequence-number");
  static final Symbol PARTITION_ID = Symbol.valueOf("x-opt-partition-id");
  static final Symbol PARTITION_KEY = Symbol.valueOf("x-opt-partition-key");

  final Context context;
  final ProtonConnection connection;
  private final CompletableFuture<Void> disconnected;

  private ProtonTestClient(Context context, ProtonConnection connection, CompletableFuture<Void> disconnected) {
    this.context = context;
    this.connection = connection;
    this.disconnected = disconnected;
  }

  static ProtonTestClient connect(Context context, int port) {
    return connect(context, port, null, null);
  }

  /** Connects with SASL PLAIN when a user is given, else ANONYMOUS; fails when the connection does not open. */
  static ProtonTestClient connect(Context context, int port, String user, String password) {
    CompletableFuture<ProtonConnection> opened = new CompletableFuture<>();
    CompletableFuture<Void> disconnected = new CompletableFuture<>();
    context.runOnContext(v -> {
      ProtonClientOptions options = new ProtonClientOptions().setHeartbeat(10_000).setConnectTimeout(5_000);
      options.addEnabledSaslMechanism(user != null ? "PLAIN" : "ANONYMOUS");
      ProtonClient client = ProtonClient.create(context.owner());
      io.vertx.core.Handler<io.vertx.core.AsyncResult<ProtonConnection>> onConnect = ar -> {
        if (ar.failed()) {
          opened.completeExceptionally(ar.cause());
          return;
        }
        ProtonConnection c = ar.result();
        c.openHandler(o -> {
          if (o.succeeded()) {
            opened.complete(c);
          } else {
            opened.completeExceptionally(o.cause());
          }
        });
        c.closeHandler(x -> {
          c.close();
          c.disconnect();
        });
        c.disconnectHandler(x -> {
          disconnected.complete(null);
          opened.completeExceptionally(new IllegalStateException("disconnected before the connection opened"));
        });
        c.open();
      };
      if (user != null) {
        client.connect(options, "127.0.0.1", port, user, password, onConnect);
      } else {
        client.connect(options, "127.0.0.1", port, onConnect);
      }
    });
    return new ProtonTestClient(context, await(opened, "the connection to open"), disconnected);
  }

  // ---- running on the client's context --------------------------------------------------------------------------

  /** Runs the action on the client's context (at once when already there) and waits for its result. */
  <T> T call(Supplier<T> action) {
    if (io.vertx.core.Vertx.currentContext() == context) {
      return action.get();
    }
    CompletableFuture<T> result = new CompletableFuture<>();
    context.runOnContext(v -> {
      try {
        result.complete(action.get());
      } catch (Throwable t) {
        result.completeExceptionally(t);
      }
    });
    return await(result, "a client action");
  }

  void run(Runnable action) {
    call(() -> {
      action.run();
      return null;
    });
  }

  static <T> T await(CompletableFuture<T> future, String what) {
    try {
      return future.get(WAIT_MS, TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("waited " + WAIT_MS + " ms for " + what);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new AssertionError("failed: " + what + ": " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted waiting for " + what);
    }
  }

  /** Polls until the condition holds, at most {@link #WAIT_MS}. A wait for a state, never an assertion on time. */
  static void eventually(String what, BooleanSupplier condition) {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("waited " + WAIT_MS + " ms for " + what);
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for " + what);
      }
    }
  }

  // ---- sessions and links ---------------------------------------------------------------------------------------

  ProtonSession session() {
    CompletableFuture<ProtonSession> opened = new CompletableFuture<>();
    run(() -> {
      ProtonSession s = connection.createSession();
      s.openHandler(ar -> opened.complete(s));
      s.closeHandler(ar -> {
        s.close();
        s.free();
      });
      s.open();
    });
    return await(opened, "a session to open");
  }

  /** A consumer link on its own session, attached (the server's attach seen); it may have been refused. */
  Receiver receiver(String address) {
    return receiver(session(), address, r -> { });
  }

  /** Opens a consumer link: {@code configure} may change the source before the attach goes. */
  Receiver receiver(ProtonSession session, String address, Consumer<ProtonReceiver> configure) {
    Receiver r = call(() -> {
      ProtonReceiver link = session.createReceiver(address);
      link.setPrefetch(0);
      link.setAutoAccept(false);
      configure.accept(link);
      Receiver w = new Receiver(this, link);
      link.handler((d, m) -> w.arrived(d, m));
      w.watch();
      link.open();
      return w;
    });
    await(r.attached, "the server's attach of consumer link " + address);
    return r;
  }

  /** A consumer link that must be accepted: the server's attach echoes a source and does not end it. */
  Receiver openReceiver(String address) {
    Receiver r = receiver(address);
    r.assertOpen();
    return r;
  }

  Sender sender(String address) {
    return sender(session(), address, s -> { });
  }

  Sender sender(ProtonSession session, String address, Consumer<ProtonSender> configure) {
    Sender s = call(() -> {
      ProtonSender link = session.createSender(address);
      configure.accept(link);
      Sender w = new Sender(this, link);
      link.sendQueueDrainHandler(x -> w.noteFlow());
      w.watch();
      link.open();
      return w;
    });
    await(s.attached, "the server's attach of producer link " + address);
    return s;
  }

  Sender openSender(String address) {
    Sender s = sender(address);
    s.assertOpen();
    return s;
  }

  /** Drops the TCP connection abruptly: no detach, end or close goes first. */
  void disconnect() {
    run(connection::disconnect);
    await(disconnected, "the connection to drop");
  }

  boolean isDisconnected() {
    return disconnected.isDone();
  }

  @Override
  public void close() {
    if (disconnected.isDone()) {
      return;
    }
    run(connection::close);
    try {
      disconnected.get(WAIT_MS, TimeUnit.MILLISECONDS);
    } catch (Exception e) {
      run(connection::disconnect);
    }
  }

  // ---- messages -------------------------------------------------------------------------------------------------

  /** A message with a Data body and, when {@code key} is not null, the partition-key annotation. */
  static Message message(String key, String body) {
    Message m = Message.Factory.create();
    m.setBody(new Data(new org.apache.qpid.proton.amqp.Binary(body.getBytes(StandardCharsets.UTF_8))));
    m.setContentType("text/plain");
    if (key != null) {
      m.setMessageAnnotations(new MessageAnnotations(Map.of(PARTITION_KEY, key)));
    }
    return m;
  }

  /** How a link ended from the server's side: a detach with {@code closed} true or false, and its condition. */
  record Ended(boolean closed, ErrorCondition condition) {
    String conditionName() {
      return condition == null || condition.getCondition() == null ? null : condition.getCondition().toString();
    }
  }

  /** What both kinds of link record: the server's attach (and whether its terminus was null) and its detach. */
  abstract static class Link<L extends ProtonLink<L>> {
    final ProtonTestClient client;
    final L link;
    final CompletableFuture<Void> attached = new CompletableFuture<>();
    final CompletableFuture<Ended> ended = new CompletableFuture<>();
    /** Whether the server's attach carried a null terminus (source for a consumer link, target for a producer). */
    volatile boolean nullTerminus;

    Link(ProtonTestClient client, L link) {
      this.client = client;
      this.link = link;
    }

    abstract boolean terminusIsNull();

    void watch() {
      link.openHandler(ar -> {
        nullTerminus = terminusIsNull();
        attached.complete(null);
      });
      link.closeHandler(ar -> {
        attached.complete(null);
        ended.complete(new Ended(true, link.getRemoteCondition()));
        link.close();
        link.free();
      });
      link.detachHandler(ar -> {
        attached.complete(null);
        ended.complete(new Ended(false, link.getRemoteCondition()));
        link.detach();
        link.free();
      });
    }

    void assertOpen() {
      if (nullTerminus) {
        throw new AssertionError("the server refused link " + link.getName() + ": "
            + (ended.isDone() ? ended.join() : "(no detach yet)"));
      }
      if (ended.isDone()) {
        throw new AssertionError("the server ended link " + link.getName() + ": " + ended.join());
      }
    }

    /** Waits for the server's detach of a link it refused. */
    Ended awaitEnded() {
      return await(ended, "the server to detach link " + link.getName());
    }

    /** Detaches the link (closed=false) and waits for the server's answer. */
    Ended detach() {
      client.run(link::detach);
      return awaitEnded();
    }

    /** Closes the link (detach closed=true) and waits for the server's answer. */
    Ended close() {
      client.run(link::close);
      return awaitEnded();
    }
  }

  static final class Receiver extends Link<ProtonReceiver> {
    private final BlockingQueue<Arrival> arrivals = new LinkedBlockingQueue<>();
    /** What arrived, in order: {@code "delivery <offset>"} and {@code "drained"}. */
    final List<String> events = Collections.synchronizedList(new ArrayList<>());
    final AtomicInteger received = new AtomicInteger();
    /** When set, runs on the client's context as each delivery arrives (before it is queued for {@link #next()}). */
    volatile Consumer<Arrival> onArrival;

    Receiver(ProtonTestClient client, ProtonReceiver link) {
      super(client, link);
    }

    @Override
    boolean terminusIsNull() {
      return link.getRemoteSource() == null;
    }

    private void arrived(ProtonDelivery d, Message m) {
      Arrival a = new Arrival(this, d, m);
      received.incrementAndGet();
      events.add("delivery " + a.offset());
      Consumer<Arrival> hook = onArrival;
      if (hook != null) {
        hook.accept(a);
      }
      arrivals.add(a);
    }

    void flow(int credit) {
      client.run(() -> link.flow(credit));
    }

    /** Grants credit and asks for a drain at once (what Qpid JMS's receiveNoWait does); completes when drained. */
    CompletableFuture<Void> flowAndDrain(int credit) {
      return flowAndDrain(credit, 0);
    }

    /**
     * {@link #flowAndDrain(int)} with the drain sent {@code gapNanos} after the credit (each goes out in its own
     * write): with a gap the server may read them apart, while its fetch for the credit is under way.
     */
    CompletableFuture<Void> flowAndDrain(int credit, long gapNanos) {
      CompletableFuture<Void> drained = new CompletableFuture<>();
      client.run(() -> {
        link.flow(credit);
        long start = System.nanoTime();
        while (System.nanoTime() - start < gapNanos) {
          Thread.onSpinWait();  // bounded by gapNanos (a test passes at most a fraction of a millisecond)
        }
        link.drain(WAIT_MS, ar -> {
          events.add("drained");
          if (ar.succeeded()) {
            drained.complete(null);
          } else {
            drained.completeExceptionally(ar.cause());
          }
        });
      });
      return drained;
    }

    /** The next delivery, waiting at most {@link #WAIT_MS}. */
    Arrival next() {
      try {
        Arrival a = arrivals.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        if (a == null) {
          throw new AssertionError("no delivery on " + link.getName() + " within " + WAIT_MS + " ms");
        }
        return a;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted");
      }
    }

    List<Arrival> next(int n) {
      List<Arrival> out = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        out.add(next());
      }
      return out;
    }

    /** Deliveries arrived and not yet taken with {@link #next()}. */
    List<Arrival> pending() {
      List<Arrival> out = new ArrayList<>();
      arrivals.drainTo(out);
      return out;
    }

    int credit() {
      return client.call(link::getCredit);
    }
  }

  /** A delivery the client received. */
  record Arrival(Receiver from, ProtonDelivery delivery, Message message) {
    long offset() {
      return (Long) annotation(SEQUENCE_NUMBER);
    }

    int partition() {
      return (Integer) annotation(PARTITION_ID);
    }

    Object key() {
      return annotation(PARTITION_KEY);
    }

    String body() {
      Data data = (Data) message.getBody();
      return new String(data.getValue().getArray(), data.getValue().getArrayOffset(), data.getValue().getLength(),
          StandardCharsets.UTF_8);
    }

    /** The header's delivery-count: the attempts that failed before this one. */
    long deliveryCount() {
      return message.getDeliveryCount();
    }

    private Object annotation(Symbol name) {
      MessageAnnotations a = message.getMessageAnnotations();
      return a == null ? null : a.getValue().get(name);
    }

    /** Sends the outcome: settled at once ({@code settleFirst}), or unsettled for the server to settle. */
    void settle(DeliveryState state, boolean settleFirst) {
      from.client.run(() -> delivery.disposition(state, settleFirst));
    }

    void accept() {
      settle(Accepted.getInstance(), true);
    }

    /** What the server last said of this delivery, and whether it settled it (read on the client's context). */
    DeliveryState remoteState() {
      return from.client.call(delivery::getRemoteState);
    }

    boolean remotelySettled() {
      return from.client.call(delivery::remotelySettled);
    }
  }

  static final class Sender extends Link<ProtonSender> {
    /**
     * Transfers sent and not yet settled by the server, as proton's state says; confined to the client's context.
     * (Counting outcome events instead would be wrong: proton applies a whole read of frames — dispositions and flows —
     * before it runs the handlers, so the credit seen in a handler may already include the flows of later outcomes.)
     */
    private final List<ProtonDelivery> unsettled = new ArrayList<>();
    /** The most credit plus unsettled transfers seen at any flow, send or outcome. */
    private final AtomicInteger maxCreditPlusUnsettled = new AtomicInteger();

    Sender(ProtonTestClient client, ProtonSender link) {
      super(client, link);
    }

    @Override
    boolean terminusIsNull() {
      return link.getRemoteTarget() == null;
    }

    /** Records credit + unsettled now (a test that replaces the send-queue drain handler calls it itself). */
    void noteFlow() {
      unsettled.removeIf(ProtonDelivery::remotelySettled);
      maxCreditPlusUnsettled.accumulateAndGet(link.getCredit() + unsettled.size(), Math::max);
    }

    int maxCreditPlusUnsettled() {
      return maxCreditPlusUnsettled.get();
    }

    int credit() {
      return client.call(link::getCredit);
    }

    /** Sends one message; the future completes with its outcome once the server settles it. */
    CompletableFuture<DeliveryState> send(Message m) {
      return send(m, d -> { });
    }

    /** {@link #send(Message)}, running {@code atOutcome} on the client's context the moment the outcome arrives. */
    CompletableFuture<DeliveryState> send(Message m, Consumer<ProtonDelivery> atOutcome) {
      CompletableFuture<DeliveryState> outcome = new CompletableFuture<>();
      client.run(() -> {
        ProtonDelivery sent = link.send(m, d -> {
          if (d.remotelySettled() && !outcome.isDone()) {
            try {
              atOutcome.accept(d);
              outcome.complete(d.getRemoteState());
            } catch (Throwable t) {
              outcome.completeExceptionally(t);
            }
            noteFlow();
          }
        });
        unsettled.add(sent);
        noteFlow();
      });
      return outcome;
    }

    DeliveryState sendAndAwait(Message m) {
      return await(send(m), "the outcome of a transfer on " + link.getName());
    }
  }
}
