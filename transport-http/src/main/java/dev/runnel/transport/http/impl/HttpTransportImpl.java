package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.transport.http.HttpTransport;
import dev.runnel.transport.http.HttpTransportOptions;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.util.Set;
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
    int instances = options.getInstances();
    int listenPort = options.getPort() == 0 && instances > 1
        ? -(SHARED_RANDOM_PORT_BASE + SHARED_RANDOM_PORTS.incrementAndGet())
        : options.getPort();
    Set<Integer> ports = ConcurrentHashMap.newKeySet();
    HeldBytes held = new HeldBytes(options.getMaxHeldBytes());  // one bound for all instances
    StreamSessions sessions = new StreamSessions();  // a member's SSE reconnect may land on any instance
    Future<Void> start = vertx.deployVerticle(() -> new HttpVerticle(broker, options, held, sessions, listenPort,
            ports::add),
            new DeploymentOptions().setInstances(instances))
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
    actualPort = 0;
    return id == null ? Future.succeededFuture() : vertx.undeploy(id);
  }

  @Override
  public int actualPort() {
    return actualPort;
  }
}
