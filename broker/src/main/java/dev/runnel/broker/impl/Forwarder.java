package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.internal.ContextInternal;

import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Sends a call to another node's leader or owner over the clustered event bus and turns its answer back into a value
 * or a broker failure (DESIGN.md section 6): a per-request timeout; a bounded number of calls outstanding per node
 * ({@code OVERLOADED} past it); every call outstanding to a node failed at once when the node leaves the view (the
 * event bus would wait for the timeout); a call that reached a node that does not hold the unit answers
 * {@link NotHere}, which the routes retry. A write whose fate cannot be told (timed out, or its node left) fails
 * {@code OUTCOME_UNKNOWN}; any other call {@code UNAVAILABLE}. Thread-safe; futures complete on the caller's context.
 */
final class Forwarder {

  /** The failure code of an answer that carries a broker error as {@code NAME:message}. */
  static final int FAILED = 1;
  /** The failure code of an answer from a node that does not lead or own what was asked. */
  static final int NOT_HERE = 2;
  /** The header naming the node a call comes from. */
  static final String FROM = "runnel-from";

  private final Vertx vertx;
  private final String self;
  private final long timeoutMs;
  private final int maxOutstanding;
  private final Map<String, Set<Call>> outstanding = new ConcurrentHashMap<>();

  private record Call(Promise<Wire.Reader> answer, boolean write) {
  }

  Forwarder(Vertx vertx, String self, long timeoutMs, int maxOutstanding) {
    this.vertx = vertx;
    this.self = self;
    this.timeoutMs = timeoutMs;
    this.maxOutstanding = maxOutstanding;
  }

  /** The event-bus address of a node's leaders ({@code leader}) or owners ({@code owner}). */
  static String address(String node, String unit) {
    return "runnel.node." + node + "." + unit;
  }

  /**
   * Sends {@code request} to {@code unit} on {@code node}; {@code extraMs} is added to the timeout (a long poll's
   * wait); {@code write} says a timeout leaves the call's effect unknown.
   */
  Future<Wire.Reader> send(String node, String unit, Wire.Writer request, long extraMs, boolean write) {
    ContextInternal caller = ContextInternal.current();
    Promise<Wire.Reader> answer = caller != null ? caller.promise() : Promise.promise();
    Set<Call> calls = outstanding.computeIfAbsent(node, n -> ConcurrentHashMap.newKeySet());
    if (calls.size() >= maxOutstanding) {
      return Future.failedFuture(new BrokerException(BrokerError.OVERLOADED, maxOutstanding + " calls to node " + node
          + " are outstanding already; retry later"));
    }
    Call call = new Call(answer, write);
    calls.add(call);
    vertx.eventBus().<Buffer>request(address(node, unit), request.buffer,
            new DeliveryOptions().setSendTimeout(timeoutMs + extraMs).addHeader(FROM, self))
        .onComplete(ar -> {
          calls.remove(call);
          if (ar.succeeded()) {
            Message<Buffer> reply = ar.result();
            answer.tryComplete(Wire.reader(reply.body()));
          } else {
            answer.tryFail(failure(node, ar.cause(), write));
          }
        });
    return answer.future();
  }

  /** The view holds only {@code live} now: every call outstanding to another node fails at once. */
  void keepOnly(Collection<String> live) {
    outstanding.forEach((node, calls) -> {
      if (!live.contains(node)) {
        for (Call call : calls) {
          call.answer.tryFail(call.write
              ? new BrokerException(BrokerError.OUTCOME_UNKNOWN, "node " + node + " left the cluster while the write "
                  + "was in flight: whether it was stored cannot be told")
              : new BrokerException(BrokerError.UNAVAILABLE, "node " + node + " left the cluster; retry"));
        }
        calls.clear();
      }
    });
  }

  private static RuntimeException failure(String node, Throwable cause, boolean write) {
    if (!(cause instanceof ReplyException reply)) {
      return BrokerException.from(cause);
    }
    return switch (reply.failureType()) {
      case NO_HANDLERS -> new NotHere("node " + node + " does not serve calls (not started, or gone)");
      case TIMEOUT -> write
          ? new BrokerException(BrokerError.OUTCOME_UNKNOWN, "node " + node + " did not answer in time: whether the "
              + "write was stored cannot be told")
          : new BrokerException(BrokerError.UNAVAILABLE, "node " + node + " did not answer in time; retry");
      case RECIPIENT_FAILURE -> reply.failureCode() == NOT_HERE ? new NotHere(reply.getMessage())
          : decode(reply.getMessage());
      default -> new BrokerException(BrokerError.UNAVAILABLE, "the call to node " + node + " failed: "
          + reply.getMessage());
    };
  }

  /** An answer's failure: the error as {@code NAME:message}. */
  static String encode(BrokerException e) {
    return e.error().name() + ":" + e.getMessage();
  }

  private static BrokerException decode(String failure) {
    int colon = failure == null ? -1 : failure.indexOf(':');
    if (colon > 0) {
      try {
        return new BrokerException(BrokerError.valueOf(failure.substring(0, colon)), failure.substring(colon + 1));
      } catch (IllegalArgumentException unknown) {
        // a newer node's error: INTERNAL below
      }
    }
    return new BrokerException(BrokerError.INTERNAL, "internal error on another node");
  }
}
