package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.transport.http.HttpTransportOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.impl.ConnectionBase;
import io.vertx.core.net.impl.ShutdownEvent;

import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * One event loop's HTTP server: the {@link HttpApi} router on the shared port. The transport stops it in three steps
 * ({@link HttpTransportImpl#stop()}): {@link #stopListening()}, then once no instance listens {@link #drain()}, then
 * the undeployment, which waits for its connections to close (each after an answer with {@code Connection: close})
 * or for the end of the grace period.
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
  /** Set by {@link #stopListening()}: the server's shutdown, done at the end of the grace period. */
  private Future<Void> shutdown;

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
        .connectionHandler(HttpVerticle::keepOpenThroughTheDrain)
        .listen()
        .onSuccess(s -> {
          server = s;
          listening.accept(s.actualPort());
        });
  }

  /**
   * Vert.x's shutdown closes an idle keep-alive connection at once, and a request its client sends at that instant is
   * lost unread (neither answered nor stored). So the shutdown event never reaches the connection: it stays open until
   * the drain has answered a request on it ({@code Connection: close}, then {@link HttpApi} closes it) or the grace
   * period ends (Vert.x then closes every connection left).
   */
  private static void keepOpenThroughTheDrain(HttpConnection connection) {
    if (connection instanceof ConnectionBase vertxConnection) {  // Vert.x internals: the only way to reach the channel
      vertxConnection.channel().pipeline().addFirst(new ChannelInboundHandlerAdapter() {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) {
          if (!(event instanceof ShutdownEvent)) {
            ctx.fireUserEventTriggered(event);
          }
        }
      });
    }
  }

  /**
   * Closes this instance's listener (Vert.x closes the shared socket when the last instance's closes) and starts its
   * grace period. Its connections stay open and keep being served as before: the shutdown event never reaches them.
   */
  Future<Void> stopListening() {
    return onContext(() -> {
      if (server != null && shutdown == null) {
        shutdown = server.shutdown(options.getShutdownGraceMs(), TimeUnit.MILLISECONDS);
      }
    });
  }

  /** Starts the drain (see {@link HttpApi#drain()}); call once no instance listens any more. */
  Future<Void> drain() {
    return onContext(() -> api.drain());
  }

  private Future<Void> onContext(Runnable action) {
    Promise<Void> done = Promise.promise();
    context.runOnContext(v -> {
      action.run();
      done.complete();
    });
    return done.future();
  }

  /** Ends when every connection is closed or the grace period is over. */
  @Override
  public Future<?> stop() {
    if (server == null) {
      return Future.succeededFuture();
    }
    if (shutdown == null) {  // undeployed without the transport's stop (Vert.x itself closing)
      api.drain();
      shutdown = server.shutdown(options.getShutdownGraceMs(), TimeUnit.MILLISECONDS);
    }
    return shutdown;
  }
}
