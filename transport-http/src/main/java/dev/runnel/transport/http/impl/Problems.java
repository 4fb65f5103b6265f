package dev.runnel.transport.http.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.HttpException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Locale;
import java.util.UUID;

/**
 * Every failure of the HTTP API as an RFC 9457 {@code application/problem+json} body
 * {@code {"type","title","status","detail","code"}}. The one place that maps a {@link BrokerError} to its HTTP status
 * and title; every route's failures, unknown routes (404), wrong methods (405) and oversized bodies (413) end here.
 */
public final class Problems {

  public static final String CONTENT_TYPE = "application/problem+json";
  public static final String TYPE_PREFIX = "urn:runnel:problem:";

  private static final Logger LOG = LoggerFactory.getLogger(Problems.class);

  /** The HTTP status and title of one error code. */
  public record Kind(int status, String title) {
  }

  private Problems() {
  }

  /** The status and title of each code; a new {@link BrokerError} constant does not compile until it is added here. */
  public static Kind kind(BrokerError error) {
    return switch (error) {
      case INVALID_TOPIC_NAME -> new Kind(400, "Invalid topic name");
      case TOPIC_NOT_FOUND -> new Kind(404, "Topic not found");
      case TOPIC_EXISTS -> new Kind(409, "Topic exists with different settings");
      case PARTITION_OUT_OF_RANGE -> new Kind(404, "Partition out of range");
      case MALFORMED_JSON -> new Kind(400, "Malformed JSON");
      case INVALID_RECORD -> new Kind(400, "Invalid record");
      case BAD_ENCODING -> new Kind(400, "Bad encoding");
      case RECORD_TOO_LARGE -> new Kind(413, "Record too large");
      case BODY_TOO_LARGE -> new Kind(413, "Request body too large");
      case OFFSET_OUT_OF_RANGE -> new Kind(416, "Offset out of range");
      case INVALID_REQUEST -> new Kind(400, "Invalid request");
      case INVALID_CONFIG -> new Kind(400, "Invalid config");
      case NOT_FOUND -> new Kind(404, "Not found");
      case METHOD_NOT_ALLOWED -> new Kind(405, "Method not allowed");
      case UNKNOWN_MEMBER -> new Kind(404, "Unknown group member");
      case GROUP_NOT_EMPTY -> new Kind(409, "Group has members");
      case STALE_GENERATION -> new Kind(409, "Stale group generation");
      case UNKNOWN_TOKEN -> new Kind(404, "Unknown delivery token");
      case LEASE_EXPIRED -> new Kind(409, "Lease expired");
      case INVALID_SIGNATURE -> new Kind(401, "Invalid signature");
      case UNAUTHORIZED -> new Kind(401, "Unauthorized");
      case FORBIDDEN -> new Kind(403, "Forbidden");
      case OVERLOADED -> new Kind(503, "Overloaded, retry later");
      case UNAVAILABLE -> new Kind(503, "Service unavailable");
      case OUTCOME_UNKNOWN -> new Kind(503, "Outcome unknown");
      case INTERNAL -> new Kind(500, "Internal server error");
    };
  }

  /** {@code urn:runnel:problem:} and the code in lower-kebab case, e.g. {@code urn:runnel:problem:topic-not-found}. */
  public static String type(BrokerError error) {
    return TYPE_PREFIX + error.name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  /** Answers the request with the problem of {@code error}. */
  public static void send(RoutingContext ctx, BrokerError error, String detail) {
    Kind kind = kind(error);
    HttpServerResponse response = ctx.response();
    if (error == BrokerError.OVERLOADED) {
      response.putHeader(HttpHeaders.RETRY_AFTER, "1");
    }
    write(response, kind.status(), type(error), kind.title(), detail, error.name());
  }

  /**
   * The router's failure handler: a failed route ({@link RoutingContext#fail}), an exception thrown by a handler, or the
   * router's own 404/405/413. Anything that is not a broker failure or a client error is a bug: it is logged with an
   * incident id and answered 500 without internals.
   */
  public static void handleFailure(RoutingContext ctx, long maxBodyBytes) {
    HttpServerResponse response = ctx.response();
    Throwable failure = ctx.failure();
    if (response.ended() || response.closed()) {
      if (failure != null) {
        LOG.debug("failure after the response was sent or the connection closed: {} {}", ctx.request().method(),
            ctx.request().path(), failure);
      }
      return;
    }
    if (response.headWritten()) {
      // Part of a success response went out; nothing sensible can follow it.
      LOG.error("failure while answering {} {}", ctx.request().method(), ctx.request().path(), failure);
      response.reset();
      return;
    }
    int status = failure instanceof HttpException h ? h.getStatusCode() : ctx.statusCode();
    if (!BrokerException.isBrokerFailure(failure) && status >= 400 && status < 500) {
      sendClientError(ctx, status, failure, maxBodyBytes);
      return;
    }
    BrokerException b = BrokerException.from(failure == null ? new IllegalStateException("failed with " + status)
        : failure);
    if (b.error() != BrokerError.INTERNAL) {
      send(ctx, b.error(), b.getMessage());
      return;
    }
    String incident = UUID.randomUUID().toString();
    LOG.error("internal error, incident {}, answering {} {}", incident, ctx.request().method(), ctx.request().path(),
        b.getCause() != null ? b.getCause() : b);
    send(ctx, BrokerError.INTERNAL, "internal error (incident " + incident + "); see the server log");
  }

  /**
   * A request Netty could not decode (request line or headers too long, a malformed request), which never reaches the
   * router: answered as a problem like every other error, with the status HTTP gives it, and its connection closed
   * (what follows on it cannot be framed).
   */
  public static void undecodable(HttpServerRequest request) {
    Throwable cause = request.decoderResult().cause();
    int status;
    String detail;
    if (cause instanceof TooLongHttpLineException) {
      status = 414;
      detail = "the request line is too long";
    } else if (cause instanceof TooLongHttpHeaderException) {
      status = 431;
      detail = "the request headers are too large (http.maxHeaderBytes)";
    } else {
      status = 400;
      detail = "the request could not be read as HTTP/1.1";
    }
    HttpServerResponse response = request.response().putHeader(HttpHeaders.CONNECTION, "close");
    write(response, status, type(BrokerError.INVALID_REQUEST), kind(BrokerError.INVALID_REQUEST).title(), detail,
        BrokerError.INVALID_REQUEST.name());
    request.connection().close();  // as Vert.x's own handler does: the answer is written first
  }

  private static void sendClientError(RoutingContext ctx, int status, Throwable failure, long maxBodyBytes) {
    switch (status) {
      case 404 -> send(ctx, BrokerError.NOT_FOUND, "no route for " + ctx.request().method() + " " + ctx.request().path());
      case 405 -> send(ctx, BrokerError.METHOD_NOT_ALLOWED, ctx.request().method() + " is not allowed on "
          + ctx.request().path());
      case 413 -> send(ctx, BrokerError.BODY_TOO_LARGE, "the request body exceeds the limit of "
          + maxBodyBytes + " bytes");
      default -> send(ctx, BrokerError.INVALID_REQUEST, failure != null && failure.getMessage() != null
          ? failure.getMessage() : "the request was refused with HTTP status " + status);
    }
  }

  private static void write(HttpServerResponse response, int status, String type, String title, String detail,
                            String code) {
    JsonObject body = new JsonObject()
        .put("type", type)
        .put("title", title)
        .put("status", status)
        .put("detail", detail)
        .put("code", code);
    response.setStatusCode(status)
        .putHeader(HttpHeaders.CONTENT_TYPE, CONTENT_TYPE)
        .end(body.toBuffer());
  }
}
