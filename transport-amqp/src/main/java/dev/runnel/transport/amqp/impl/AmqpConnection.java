package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.Right;
import dev.runnel.transport.amqp.AmqpTransportOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.ProtonHelper;
import io.vertx.proton.ProtonLink;
import io.vertx.proton.ProtonReceiver;
import io.vertx.proton.ProtonSender;
import io.vertx.proton.ProtonSession;
import org.apache.qpid.proton.amqp.Symbol;
import org.apache.qpid.proton.amqp.messaging.Source;
import org.apache.qpid.proton.amqp.messaging.Target;
import org.apache.qpid.proton.amqp.transaction.Coordinator;
import org.apache.qpid.proton.amqp.transport.ConnectionError;
import org.apache.qpid.proton.amqp.transport.ErrorCondition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * One client connection: opens its sessions, accepts or refuses its links (DESIGN.md section 7's refusal pattern:
 * attach with a null terminus, then detach with {@code closed=true} and the condition; the connection lives on), and
 * ends them. Everything runs on the connection's context.
 */
final class AmqpConnection {

  static final Symbol ANONYMOUS_RELAY = Symbol.valueOf("ANONYMOUS-RELAY");
  /** Qpid JMS needs it offered for shared subscriptions (a JMS shared durable subscription S is group S). */
  static final Symbol SHARED_SUBS = Symbol.valueOf("SHARED-SUBS");
  static final Symbol SHARED = Symbol.valueOf("shared");
  static final Symbol PARTITIONED = Symbol.valueOf("partitioned");
  static final Symbol LATEST = Symbol.valueOf("latest");
  private static final String KEY_ATTACHMENT = "runnel.apiKey";
  /** proton-j's default largest frame, which the session's incoming window is counted in. */
  private static final int FRAME_BYTES = 32 * 1024;
  private static final Logger LOG = LoggerFactory.getLogger(AmqpConnection.class);

  private final Vertx vertx;
  private final ProtonConnection connection;
  private final Broker broker;
  private final AmqpTransportOptions options;
  private final Map<ProtonLink<?>, ProducerLink> producers = new IdentityHashMap<>();
  private final Map<ProtonLink<?>, ConsumerLink> consumers = new IdentityHashMap<>();
  private final Runnable onEnd;
  private boolean ended;

  AmqpConnection(Vertx vertx, ProtonConnection connection, Broker broker, AmqpTransportOptions options, Runnable onEnd) {
    this.vertx = vertx;
    this.connection = connection;
    // Created on the connection's context: the broker's answers come back to it (see OnContext).
    this.broker = OnContext.broker(broker, java.util.Objects.requireNonNull(Vertx.currentContext(),
        "an AMQP connection is made on its context"));
    this.options = options;
    this.onEnd = onEnd;
  }

  static void apiKey(ProtonConnection connection, ApiKey key) {
    connection.attachments().set(KEY_ATTACHMENT, ApiKey.class, key);
  }

  private ApiKey key() {
    ApiKey key = connection.attachments().get(KEY_ATTACHMENT, ApiKey.class);
    return key != null ? key : ApiKey.ANONYMOUS;
  }

  void start() {
    connection.openHandler(ar -> {
      if (ar.succeeded()) {
        connection.setContainer(options.getContainerId());
        connection.setOfferedCapabilities(new Symbol[]{ANONYMOUS_RELAY, SHARED_SUBS});
        connection.open();
      }
    });
    connection.closeHandler(ar -> {
      end();
      connection.close();
      connection.disconnect();
    });
    connection.disconnectHandler(c -> {
      end();
      c.disconnect();
    });
    connection.sessionOpenHandler(this::onSession);
    connection.receiverOpenHandler(this::onProducer);
    connection.senderOpenHandler(this::onConsumer);
  }

  private void onSession(ProtonSession session) {
    // The incoming window, in frames, is capacity / frame size. It must take every transfer the session's links have
    // credit for: with 4 MiB (128 frames) a client's 1,000 granted transfers queued behind it, and proton-j clients
    // walk that queue on every flush (measured: 11,700 against 75,000 records/s into the broker directly). What is
    // read stays bounded by the links' credit, which each link tops up only as commits complete.
    session.setIncomingCapacity((int) Math.min(Integer.MAX_VALUE, 4L * options.getLinkCredit() * FRAME_BYTES));
    session.closeHandler(ar -> {
      linksOf(session).forEach(this::linkGone);
      session.close();
      session.free();
    });
    session.open();
  }

  private List<ProtonLink<?>> linksOf(ProtonSession session) {
    List<ProtonLink<?>> links = new ArrayList<>();
    for (ProtonLink<?> l : producers.keySet()) {
      if (l.getSession() == session) {
        links.add(l);
      }
    }
    for (ProtonLink<?> l : consumers.keySet()) {
      if (l.getSession() == session) {
        links.add(l);
      }
    }
    return links;
  }

  // ---- producer links (our receivers) -------------------------------------------------------------------------

  private void onProducer(ProtonReceiver receiver) {
    if (ended) {
      refuse(receiver, ProtonHelper.condition(ConnectionError.CONNECTION_FORCED, "the node is stopping"));
      return;
    }
    org.apache.qpid.proton.amqp.transport.Target remote = receiver.getRemoteTarget();
    if (remote instanceof Coordinator) {
      refuse(receiver, Conditions.notImplemented("transactions are not implemented: produce without a transaction"));
      return;
    }
    Target target = (Target) remote;
    if (target == null) {
      refuse(receiver, Conditions.invalidField("a producer link needs a target: topics/<topic>, or an anonymous "
          + "target whose messages name their topic in 'to'"));
      return;
    }
    if (target.getDynamic()) {
      refuse(receiver, Conditions.notImplemented("dynamic nodes are not implemented: send to topics/<topic>"));
      return;
    }
    if (target.getAddress() == null) {
      open(receiver, new ProducerLink(receiver, broker, key(), null, options));  // the anonymous relay
      return;
    }
    Address address;
    try {
      address = Address.parse(target.getAddress());
      if (address.group() != null) {
        throw new IllegalArgumentException("produce to topics/<topic>, not to a group: " + target.getAddress());
      }
    } catch (IllegalArgumentException e) {
      refuse(receiver, Conditions.invalidField(e.getMessage()));
      return;
    }
    ApiKey key = key();
    if (!key.may(Right.PRODUCE, address.topic())) {
      refuse(receiver, Conditions.unauthorized("API key '" + key.name() + "' may not produce to topic "
          + address.topic()));
      return;
    }
    broker.describeTopic(address.topic()).onComplete(ar -> {
      if (ar.failed()) {
        refuse(receiver, Conditions.of(ar.cause()));
      } else if (ended) {
        refuse(receiver, ProtonHelper.condition(ConnectionError.CONNECTION_FORCED, "the node is stopping"));
      } else {
        open(receiver, new ProducerLink(receiver, broker, key, address.topic(), options));
      }
    });
  }

  private void open(ProtonReceiver receiver, ProducerLink link) {
    producers.put(receiver, link);
    endsWithRemote(receiver);
    link.open();
  }

  // ---- consumer links (our senders) ---------------------------------------------------------------------------

  private void onConsumer(ProtonSender sender) {
    if (ended) {
      refuse(sender, ProtonHelper.condition(ConnectionError.CONNECTION_FORCED, "the node is stopping"));
      return;
    }
    Source source = (Source) sender.getRemoteSource();
    if (source == null) {
      refuse(sender, Conditions.invalidField("a consumer link needs a source: topics/<topic>/groups/<group>"));
      return;
    }
    if (source.getDynamic()) {
      refuse(sender, Conditions.notImplemented("dynamic nodes are not implemented: consume from "
          + "topics/<topic>/groups/<group>"));
      return;
    }
    if (source.getFilter() != null && !source.getFilter().isEmpty()) {
      refuse(sender, Conditions.notImplemented("filters and selectors are not implemented (asked: "
          + source.getFilter().keySet() + ")"));
      return;
    }
    List<Symbol> capabilities = source.getCapabilities() == null ? List.of() : Arrays.asList(source.getCapabilities());
    Address address;
    try {
      address = Address.parse(source.getAddress());
    } catch (IllegalArgumentException e) {
      refuse(sender, Conditions.invalidField(e.getMessage()));
      return;
    }
    String group = address.group();
    if (group == null && capabilities.contains(SHARED) && sender.getName() != null) {
      // A JMS shared subscription S on topics/<t> attaches as "S", "S|global", "S|2"...: the group is S.
      int bar = sender.getName().indexOf('|');
      group = bar < 0 ? sender.getName() : sender.getName().substring(0, bar);
    }
    if (group == null || group.isEmpty()) {
      refuse(sender, Conditions.invalidField("consume from topics/" + address.topic() + "/groups/<group>"));
      return;
    }
    ApiKey key = key();
    if (!key.may(Right.CONSUME, address.topic())) {
      refuse(sender, Conditions.unauthorized("API key '" + key.name() + "' may not consume topic " + address.topic()));
      return;
    }
    GroupMode mode = capabilities.contains(PARTITIONED) ? GroupMode.PARTITIONED : null;
    ConsumerLink link = new ConsumerLink(vertx, sender, broker, address.topic(), group, options);
    link.join(mode, capabilities.contains(LATEST)).onComplete(ar -> {
      if (ar.failed()) {
        refuse(sender, Conditions.of(ar.cause()));
        return;
      }
      if (ended || sender.getSession() == null) {
        link.gone();
        refuse(sender, ProtonHelper.condition(ConnectionError.CONNECTION_FORCED, "the node is stopping"));
        return;
      }
      consumers.put(sender, link);
      endsWithRemote(sender);
      Symbol[] desired = sender.getRemoteDesiredCapabilities();
      boolean sharedAsked = desired != null && Arrays.asList(desired).contains(SHARED_SUBS);
      link.open(sharedAsked ? new Symbol[]{SHARED_SUBS} : new Symbol[0]);
    });
  }

  // ---- link ends ------------------------------------------------------------------------------------------------

  /** A remote detach is answered by a detach, a close by a close (DESIGN.md section 7). */
  private void endsWithRemote(ProtonLink<?> link) {
    link.closeHandler(ar -> {
      linkGone(link);
      link.close();
      link.free();
    });
    link.detachHandler(ar -> {
      linkGone(link);
      link.detach();
      link.free();
    });
  }

  private void linkGone(ProtonLink<?> link) {
    ProducerLink p = producers.remove(link);
    if (p != null) {
      p.gone();
    }
    ConsumerLink c = consumers.remove(link);
    if (c != null) {
      c.gone();
    }
  }

  /** Refuses a link: attach with a null terminus, then detach closed=true with the condition (never a bare detach:
   *  Qpid JMS waits for a closing one and would hang). */
  static void refuse(ProtonLink<?> link, ErrorCondition condition) {
    if (link instanceof ProtonReceiver) {
      link.setTarget(null);
      link.setSource(link.getRemoteSource());
    } else {
      link.setSource(null);
      link.setTarget(link.getRemoteTarget());
    }
    link.setCondition(condition);
    link.closeHandler(ar -> link.free());
    link.detachHandler(ar -> link.free());
    link.close();
  }

  /** The connection went: every link ends as if detached. */
  private void end() {
    if (ended) {
      return;
    }
    ended = true;
    new ArrayList<>(producers.keySet()).forEach(this::linkGone);
    new ArrayList<>(consumers.keySet()).forEach(this::linkGone);
    onEnd.run();
  }

  /**
   * The node stops (DESIGN.md section 7): producer links stop granting credit and settle every transfer received by
   * its commit's outcome; consumer deliveries are released with no attempt counted; then the connection closes with
   * {@code amqp:connection:forced}. Runs on the connection's context.
   */
  Future<Void> stop() {
    if (ended) {
      return Future.succeededFuture();
    }
    List<Future<Void>> steps = new ArrayList<>();
    producers.values().forEach(p -> steps.add(p.stop()));
    consumers.values().forEach(c -> steps.add(c.stop()));
    consumers.clear();
    long grace = Math.max(1, options.getShutdownGraceMs());
    return Future.join(steps).timeout(grace, java.util.concurrent.TimeUnit.MILLISECONDS)
        .transform(ar -> {
          if (ar.failed()) {
            LOG.warn("AMQP connection {} did not settle everything within {} ms", connection.getRemoteContainer(), grace);
          }
          end();
          connection.setCondition(ProtonHelper.condition(ConnectionError.CONNECTION_FORCED, "the node is stopping"));
          connection.close();
          connection.disconnect();
          return Future.<Void>succeededFuture();
        });
  }
}
