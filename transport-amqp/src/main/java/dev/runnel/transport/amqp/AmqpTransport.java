package dev.runnel.transport.amqp;

import dev.runnel.broker.Transport;
import dev.runnel.transport.amqp.impl.AmqpTransportImpl;
import io.vertx.core.Vertx;

/**
 * The AMQP 1.0 transport (DESIGN.md section 7): producers send to {@code topics/<topic>} (or through the anonymous
 * relay), consumers receive from {@code topics/<topic>/groups/<group>}; every transfer a producer sends is settled
 * {@code accepted} only after its commit, and a consumer's dispositions are the group's outcomes.
 */
public interface AmqpTransport extends Transport {

  String NAME = "amqp";

  static AmqpTransport create(Vertx vertx, AmqpTransportOptions options) {
    return new AmqpTransportImpl(vertx, options);
  }

  /** The port it listens on once started (the chosen one when configured as 0). */
  int actualPort();
}
