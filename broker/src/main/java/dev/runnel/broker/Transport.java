package dev.runnel.broker;

import io.vertx.core.Future;

/**
 * A protocol adapter over the {@link Broker} API (HTTP, AMQP, later the Kafka wire protocol). The server starts each
 * enabled transport with the broker and stops it before the broker drains.
 */
public interface Transport {

  String name();

  /** Starts listening; the future completes when clients can connect. */
  Future<Void> start(Broker broker);

  /** Stops accepting new work and closes the listener. */
  Future<Void> stop();
}
