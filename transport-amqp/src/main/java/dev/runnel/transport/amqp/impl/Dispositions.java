package dev.runnel.transport.amqp.impl;

import io.vertx.proton.ProtonDelivery;
import io.vertx.proton.ProtonLink;
import io.vertx.proton.impl.ProtonDeliveryImpl;
import io.vertx.proton.impl.ProtonConnectionImpl;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.apache.qpid.proton.engine.Delivery;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Settles deliveries in a batch with one pass of the connection's output. vertx-proton's
 * {@link ProtonDelivery#disposition} runs proton-j's output and writes it to the socket after every delivery, so the
 * outcomes of one commit of 80 transfers cost 80 passes, buffers and writes (about a fifth of the node in an AMQP
 * produce benchmark). Here each delivery's state is set on proton-j's delivery and the connection is flushed once at
 * the end of the batch. proton-j's delivery is a private field of vertx-proton's: where it cannot be reached, each
 * delivery is settled by vertx-proton as before. Call on the connection's context.
 */
final class Dispositions {

  private static final Logger LOG = LoggerFactory.getLogger(Dispositions.class);
  private static final VarHandle PROTON_J_DELIVERY = protonJDelivery();

  private Dispositions() {
  }

  /** Sets the outcome and settles, unless already settled; nothing is written until {@link #flush}. */
  static void settle(ProtonDelivery delivery, DeliveryState state) {
    Delivery raw = PROTON_J_DELIVERY != null && delivery instanceof ProtonDeliveryImpl
        ? (Delivery) PROTON_J_DELIVERY.get(delivery) : null;
    if (raw == null) {
      delivery.disposition(state, true);  // vertx-proton flushes this one itself
    } else if (!raw.isSettled()) {
      raw.disposition(state);
      raw.settle();
    }
  }

  /** Writes what the link's connection has to send: the outcomes settled since the last flush. */
  static void flush(ProtonLink<?> link) {
    if (link.getSession().getConnection() instanceof ProtonConnectionImpl connection) {
      connection.flush();
    }
  }

  private static VarHandle protonJDelivery() {
    try {
      return MethodHandles.privateLookupIn(ProtonDeliveryImpl.class, MethodHandles.lookup())
          .findVarHandle(ProtonDeliveryImpl.class, "delivery", Delivery.class);
    } catch (ReflectiveOperationException | RuntimeException e) {
      LOG.warn("vertx-proton's deliveries cannot be settled in batches ({}): each outcome is written on its own",
          e.toString());
      return null;
    }
  }
}
