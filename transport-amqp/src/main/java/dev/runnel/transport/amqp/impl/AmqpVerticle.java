package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.Broker;
import dev.runnel.transport.amqp.AmqpTransportOptions;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.ProtonHelper;
import io.vertx.proton.ProtonServer;
import io.vertx.proton.ProtonServerOptions;

import org.apache.qpid.proton.amqp.transport.ConnectionError;

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
  private boolean stopping;
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
      if (stopping) {
        refuse(pc);
        return;
      }
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

  /**
   * Stops every connection of this instance on its context (DESIGN.md section 7's shutdown), then closes the listener.
   * The listener closes last because Vert.x 5 closes a server's connections at once with it ({@code NetServer.close()}
   * is {@code shutdown(0)}), which would cut the settlements short; meanwhile a new connection is closed at its open
   * with {@code amqp:connection:forced}.
   */
  Future<Void> drainAndClose() {
    Promise<Void> done = Promise.promise();
    own.runOnContext(v -> {
      stopping = true;
      List<Future<Void>> stops = new ArrayList<>();
      for (AmqpConnection c : List.copyOf(connections)) {
        stops.add(c.stop());
      }
      Future.join(stops).onComplete(ar -> server.close(closed -> done.complete()));
    });
    return done.future();
  }

  private static void refuse(ProtonConnection pc) {
    pc.openHandler(ar -> {
      pc.setCondition(ProtonHelper.condition(ConnectionError.CONNECTION_FORCED, "the node is stopping"));
      pc.open();
      pc.close();
      pc.disconnect();
    });
    pc.disconnectHandler(ProtonConnection::disconnect);
  }
}
