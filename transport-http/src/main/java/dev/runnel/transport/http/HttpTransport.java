package dev.runnel.transport.http;

import dev.runnel.broker.Transport;
import dev.runnel.transport.http.impl.HttpTransportImpl;
import io.vertx.core.Vertx;

/**
 * The HTTP/JSON transport (DESIGN.md section 7): topics, produce and read over the {@link dev.runnel.broker.Broker}
 * API, errors as {@code application/problem+json}. {@link #start} deploys {@link HttpTransportOptions#getInstances()}
 * verticles that share one port; {@link #stop} undeploys them.
 */
public interface HttpTransport extends Transport {

  String NAME = "http";

  static HttpTransport create(Vertx vertx, HttpTransportOptions options) {
    return new HttpTransportImpl(vertx, options);
  }

  /** The port the transport listens on once started (the chosen one when configured with port 0); 0 when stopped. */
  int actualPort();
}
