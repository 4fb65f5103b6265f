package dev.runnel.load.amqp;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.Driver;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.ProducerClient;
import dev.runnel.load.driver.RecordSink;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.net.NetClient;
import io.vertx.proton.ProtonClient;
import io.vertx.proton.ProtonClientOptions;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.ProtonTransportOptions;
import io.vertx.proton.impl.ProtonConnectionImpl;
import io.vertx.proton.impl.ProtonSaslClientAuthenticatorImpl;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runnel over AMQP 1.0 (DESIGN.md section 7), on vertx-proton (connections made as its {@link ProtonClient} makes
 * them, with the socket's flushes coalesced): one Vert.x instance for the driver, one connection per producer and
 * per consumer, each on a context of its own (so on an event loop in turn).
 *
 * <ul>
 *   <li>Connections: SASL PLAIN with the API key's name and secret when there is one, else ANONYMOUS; the node sends
 *   the heartbeats its idle timeout asks for, and this side asks for one within {@link #IDLE_TIMEOUT_MS}.</li>
 *   <li>Producers ({@link AmqpProducer}): a sender link to {@code topics/<topic>}, messages sent unsettled, at most
 *   {@code window} unsettled per link and never past the node's credit; a send completes when the node settled all of
 *   its messages {@code accepted}. {@code accepted} names no partition or offset, so each ack is
 *   {@link dev.runnel.load.driver.Ack#UNPLACED} and the verifier places the record where the groups received it.</li>
 *   <li>Consumers ({@link AmqpConsumer}): a receiver link from {@code topics/<topic>/groups/<group>} (source
 *   capability {@code partitioned} for a partitioned group), credit granted by hand, each delivery settled
 *   {@code accepted} once the sink took it; the link's close leaves the group.</li>
 *   <li>The topic is prepared over the node's HTTP API ({@link AdminApi}); AMQP cannot create one.</li>
 * </ul>
 * With several nodes, each client starts on the next one in turn and moves to the next after a connection error (and
 * a consumer after its link or connection broke).
 */
public final class AmqpDriver implements Driver {

  /** The idle timeout this side asks the node to keep (heartbeats at least every half of it). */
  static final int IDLE_TIMEOUT_MS = 30_000;

  private final List<URI> nodes;
  private final AdminApi admin;
  private final String user;
  private final String password;
  private final boolean jsonValues;
  private final boolean startAtLatest;
  private final int window;
  private final Vertx vertx;
  private final io.vertx.core.http.HttpClientAgent http;
  private final AtomicInteger nextNode = new AtomicInteger();
  private final String container = "runnel-load-" + UUID.randomUUID();
  private final Counts counts = new Counts();

  /**
   * @param nodes the {@code amqp://host:port} nodes
   * @param adminNodes the {@code http://host:port} nodes that prepare the topic (see {@link #adminNodes})
   * @param apiKey {@code NAME:SECRET} (SASL PLAIN, and {@code Authorization: Bearer} for the HTTP API), or null
   * @param jsonValues the values are JSON documents ({@code application/json}), else bytes
   * @param startAtLatest a group a consumer's link creates starts at the end of the log (source capability
   *     {@code latest}), else at its start
   * @param window unsettled messages per producer link
   */
  public AmqpDriver(List<URI> nodes, List<URI> adminNodes, String apiKey, boolean jsonValues, boolean startAtLatest,
                    int window) {
    this.nodes = List.copyOf(nodes);
    if (apiKey != null) {
      int colon = apiKey.indexOf(':');
      this.user = apiKey.substring(0, colon);
      this.password = apiKey.substring(colon + 1);
    } else {
      this.user = null;
      this.password = null;
    }
    this.jsonValues = jsonValues;
    this.startAtLatest = startAtLatest;
    this.window = window;
    this.vertx = Driver.newVertx();
    this.http = vertx.httpClientBuilder().with(new HttpClientOptions().setKeepAlive(true).setConnectTimeout(10_000))
        .with(new PoolOptions().setHttp1MaxSize(4)).build();
    this.admin = new AdminApi(adminNodes, apiKey == null ? null : "Bearer " + apiKey, http);
  }

  /**
   * The HTTP nodes that prepare the topic: {@code adminUrl} (comma-separated {@code http://host:port}) when given,
   * else each AMQP node's host on port 8080 (the HTTP transport's default).
   */
  public static List<URI> adminNodes(List<URI> amqpNodes, List<URI> adminUrl) {
    if (adminUrl != null && !adminUrl.isEmpty()) {
      return List.copyOf(adminUrl);
    }
    List<URI> admin = new ArrayList<>();
    for (URI n : amqpNodes) {
      URI http = URI.create("http://" + hostPart(n.getHost()) + ":8080");
      if (!admin.contains(http)) {
        admin.add(http);
      }
    }
    return admin;
  }

  private static String hostPart(String host) {
    return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
  }

  List<URI> nodes() {
    return nodes;
  }

  List<URI> adminNodes() {
    return admin.nodes();
  }

  boolean jsonValues() {
    return jsonValues;
  }

  boolean startAtLatest() {
    return startAtLatest;
  }

  int window() {
    return window;
  }

  Vertx vertx() {
    return vertx;
  }

  Counts counts() {
    return counts;
  }

  /** Which node the next client starts on. */
  int firstNode() {
    return Math.floorMod(nextNode.getAndIncrement(), nodes.size());
  }

  /**
   * An open connection to node {@code at}; call it on the client's context (the connection lives there). Fails when
   * the TCP connection, SASL or the open does not succeed, or the node closes it before it opened.
   */
  Future<ProtonConnection> connect(int at) {
    URI node = nodes.get(at);
    ProtonClientOptions options = new ProtonClientOptions().setConnectTimeout(10_000).setTcpNoDelay(true)
        .setHeartbeat(IDLE_TIMEOUT_MS / 2);
    options.addEnabledSaslMechanism(user != null ? "PLAIN" : "ANONYMOUS");
    Promise<ProtonConnection> opened = Promise.promise();
    // ProtonClient.connect, but with the socket's flushes coalesced (FlushCoalescing): the same steps on
    // vertx-proton's public impl classes, since ProtonClient never hands out the socket.
    NetClient net = vertx.createNetClient(options);
    net.connect(node.getPort(), node.getHost()).onComplete(socket -> {
      if (socket.failed()) {
        net.close();
        opened.tryFail(new IllegalStateException("cannot connect to " + node + ": " + message(socket.cause()),
            socket.cause()));
        return;
      }
      FlushCoalescing.install(socket.result());
      ProtonConnectionImpl c = new ProtonConnectionImpl(vertx, node.getHost(),
          (ContextInternal) Vertx.currentContext());
      c.disconnectHandler(x -> {
        net.close();
        opened.tryFail(new IllegalStateException(node + " dropped the connection"));
      });
      ProtonSaslClientAuthenticatorImpl sasl = new ProtonSaslClientAuthenticatorImpl(user, password,
          options.getEnabledSaslMechanisms(), null, ar -> {
            if (ar.failed()) {
              opened.tryFail(new IllegalStateException("cannot connect to " + node + ": " + message(ar.cause()),
                  ar.cause()));
              c.disconnect();
              return;
            }
            c.setContainer(container);
            c.openHandler(o -> {
              if (o.succeeded()) {
                opened.tryComplete(c);
              } else {
                opened.tryFail(new IllegalStateException(node + " refused the connection: " + message(o.cause())));
                c.disconnect();
              }
            });
            c.closeHandler(x -> {
              opened.tryFail(new IllegalStateException(node + " closed the connection before it opened"
                  + (x.failed() ? ": " + message(x.cause()) : "")));
              c.disconnect();
            });
            c.open();
          });
      c.bindClient(net, socket.result(), sasl, new ProtonTransportOptions()
          .setHeartbeat(options.getHeartbeat()).setMaxFrameSize(options.getMaxFrameSize()));
      c.flush();  // starts SASL
    });
    return opened.future();
  }

  static String message(Throwable t) {
    return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
  }

  @Override
  public CompletionStage<Integer> prepareTopic(String topic, int partitions) {
    Promise<Integer> done = Promise.promise();
    vertx.getOrCreateContext().runOnContext(v -> admin.prepareTopic(topic, partitions).onComplete(done));
    return done.future().toCompletionStage();
  }

  @Override
  public ProducerClient producer(String topic) {
    return new AmqpProducer(this, "topics/" + topic, firstNode());
  }

  @Override
  public ConsumerClient consumer(String topic, String group, GroupMode mode, RecordSink sink) {
    return new AmqpConsumer(this, "topics/" + topic + "/groups/" + group, mode, sink, firstNode());
  }

  @Override
  public boolean acksNamePositions() {
    return false;
  }

  @Override
  public List<String> notes() {
    return counts.notes();
  }

  @Override
  public void close() {
    try {
      http.close().await(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      // closing anyway
    }
    try {
      vertx.close().await(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      // best effort: the JVM ends after the report
    }
  }

  /** What the clients counted, for the run's problems. */
  static final class Counts {
    final AtomicLong resent = new AtomicLong();
    final AtomicLong producerConnectionsLost = new AtomicLong();
    final AtomicLong consumerReconnects = new AtomicLong();
    final AtomicLong consumersGaveUp = new AtomicLong();
    final java.util.concurrent.atomic.AtomicReference<String> firstConsumerFailure =
        new java.util.concurrent.atomic.AtomicReference<>();

    List<String> notes() {
      List<String> notes = new ArrayList<>();
      if (resent.get() > 0) {
        notes.add(resent.get() + " AMQP message(s) the node released were sent again");
      }
      if (producerConnectionsLost.get() > 0) {
        notes.add(producerConnectionsLost.get() + " AMQP producer connection(s) or link(s) lost (their unsettled"
            + " messages failed: outcome unknown)");
      }
      if (consumerReconnects.get() > 0) {
        notes.add(consumerReconnects.get() + " AMQP consumer link(s) opened again after a break, the first: "
            + firstConsumerFailure.get());
      }
      if (consumersGaveUp.get() > 0) {
        notes.add(consumersGaveUp.get() + " AMQP consumer(s) gave up after 20 breaks in a row with nothing received");
      }
      return notes;
    }
  }
}
