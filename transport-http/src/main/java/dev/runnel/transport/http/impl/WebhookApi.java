package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.ProduceResult;
import dev.runnel.broker.Header;
import dev.runnel.transport.http.WebhookSource;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Signed webhooks, {@code POST /webhooks/{source}} (DESIGN.md section 8): the delivery is verified by its signature,
 * then stored as one record on the source's topic (the body as the value with its content type, the delivery id as the
 * idempotency key, the event type in {@code runnel.webhook.event}), deduplicated by delivery id whether or not the
 * topic has {@code dedup} on, and answered after commit. A bad, missing or expired signature is 401
 * {@code INVALID_SIGNATURE} and stores nothing. Signatures are compared in constant time.
 */
final class WebhookApi {

  /** Standard Webhooks' tolerance for the sender's clock, either way. */
  static final long TOLERANCE_SECONDS = 5 * 60;
  static final String EVENT_HEADER = "runnel.webhook.event";
  static final String SOURCE_HEADER = "runnel.webhook.source";
  private static final JsonFactory JSON = new JsonFactory();

  private final Broker broker;
  private final Map<String, WebhookSource> sources;
  private final InstantSource clock;

  WebhookApi(Broker broker, Map<String, WebhookSource> sources, InstantSource clock) {
    this.broker = broker;
    this.sources = Map.copyOf(sources);
    this.clock = clock;
  }

  /** The largest body any source accepts: the webhook routes' body limit (each source's own is checked after). */
  long maxBodyBytes() {
    return sources.values().stream().mapToLong(WebhookSource::maxBodyBytes).max().orElse(0);
  }

  void deliver(RoutingContext ctx) {
    String name = ctx.pathParam("source");
    WebhookSource source = sources.get(name);
    if (source == null) {
      throw new BrokerException(BrokerError.NOT_FOUND, "no webhook source '" + name + "' is configured (webhooks."
          + name + " in the node's config)");
    }
    Buffer buffer = ctx.body().buffer();
    byte[] body = buffer == null ? new byte[0] : buffer.getBytes();
    if (body.length > source.maxBodyBytes()) {
      throw new BrokerException(BrokerError.BODY_TOO_LARGE, "webhook source '" + name + "' accepts bodies of at most "
          + source.maxBodyBytes() + " bytes; this one has " + body.length);
    }
    String contentType = ctx.request().getHeader(HttpHeaders.CONTENT_TYPE);
    String deliveryId;
    String event;
    if (source.scheme() == WebhookSource.Scheme.STANDARD) {
      deliveryId = ctx.request().getHeader("webhook-id");
      verifyStandard(source.secrets(), deliveryId, ctx.request().getHeader("webhook-timestamp"),
          ctx.request().getHeader("webhook-signature"), body, clock.instant().getEpochSecond());
      String type = RecordCodec.mediaType(contentType);
      event = type.equals(RecordCodec.JSON) || type.endsWith("+json") ? topLevelType(body) : null;
    } else {
      verifyGitHub(source.secrets(), ctx.request().getHeader("X-Hub-Signature-256"), body);
      deliveryId = ctx.request().getHeader("X-GitHub-Delivery");
      if (deliveryId == null || deliveryId.isEmpty()) {
        throw new BrokerException(BrokerError.INVALID_REQUEST, "a GitHub delivery needs its X-GitHub-Delivery id");
      }
      event = ctx.request().getHeader("X-GitHub-Event");
    }
    List<Header> headers = new ArrayList<>(3);
    headers.add(new Header(SOURCE_HEADER, name.getBytes(StandardCharsets.UTF_8)));
    if (event != null) {
      headers.add(new Header(EVENT_HEADER, event.getBytes(StandardCharsets.UTF_8)));
    }
    ProduceRecord record = new ProduceRecord(null, body, contentType == null ? "application/octet-stream" : contentType,
        headers, null, deliveryId);
    List<ProduceRecord> records = RecordApi.withTraceparent(List.of(record), ctx.request().getHeader(RecordApi.TRACEPARENT));
    Answers.answer(ctx, broker.produce(source.topic(), records, true), 200, results -> position(results.get(0)));
  }

  private static JsonObject position(ProduceResult r) {
    return new JsonObject().put("partition", r.partition()).put("offset", r.offset()).put("timestamp", r.timestamp())
        .put("duplicate", r.duplicate());
  }

  /**
   * Standard Webhooks: {@code webhook-signature} is a space-separated list of {@code v1,<base64 HMAC-SHA256>} over
   * {@code <id>.<timestamp>.<body>}, keyed by each secret's {@code whsec_} base64; one match of any secret passes.
   */
  static void verifyStandard(List<String> secrets, String id, String timestamp, String signatures, byte[] body,
                             long nowSeconds) {
    if (id == null || id.isEmpty() || timestamp == null || signatures == null) {
      throw invalid("a Standard Webhooks delivery needs webhook-id, webhook-timestamp and webhook-signature headers");
    }
    long sent;
    try {
      sent = Long.parseLong(timestamp.trim());
    } catch (NumberFormatException e) {
      throw invalid("webhook-timestamp must be seconds since the epoch");
    }
    if (Math.abs(nowSeconds - sent) > TOLERANCE_SECONDS) {
      throw invalid("webhook-timestamp is more than " + TOLERANCE_SECONDS / 60 + " minutes from this node's clock");
    }
    byte[] prefix = (id + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8);
    List<byte[]> offered = new ArrayList<>();
    for (String entry : signatures.trim().split(" +")) {
      if (entry.startsWith("v1,")) {
        try {
          offered.add(Base64.getDecoder().decode(entry.substring(3)));
        } catch (IllegalArgumentException e) {
          // not a signature of ours; the others may still match
        }
      }
    }
    boolean match = false;
    for (String secret : secrets) {
      byte[] expected = hmac(WebhookSource.standardKey(secret), prefix, body);
      for (byte[] signature : offered) {
        match |= MessageDigest.isEqual(expected, signature);  // every pair compared: the time does not tell which
      }
    }
    if (!match) {
      throw invalid("webhook-signature does not match any secret of this source");
    }
  }

  /** GitHub: {@code X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>}, keyed by the secret's UTF-8 bytes. */
  static void verifyGitHub(List<String> secrets, String signature, byte[] body) {
    if (signature == null || !signature.startsWith("sha256=")) {
      throw invalid("a GitHub delivery needs X-Hub-Signature-256: sha256=<hex>");
    }
    byte[] offered;
    try {
      offered = HexFormat.of().parseHex(signature.substring("sha256=".length()).trim());
    } catch (IllegalArgumentException e) {
      throw invalid("X-Hub-Signature-256 is not hexadecimal");
    }
    boolean match = false;
    for (String secret : secrets) {
      match |= MessageDigest.isEqual(hmac(secret.getBytes(StandardCharsets.UTF_8), new byte[0], body), offered);
    }
    if (!match) {
      throw invalid("X-Hub-Signature-256 does not match any secret of this source");
    }
  }

  static byte[] hmac(byte[] key, byte[] prefix, byte[] body) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      mac.update(prefix);
      return mac.doFinal(body);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static BrokerException invalid(String detail) {
    return new BrokerException(BrokerError.INVALID_SIGNATURE, detail + "; nothing was stored");
  }

  /** The top-level string field {@code type} of a JSON object, or null (not an object, not JSON, no such field). */
  static String topLevelType(byte[] body) {
    try (JsonParser p = JSON.createParser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken value = p.nextToken();
        if ("type".equals(field) && value == JsonToken.VALUE_STRING) {
          return p.getText();
        }
        p.skipChildren();
      }
      return null;
    } catch (IOException e) {
      return null;
    }
  }
}
