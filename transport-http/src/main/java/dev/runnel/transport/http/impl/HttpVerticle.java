package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.transport.http.HttpTransportOptions;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;

import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * One event loop's HTTP server: the {@link HttpApi} router on the shared port. Undeploying shuts it down gracefully
 * (Vert.x's {@code HttpServer.shutdown}): the API drains (what is in flight is answered, with {@code Connection:
 * close}; long polls end at once), the listener closes when the last instance stops, idle keep-alive connections
 * close at once, and busy ones after their answer or at the end of the grace period. A request a client sends on an
 * idle connection at the instant it closes is not read, so neither answered nor stored (HTTP/1.1's keep-alive race).
 */
final class HttpVerticle extends VerticleBase {

  private final Broker broker;
  private final HttpTransportOptions options;
  private final int listenPort;
  private final IntConsumer listening;
  private final HeldBytes held;
  private final StreamSessions sessions;
  private HttpApi api;
  private HttpServer server;

  HttpVerticle(Broker broker, HttpTransportOptions options, HeldBytes held, StreamSessions sessions, int listenPort,
               IntConsumer listening) {
    this.sessions = sessions;
    this.broker = broker;
    this.options = options;
    this.held = held;
    this.listenPort = listenPort;
    this.listening = listening;
  }

  @Override
  public Future<?> start() {
    api = new HttpApi(vertx, broker, options, held, sessions);
    // HTTP/1.1 only: Vert.x would otherwise accept a client's h2c upgrade (the JDK client asks for one by default),
    // and the bounds here (one request in flight per connection, answers held until written) are HTTP/1.1's.
    HttpServerOptions serverOptions = new HttpServerOptions().setHost(options.getHost()).setPort(listenPort)
        .setMaxHeaderSize(options.getMaxHeaderBytes()).setHttp2ClearTextEnabled(false);
    if (options.getTlsCertPath() != null) {
      serverOptions.setSsl(true).setKeyCertOptions(new PemKeyCertOptions()
          .setCertPath(options.getTlsCertPath()).setKeyPath(options.getTlsKeyPath()));
    }
    return vertx.createHttpServer(serverOptions)
        .requestHandler(api.router())
        .invalidRequestHandler(Problems::undecodable)
        .listen()
        .onSuccess(s -> {
          server = s;
          listening.accept(s.actualPort());
        });
  }

  @Override
  public Future<?> stop() {
    if (server == null) {
      return Future.succeededFuture();
    }
    api.drain();
    return server.shutdown(options.getShutdownGraceMs(), TimeUnit.MILLISECONDS);
  }
}
