package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.Broker;
import dev.runnel.transport.amqp.AmqpTransportOptions;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.proton.ProtonServer;
import io.vertx.proton.ProtonServerOptions;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.IntConsumer;

/** One listener instance on its own event loop; the instances share the port, and a connection stays on one. */
final class AmqpVerticle extends VerticleBase {

  private final Broker broker;
  private final AmqpTransportOptions options;
  private final int listenPort;
  private final IntConsumer boundPort;
  private final Set<AmqpConnection> connections = new LinkedHashSet<>();
  private ProtonServer server;
  private Context own;

  AmqpVerticle(Broker broker, AmqpTransportOptions options, int listenPort, IntConsumer boundPort) {
    this.broker = broker;
    this.options = options;
    this.listenPort = listenPort;
    this.boundPort = boundPort;
  }

  @Override
  public Future<?> start() {
    own = context;
    ProtonServerOptions serverOptions = new ProtonServerOptions()
        .setHost(options.getHost())
        .setHeartbeat(options.getHeartbeatMs());
    if (options.getTlsCertPath() != null) {
      serverOptions.setSsl(true).setKeyCertOptions(new PemKeyCertOptions()
          .setCertPath(options.getTlsCertPath()).setKeyPath(options.getTlsKeyPath()));
    }
    server = ProtonServer.create(vertx, serverOptions);
    server.saslAuthenticatorFactory(() -> new SaslAuthenticator(options.getApiKeys()));
    server.connectHandler(pc -> {
      AmqpConnection[] self = new AmqpConnection[1];
      self[0] = new AmqpConnection(vertx, pc, broker, options, () -> connections.remove(self[0]));
      connections.add(self[0]);
      self[0].start();
    });
    Promise<ProtonServer> listening = Promise.promise();
    server.listen(listenPort, options.getHost(), listening::handle);
    return listening.future().map(s -> {
      boundPort.accept(s.actualPort());
      return null;
    });
  }

  /** Stops accepting connections. */
  Future<Void> stopListening() {
    Promise<Void> closed = Promise.promise();
    own.runOnContext(v -> server.close(closed::handle));
    return closed.future();
  }

  /** Stops every connection of this instance, on its context (DESIGN.md section 7's shutdown). */
  Future<Void> stopConnections() {
    Promise<Void> done = Promise.promise();
    own.runOnContext(v -> {
      List<Future<Void>> stops = new ArrayList<>();
      for (AmqpConnection c : List.copyOf(connections)) {
        stops.add(c.stop());
      }
      Future.join(stops).<Void>mapEmpty().onComplete(ar -> done.complete());
    });
    return done.future();
  }
}
