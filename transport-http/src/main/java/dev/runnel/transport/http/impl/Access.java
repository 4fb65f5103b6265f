package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.ApiKeys;
import dev.runnel.broker.auth.Right;
import io.vertx.core.Handler;
import io.vertx.core.http.HttpHeaders;
import io.vertx.ext.web.RoutingContext;

import java.util.Collection;
import java.util.Locale;

/**
 * Who may call what (DESIGN.md section 8): {@link #authenticate} finds the request's API key before its body is
 * read (401 {@code UNAUTHORIZED} without a valid one), and each route's check asks for a {@link Right} on the topics
 * it touches (403 {@code FORBIDDEN} without it). With auth off every request is {@link ApiKey#ANONYMOUS}, which may
 * do everything. Secrets never reach a log or an answer.
 */
final class Access {

  private static final String KEY = "runnel.apiKey";
  private static final String BEARER = "bearer ";

  private final ApiKeys keys;
  private final Broker broker;
  private final boolean publicMetrics;

  Access(ApiKeys keys, Broker broker) {
    this(keys, broker, false);
  }

  /** @param publicMetrics whether {@code /metrics} answers without a key ({@code auth.publicMetrics}) */
  Access(ApiKeys keys, Broker broker, boolean publicMetrics) {
    this.keys = keys;
    this.broker = broker;
    this.publicMetrics = publicMetrics;
  }

  /**
   * Sets the request's key; a request without a valid one is answered 401 at once, its body dropped as it comes.
   * Public routes (health, the contract, signed webhooks; {@code /metrics} when public) pass without a key.
   */
  void authenticate(RoutingContext ctx) {
    if (!keys.enabled()) {
      ctx.put(KEY, ApiKey.ANONYMOUS);
      ctx.next();
      return;
    }
    if (isPublic(ctx.normalizedPath())) {  // no key set: a check on such a route fails as unauthenticated
      ctx.next();
      return;
    }
    String header = ctx.request().getHeader(HttpHeaders.AUTHORIZATION);
    ApiKey key = header != null && header.length() > BEARER.length()
        && header.regionMatches(true, 0, BEARER, 0, BEARER.length())
        ? keys.authenticate(header.substring(BEARER.length()).trim()) : null;
    if (key == null) {
      if (!ctx.request().isEnded()) {
        ctx.request().handler(dropped -> { }).resume();
      }
      ctx.response().putHeader("WWW-Authenticate", "Bearer realm=\"runnel\"");
      Problems.send(ctx, BrokerError.UNAUTHORIZED, header == null
          ? "this node requires an API key: send Authorization: Bearer <name>:<secret>"
          : "the API key is not valid (Authorization: Bearer <name>:<secret>)");
      return;
    }
    ctx.put(KEY, key);
    ctx.next();
  }

  private boolean isPublic(String path) {
    return path != null && (path.startsWith("/health/") || path.equals("/openapi.yaml") || path.startsWith("/webhooks/")
        || publicMetrics && (path.equals("/metrics") || path.equals("/metrics/")));
  }

  /**
   * The check of {@code /metrics}: nothing when it is public, else {@code admin} on every topic (a grant on
   * {@code *}); with auth off every request may.
   */
  Handler<RoutingContext> metrics() {
    if (publicMetrics) {
      return RoutingContext::next;
    }
    return ctx -> {
      ApiKey key = key(ctx);
      if (!key.mayOnEveryTopic(Right.ADMIN)) {
        throw forbidden(key, Right.ADMIN, "every topic ('*'), which /metrics needs");
      }
      ctx.next();
    };
  }

  /** The check of a route that shows every topic and group ({@code what}): {@code admin} on every topic. */
  static Handler<RoutingContext> adminOfAll(String what) {
    return ctx -> {
      ApiKey key = key(ctx);
      if (!key.mayOnEveryTopic(Right.ADMIN)) {
        throw forbidden(key, Right.ADMIN, "every topic ('*'), which " + what + " needs");
      }
      ctx.next();
    };
  }

  /** The request's key ({@link ApiKey#ANONYMOUS} with auth off); a public route has none. */
  static ApiKey key(RoutingContext ctx) {
    ApiKey key = ctx.get(KEY);
    if (key == null) {
      throw new BrokerException(BrokerError.UNAUTHORIZED, "this route needs an API key");
    }
    return key;
  }

  /** Fails unless the request's key has {@code right} on {@code topic}. */
  static void require(RoutingContext ctx, Right right, String topic) {
    ApiKey key = key(ctx);
    if (!key.may(right, topic)) {
      throw forbidden(key, right, "topic '" + topic + "'");
    }
  }

  /** Fails unless the request's key has {@code right} on each of these topics. */
  static void requireAll(RoutingContext ctx, Right right, Collection<String> topics, String what) {
    ApiKey key = key(ctx);
    if (!key.mayAll(right, topics)) {
      throw forbidden(key, right, what);
    }
  }

  private static BrokerException forbidden(ApiKey key, Right right, String what) {
    return new BrokerException(BrokerError.FORBIDDEN, "API key '" + key.name() + "' lacks the "
        + right.name().toLowerCase(Locale.ROOT) + " right on " + what);
  }

  /** A route check: {@code right} on the topic of the path. */
  Handler<RoutingContext> onTopic(Right right) {
    return ctx -> {
      require(ctx, right, ctx.pathParam("topic"));
      ctx.next();
    };
  }

  /** A route check: any right on the topic of the path (describe). */
  Handler<RoutingContext> seesTopic() {
    return ctx -> {
      ApiKey key = key(ctx);
      String topic = ctx.pathParam("topic");
      if (!key.sees(topic)) {
        throw new BrokerException(BrokerError.FORBIDDEN, "API key '" + key.name() + "' has no right on topic '"
            + topic + "'");
      }
      ctx.next();
    };
  }

  /**
   * A route check: {@code right} (or, when null, any right) on each topic the group reads. A group nobody has joined
   * here has none, and only a key with the right on every topic may act on it.
   */
  Handler<RoutingContext> onGroup(Right right) {
    return ctx -> {
      ApiKey key = key(ctx);
      if (right == null ? key.seesAll(java.util.List.of()) : key.mayOnEveryTopic(right)) {  // auth off costs nothing
        ctx.next();
        return;
      }
      String group = ctx.pathParam("group");
      broker.groupTopics(group).onComplete(ar -> {
        if (ar.failed()) {
          ctx.fail(BrokerException.from(ar.cause()));
          return;
        }
        if (right == null ? !key.seesAll(ar.result()) : !key.mayAll(right, ar.result())) {
          ctx.fail(new BrokerException(BrokerError.FORBIDDEN, "API key '" + key.name() + "' lacks "
              + (right == null ? "a right" : "the " + right.name().toLowerCase(Locale.ROOT) + " right")
              + " on some topic of group '" + group + "' " + ar.result()));
          return;
        }
        ctx.next();
      });
    };
  }

  /** A route check with nothing to check beyond a valid key (lists filter what they show; some handlers check). */
  static void anyKey(RoutingContext ctx) {
    ctx.next();
  }
}
