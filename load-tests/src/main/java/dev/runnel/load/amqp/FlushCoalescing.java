package dev.runnel.load.amqp;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.vertx.core.internal.net.NetSocketInternal;
import io.vertx.core.net.NetSocket;

/**
 * One socket write per event-loop turn instead of one per frame. vertx-proton flushes the connection after every
 * disposition, flow and transfer, and outside a socket read each flush is a write system call and a TCP segment: a
 * commit of 80 transfers settled them in 80 writes. Netty's {@link FlushConsolidationHandler} holds the flushes of
 * one turn (during a read until the read completes, otherwise until a task queued behind the current one runs) and
 * writes them together; frames keep their order, and nothing waits longer than the current turn. The same as
 * transport-amqp's {@code impl.FlushCoalescing}: the load tool is a client and depends on no module of the node.
 */
final class FlushCoalescing {

  /** Flushes held before one is let through anyway, so a long turn still writes as it goes. */
  static final int MAX_HELD_FLUSHES = 256;

  private FlushCoalescing() {
  }

  /** Installs it on a connection's socket (Vert.x internals: the only way to reach the channel). */
  static void install(NetSocket socket) {
    if (socket instanceof NetSocketInternal internal) {
      ChannelHandlerContext vertx = internal.channelHandlerContext();
      vertx.pipeline().addBefore(vertx.name(), "runnel-flush-coalescing",
          new FlushConsolidationHandler(MAX_HELD_FLUSHES, true));
    }
  }
}
