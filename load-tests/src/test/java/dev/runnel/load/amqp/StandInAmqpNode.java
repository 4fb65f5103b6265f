package dev.runnel.load.amqp;

import io.vertx.core.Vertx;
import io.vertx.proton.ProtonDelivery;
import io.vertx.proton.ProtonReceiver;
import io.vertx.proton.ProtonSender;
import io.vertx.proton.ProtonServer;
import io.vertx.proton.sasl.ProtonSaslAuthenticator;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Source;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.apache.qpid.proton.engine.Sasl;
import org.apache.qpid.proton.message.Message;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;

/**
 * A stand-in for a node's AMQP listener, written for the tests from the contract (DESIGN.md section 7), not from the
 * node: producer links get {@code credit}, and the messages they carry are settled every few milliseconds, all at once
 * (like a commit), with the outcome {@code outcomes} gives the n-th message received, each settlement topping the credit
 * up by one; consumer links get {@code deliveries} sent as the credit allows. It records what it saw.
 */
final class StandInAmqpNode implements AutoCloseable {

  final Vertx vertx = Vertx.vertx();
  final ProtonServer server;
  final List<Message> messages = new CopyOnWriteArrayList<>();
  final List<String> producerTargets = new CopyOnWriteArrayList<>();
  final List<String> consumerSources = new CopyOnWriteArrayList<>();
  final List<List<Symbol>> consumerCapabilities = new CopyOnWriteArrayList<>();
  final List<DeliveryState> consumerOutcomes = new CopyOnWriteArrayList<>();
  final List<String> users = new CopyOnWriteArrayList<>();
  final AtomicInteger consumerLinksClosed = new AtomicInteger();
  final AtomicInteger maxUnsettled = new AtomicInteger();
  final AtomicInteger connections = new AtomicInteger();
  volatile int credit = 1000;
  /** Whether each settlement tops the producer link's credit up by one. */
  volatile boolean topUp = true;
  volatile IntFunction<DeliveryState> outcomes = n -> Accepted.getInstance();
  volatile List<Message> deliveries = List.of();

  /** ANONYMOUS only when {@code user} is null, else PLAIN only, checked against user and password. */
  StandInAmqpNode(String user, String password) throws Exception {
    server = ProtonServer.create(vertx);
    server.saslAuthenticatorFactory(() -> new Plain(user, password));
    server.connectHandler(c -> {
      connections.incrementAndGet();
      c.openHandler(o -> c.open());
      c.closeHandler(x -> {
        c.close();
        c.disconnect();
      });
      c.sessionOpenHandler(s -> s.open());
      c.receiverOpenHandler(this::producerLink);
      c.senderOpenHandler(this::consumerLink);
    });
    java.util.concurrent.CompletableFuture<Void> listening = new java.util.concurrent.CompletableFuture<>();
    server.listen(0, "127.0.0.1", ar -> {
      if (ar.succeeded()) {
        listening.complete(null);
      } else {
        listening.completeExceptionally(ar.cause());
      }
    });
    listening.get(10, TimeUnit.SECONDS);
  }

  int port() {
    return server.actualPort();
  }

  String url() {
    return "amqp://127.0.0.1:" + port();
  }

  private void producerLink(ProtonReceiver r) {
    producerTargets.add(r.getRemoteTarget().getAddress());
    r.setTarget(r.getRemoteTarget());
    r.setAutoAccept(false);
    r.setPrefetch(0);
    List<ProtonDelivery> held = new ArrayList<>();
    AtomicInteger n = new AtomicInteger();
    r.handler((d, m) -> {
      messages.add(m);
      held.add(d);
      maxUnsettled.accumulateAndGet(held.size(), Math::max);
      DeliveryState outcome = outcomes.apply(n.getAndIncrement());
      d.attachments().set("outcome", DeliveryState.class, outcome);
    });
    long timer = vertx.setPeriodic(3, t -> {
      if (held.isEmpty() || !r.isOpen()) {
        return;
      }
      for (ProtonDelivery d : held) {
        d.disposition(d.attachments().get("outcome", DeliveryState.class), true);
      }
      int settled = held.size();
      held.clear();
      if (topUp) {
        r.flow(settled);
      }
    });
    r.closeHandler(x -> {
      vertx.cancelTimer(timer);
      r.close();
    });
    r.open();
    r.flow(credit);
  }

  private void consumerLink(ProtonSender s) {
    Source source = (Source) s.getRemoteSource();
    consumerSources.add(source.getAddress());
    consumerCapabilities.add(source.getCapabilities() == null ? List.of() : List.of(source.getCapabilities()));
    s.setSource(source);
    s.setAutoSettle(true);
    List<Message> toSend = new ArrayList<>(deliveries);
    AtomicInteger next = new AtomicInteger();
    s.sendQueueDrainHandler(x -> {
      while (!s.sendQueueFull() && next.get() < toSend.size()) {
        s.send(toSend.get(next.getAndIncrement()), d -> {
          if (d.remotelySettled()) {
            consumerOutcomes.add(d.getRemoteState());
          }
        });
      }
    });
    s.closeHandler(x -> {
      consumerLinksClosed.incrementAndGet();
      s.close();
    });
    s.detachHandler(x -> {
      consumerLinksClosed.incrementAndGet();
      s.detach();
    });
    s.open();
  }

  List<String> users() {
    return Collections.unmodifiableList(users);
  }

  @Override
  public void close() throws Exception {
    java.util.concurrent.CompletableFuture<Void> closed = new java.util.concurrent.CompletableFuture<>();
    server.close(ar -> closed.complete(null));
    closed.get(10, TimeUnit.SECONDS);
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  /** SASL as the node offers it: PLAIN alone when there are credentials, else ANONYMOUS alone. */
  private final class Plain implements ProtonSaslAuthenticator {
    final String user;
    final String password;
    Sasl sasl;
    boolean succeeded;

    Plain(String user, String password) {
      this.user = user;
      this.password = password;
    }

    @Override
    public void init(io.vertx.core.net.NetSocket socket, io.vertx.proton.ProtonConnection connection,
                     org.apache.qpid.proton.engine.Transport transport) {
      sasl = transport.sasl();
      sasl.server();
      sasl.allowSkip(false);
      sasl.setMechanisms(user == null ? "ANONYMOUS" : "PLAIN");
    }

    @Override
    public void process(io.vertx.core.Handler<Boolean> done) {
      String[] mechanisms = sasl.getRemoteMechanisms();
      if (mechanisms.length == 0) {
        done.handle(false);
        return;
      }
      if (user == null) {
        succeeded = mechanisms[0].equals("ANONYMOUS");
        users.add("(anonymous)");
      } else if (mechanisms[0].equals("PLAIN")) {
        byte[] response = new byte[sasl.pending()];
        sasl.recv(response, 0, response.length);
        String[] parts = new String(response, StandardCharsets.UTF_8).split("\0", -1);
        users.add(parts.length == 3 ? parts[1] : "?");
        succeeded = parts.length == 3 && parts[1].equals(user) && parts[2].equals(password);
      }
      sasl.done(succeeded ? Sasl.SaslOutcome.PN_SASL_OK : Sasl.SaslOutcome.PN_SASL_AUTH);
      done.handle(true);
    }

    @Override
    public boolean succeeded() {
      return succeeded;
    }
  }
}
