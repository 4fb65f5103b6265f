package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.transport.http.HttpTransportOptions;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServerOptions;

import java.util.function.IntConsumer;

/** One event loop's HTTP server: the {@link HttpApi} router on the shared port. Undeploying closes the server. */
final class HttpVerticle extends VerticleBase {

  private final Broker broker;
  private final HttpTransportOptions options;
  private final int listenPort;
  private final IntConsumer listening;

  HttpVerticle(Broker broker, HttpTransportOptions options, int listenPort, IntConsumer listening) {
    this.broker = broker;
    this.options = options;
    this.listenPort = listenPort;
    this.listening = listening;
  }

  @Override
  public Future<?> start() {
    HttpApi api = new HttpApi(vertx, broker, options.getMaxBodyBytes());
    return vertx.createHttpServer(new HttpServerOptions().setHost(options.getHost()).setPort(listenPort))
        .requestHandler(api.router())
        .listen()
        .onSuccess(server -> listening.accept(server.actualPort()));
  }
}
