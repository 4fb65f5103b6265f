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
    ctx.response()
        .setStatusCode(status)
        .putHeader(HttpHeaders.CONTENT_TYPE, JSON)
        .end(json);
  }}
