package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.Broker;
import dev.runnel.transport.amqp.AmqpTransport;
import dev.runnel.transport.amqp.AmqpTransportOptions;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Deploys {@link AmqpVerticle} instances sharing one listening socket, as the HTTP transport does (for port 0 with
 * several instances, Vert.x's random-port sharing through a negative port of this transport's own range).
 */
public final class AmqpTransportImpl implements AmqpTransport {

  private static final int SHARED_RANDOM_PORT_BASE = 0x414D_5000;
  private static final AtomicInteger SHARED_RANDOM_PORTS = new AtomicInteger();

  private final Vertx vertx;
  private final AmqpTransportOptions options;
  private final List<AmqpVerticle> instances = new CopyOnWriteArrayList<>();
  private String deploymentId;
  private volatile int actualPort;

  public AmqpTransportImpl(Vertx vertx, AmqpTransportOptions options) {
    this.vertx = vertx;
    this.options = new AmqpTransportOptions(options);
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public synchronized Future<Void> start(Broker broker) {
    if (deploymentId != null) {
      return Future.failedFuture(new IllegalStateException("the AMQP transport is already started"));
    }
    int count = options.getInstances();
    int listenPort = options.getPort() == 0 && count > 1
        ? -(SHARED_RANDOM_PORT_BASE + SHARED_RANDOM_PORTS.incrementAndGet()) : options.getPort();
    Set<Integer> ports = ConcurrentHashMap.newKeySet();
    instances.clear();
    return vertx.deployVerticle(() -> {
      AmqpVerticle v = new AmqpVerticle(broker, options, listenPort, ports::add);
      instances.add(v);
      return v;
    }, new DeploymentOptions().setInstances(count)).compose(id -> {
      synchronized (this) {
        deploymentId = id;
      }
      if (ports.size() != 1) {
        return stop().transform(ignored -> Future.<Void>failedFuture(
            new IllegalStateException("AMQP listener instances listen on different ports: " + ports)));
      }
      actualPort = ports.iterator().next();
      return Future.<Void>succeededFuture();
    });
  }

  /** Stops every connection (settling what is in flight), then the listeners, then undeploys. */
  @Override
  public Future<Void> stop() {
    String id;
    synchronized (this) {
      id = deploymentId;
      deploymentId = null;
    }
    if (id == null) {
      return Future.succeededFuture();
    }
    List<AmqpVerticle> stopping = List.copyOf(instances);
    return Future.join(stopping.stream().map(AmqpVerticle::drainAndClose).toList())
        .transform(ignored -> vertx.undeploy(id))
        .onComplete(ar -> actualPort = 0)
        .mapEmpty();
  }

  @Override
  public int actualPort() {
    return actualPort;
  }
}
