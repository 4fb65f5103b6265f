package dev.runnel.transport.http.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

import java.util.List;
import java.util.function.Function;

/** How every handler reads its query parameters and answers: JSON on success, a problem (via ctx.fail) on failure. */
final class Answers {

  private static final String JSON = "application/json";

  private Answers() {
  }

  static int bounded(RoutingContext ctx, String name, int defaultValue, int max) {
    String raw = query(ctx, name);
    if (raw == null) {
      return defaultValue;
    }
    int value = intParam(name, raw);
    if (value < 1 || value > max) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "'" + name + "' must be between 1 and " + max + ", not "
          + value);
    }
    return value;
  }

  static int intParam(String name, String raw) {
    try {
      return Integer.parseInt(raw);
    } catch (NumberFormatException e) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "'" + name + "' must be an integer, not '" + raw + "'");
    }
  }

  /** A query parameter {@code true} or {@code false}; {@code defaultValue} when absent. */
  static boolean bool(RoutingContext ctx, String name, boolean defaultValue) {
    String raw = query(ctx, name);
    if (raw == null) {
      return defaultValue;
    }
    return switch (raw) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new BrokerException(BrokerError.INVALID_REQUEST, "'" + name + "' must be true or false, not '"
          + raw + "'");
    };
  }

  static String query(RoutingContext ctx, String name) {
    List<String> values = ctx.queryParam(name);
    return values.isEmpty() ? null : values.get(0);
  }


  /** Answers {@code status} with the future's result as JSON, or the failure as a problem. */
  static <T> void answer(RoutingContext ctx, Future<T> future, int status, Function<T, JsonObject> body) {
    answerRendered(ctx, future, status, body.andThen(JsonObject::toBuffer));
  }

  /** {@link #answer} for a body already rendered as JSON. */
  static <T> void answerRendered(RoutingContext ctx, Future<T> future, int status, Function<T, Buffer> body) {
    future.onComplete(ar -> {
      try {
        if (ar.succeeded()) {
          send(ctx, status, body.apply(ar.result()));
        } else {
          ctx.fail(BrokerException.from(ar.cause()));
        }
      } catch (RuntimeException e) {
        ctx.fail(e);
      }
    });
  }

  /** Answers 204 when the future succeeds, or the failure as a problem. */
  static void noContent(RoutingContext ctx, Future<?> future) {
    future.onComplete(ar -> {
      if (ar.failed()) {
        ctx.fail(BrokerException.from(ar.cause()));
      } else if (!ctx.response().closed()) {
        ctx.response().setStatusCode(204).end();
      }
    });
  }

  static void json(RoutingContext ctx, int status, JsonObject body) {
    send(ctx, status, body.toBuffer());
  }

  private static void send(RoutingContext ctx, int status, Buffer json) {
    if (ctx.response().closed()) {
      return;
    }
    long held = hold(ctx, json.length(), UNCOUNTED_ANSWER_BYTES);
    if (held < 0) {
      refuse(ctx, json.length());
      return;
    }
    ctx.response()
        .setStatusCode(status)
        .putHeader(HttpHeaders.CONTENT_TYPE, JSON)
        .end(json)
        .onComplete(written -> release(ctx, held));
  }

  /** Answers at most this large are not counted: socket buffers hold them, and nearly every answer is one. */
  static final int UNCOUNTED_ANSWER_BYTES = 64 * 1024;
  private static final String HELD = "runnel.heldBytes";

  /** Where this request's answer bytes are counted (set by the router for every request). */
  static void countAnswersIn(RoutingContext ctx, HeldBytes held) {
    ctx.put(HELD, held);
  }

  /**
   * Counts an answer's bytes in the node-wide bound of held bytes until it is written out (release them when its
   * write's future completes), so clients that do not read their answers pin bounded memory. Answers up to
   * {@code uncounted} bytes are not counted. Answers what was reserved (0: nothing), or -1 when it does not fit.
   */
  static long hold(RoutingContext ctx, long bytes, long uncounted) {
    HeldBytes held = ctx.get(HELD);
    if (bytes <= uncounted || held == null) {
      return 0;
    }
    return held.tryReserve(bytes) ? bytes : -1;
  }

  static void release(RoutingContext ctx, long reserved) {
    if (reserved > 0) {
      ((HeldBytes) ctx.get(HELD)).release(reserved);
    }
  }

  /** The answer could not be held: 503 OVERLOADED, nothing lost (a read is read again; deliveries are given back). */
  static void refuse(RoutingContext ctx, long bytes) {
    HeldBytes held = ctx.get(HELD);
    Problems.send(ctx, BrokerError.OVERLOADED, "the node holds " + (held.held() >> 20) + " MiB of requests and answers "
        + "not yet written out, its bound is " + (held.limit() >> 20) + " MiB (http.maxHeldBytes); this answer ("
        + bytes + " bytes) was not sent: retry after Retry-After");
  }
}
