package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.transport.http.HttpTransport;
import dev.runnel.transport.http.HttpTransportOptions;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Deploys {@link HttpVerticle} instances that share one listening socket.
 *
 * <p>Vert.x shares a socket among servers that listen on the same host and port, but port 0 is never shared: each
 * server would bind its own random port. For port 0 with several instances we therefore use Vert.x's random-port
 * sharing: servers that listen on the same <em>negative</em> port share one random port. Each transport takes its own
 * negative number from a range of its own, so it never joins a server of anyone else in the same Vert.x instance.
 */
public final class HttpTransportImpl implements HttpTransport {

  /** Negative ports handed out for random-port sharing: -(BASE + n). */
  private static final int SHARED_RANDOM_PORT_BASE = 0x4854_5000;
  private static final AtomicInteger SHARED_RANDOM_PORTS = new AtomicInteger();

  private final Vertx vertx;
  private final HttpTransportOptions options;
  /** The start in progress, if any. */
  private Future<Void> starting;
  private String deploymentId;
  private volatile int actualPort;
  /** The deployed instances, for the stop's steps. */
  private final List<HttpVerticle> instances = new CopyOnWriteArrayList<>();
  private static final int LISTENER_CLOSE_PROBES = 400;
  private static final Logger LOG = LoggerFactory.getLogger(HttpTransportImpl.class);

  public HttpTransportImpl(Vertx vertx, HttpTransportOptions options) {
    this.vertx = vertx;
    this.options = new HttpTransportOptions(options);
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public synchronized Future<Void> start(Broker broker) {
    if (starting != null || deploymentId != null) {
      return Future.failedFuture(new IllegalStateException("the HTTP transport is already started"));
    }
    int count = options.getInstances();
    int listenPort = options.getPort() == 0 && count > 1
        ? -(SHARED_RANDOM_PORT_BASE + SHARED_RANDOM_PORTS.incrementAndGet())
        : options.getPort();
    Set<Integer> ports = ConcurrentHashMap.newKeySet();
    HeldBytes held = new HeldBytes(options.getMaxHeldBytes());  // one bound for all instances
    StreamSessions sessions = new StreamSessions();  // a member's SSE reconnect may land on any instance
    instances.clear();
    Future<Void> start = vertx.deployVerticle(() -> {
          HttpVerticle verticle = new HttpVerticle(broker, options, held, sessions, listenPort, ports::add);
          this.instances.add(verticle);
          return verticle;
        },
            new DeploymentOptions().setInstances(count))
        .andThen(ar -> {
          synchronized (this) {
            starting = null;
            deploymentId = ar.result();
          }
        })
        .compose(id -> {
          if (ports.size() != 1) {
            // Cannot happen with Vert.x's server sharing; refuse rather than serve on several ports.
            return stop().transform(ignored -> Future.<Void>failedFuture(
                new IllegalStateException("HTTP verticle instances listen on different ports: " + ports)));
          }
          actualPort = ports.iterator().next();
          return Future.<Void>succeededFuture();
        });
    // The deployment may complete at once (then andThen already ran and starting stays null).
    if (deploymentId == null && !start.isComplete()) {
      starting = start;
    }
    return start;
  }

  @Override
  public Future<Void> stop() {
    String id;
    synchronized (this) {
      if (starting != null) {
        // Stop what the start in progress deploys, whether or not it succeeds.
        return starting.transform(ignored -> stop());
      }
      id = deploymentId;
      deploymentId = null;
    }
    int port = actualPort;
    actualPort = 0;
    if (id == null) {
      return Future.succeededFuture();
    }
    List<HttpVerticle> stopping = List.copyOf(instances);
    return Future.all(stopping.stream().map(HttpVerticle::stopListening).toList())
        .compose(v -> refusingConnections(port))
        .compose(v -> Future.all(stopping.stream().map(HttpVerticle::drain).toList()))
        .compose(v -> vertx.undeploy(id));
  }

  /**
   * Completes once the port refuses connections. The drain must not start before: a client told {@code Connection:
   * close} connects again at once, and Vert.x closes a connection accepted after the last instance stopped listening
   * but before the shared socket is closed (asynchronously) without reading it, so that client's request would go
   * unanswered. Probes the port by connecting, at most {@value #LISTENER_CLOSE_PROBES} times, 5 ms apart.
   */
  private Future<Void> refusingConnections(int port) {
    NetClient probe = vertx.createNetClient(new NetClientOptions().setConnectTimeout(1_000));
    String host = switch (options.getHost()) {
      case "0.0.0.0" -> "127.0.0.1";
      case "::", "[::]" -> "::1";
      default -> options.getHost();
    };
    return probe(probe, host, port, LISTENER_CLOSE_PROBES).eventually(probe::close);
  }

  private Future<Void> probe(NetClient probe, String host, int port, int probesLeft) {
    return probe.connect(port, host).transform(connected -> {
      if (connected.failed()) {
        return Future.succeededFuture();  // refused: nobody listens any more
      }
      connected.result().close();
      if (probesLeft <= 1) {
        LOG.warn("the HTTP listener on port {} still accepts connections; draining anyway", port);
        return Future.succeededFuture();
      }
      Promise<Void> next = Promise.promise();
      vertx.setTimer(5, t -> probe(probe, host, port, probesLeft - 1).onComplete(next));
      return next.future();
    });
  }

  @Override
  public int actualPort() {
    return actualPort;
  }
}
