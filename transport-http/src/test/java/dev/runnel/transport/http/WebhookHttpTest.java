package dev.runnel.transport.http;

import static dev.runnel.transport.http.Reply.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;

import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.ApiKeys;
import dev.runnel.broker.auth.Grant;
import dev.runnel.broker.auth.Right;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Signed webhooks over real HTTP, both schemes (DESIGN.md section 8): valid, wrong secret, rotated secret, expired
 * timestamp, replayed delivery, unknown source, the source's own body limit; and what a consumer reads back. Auth is
 * on: the webhook route needs no API key, its signature instead.
 */
class WebhookHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final String OLD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  private static final String NEW_SECRET = "whsec_" + Base64.getEncoder().encodeToString("a newer secret".getBytes());
  private static final String GITHUB_SECRET = "gh-secret";
  private static final String OPS = "ops:0ps";
  private static final long NOW_MS = 1_900_000_000_000L;

  private static final ManualClock CLOCK = new ManualClock(NOW_MS);
  private static HttpNode node;

  @BeforeAll
  static void start() {
    node = new HttpNode(PG, new HttpTransportOptions().setInstances(1)
        .setClock(CLOCK)
        .setApiKeys(ApiKeys.of(List.of(new ApiKey("ops", "0ps", List.of(new Grant("*", EnumSet.allOf(Right.class)))))))
        .setWebhooks(Map.of(
            "payments", new WebhookSource("payments", WebhookSource.Scheme.STANDARD, List.of(OLD_SECRET, NEW_SECRET),
                WebhookSource.DEFAULT_MAX_BODY_BYTES),
            "github", new WebhookSource("gh-events", WebhookSource.Scheme.GITHUB, List.of(GITHUB_SECRET), 2000))));
    // Neither topic has dedup on: webhook deliveries are deduplicated all the same.
    assertThat(call("PUT", "/topics/payments", "{\"partitions\":2}", Map.of("Authorization", "Bearer " + OPS)).status())
        .isEqualTo(201);
    assertThat(call("PUT", "/topics/gh-events", "{\"partitions\":1}", Map.of("Authorization", "Bearer " + OPS)).status())
        .isEqualTo(201);
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void standardWebhooksReferenceVectorVerifies() {
    // The Standard Webhooks libraries' published test vector.
    byte[] key = WebhookSource.standardKey(OLD_SECRET);
    String signature = "v1," + Base64.getEncoder().encodeToString(hmac(key,
        "msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}"));
    assertThat(signature).isEqualTo("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  }

  @Test
  void aSignedDeliveryIsStoredOnceAndReadBack() {
    String body = "{\"type\":\"invoice.paid\",\"amount\":42}";
    long ts = NOW_MS / 1000;
    long before = highWatermarks("payments");
    Reply first = standard("payments", "msg_1", ts, body, OLD_SECRET);
    assertThat(first.status()).as(first.body()).isEqualTo(200);
    JsonObject position = first.json();
    assertThat(position.fieldNames()).containsExactlyInAnyOrder("partition", "offset", "timestamp", "duplicate");
    assertThat(position.getBoolean("duplicate")).isFalse();

    // The sender retries (same id, new timestamp, new signature): the original position, nothing new stored.
    Reply replay = standard("payments", "msg_1", ts + 30, body, OLD_SECRET);
    assertThat(replay.status()).isEqualTo(200);
    assertThat(replay.json().getBoolean("duplicate")).isTrue();
    assertThat(replay.json().getLong("offset")).isEqualTo(position.getLong("offset"));
    assertThat(replay.json().getInteger("partition")).isEqualTo(position.getInteger("partition"));
    assertThat(highWatermarks("payments")).isEqualTo(before + 1);

    JsonObject record = read("payments", position.getInteger("partition"), position.getLong("offset"));
    assertThat(record.getValue("value")).isEqualTo(new JsonObject(body));
    assertThat(record.getString("valueEncoding")).isEqualTo("json");
    assertThat(record.getString("idempotencyKey")).isEqualTo("msg_1");
    assertThat(record.getJsonObject("headers").getString("runnel.webhook.event")).isEqualTo("invoice.paid");
    assertThat(record.getJsonObject("headers").getString("runnel.webhook.source")).isEqualTo("payments");
  }

  @Test
  void aRotatedSecretVerifiesAndAnySignatureOfSeveralMayMatch() {
    long ts = NOW_MS / 1000;
    assertThat(standard("payments", "msg_rotated", ts, "{}", NEW_SECRET).status()).isEqualTo(200);
    // Several signatures in the header (a sender signing with old and new secrets): one match is enough.
    String body = "{\"n\":2}";
    String good = sign(NEW_SECRET, "msg_multi", ts, body);
    Reply reply = call("POST", "/webhooks/payments", body, Map.of("webhook-id", "msg_multi",
        "webhook-timestamp", Long.toString(ts), "webhook-signature", "v1,AAAA " + good + " v1a,whatever"));
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
  }

  @Test
  void badMissingOrExpiredSignaturesAreRefusedAndStoreNothing() {
    long before = highWatermarks("payments");
    long ts = NOW_MS / 1000;
    String wrong = "whsec_" + Base64.getEncoder().encodeToString("not the secret".getBytes());
    assertProblem(standard("payments", "msg_bad", ts, "{}", wrong), 401, "INVALID_SIGNATURE");
    // A valid signature of another body.
    String signature = sign(OLD_SECRET, "msg_tampered", ts, "{\"amount\":1}");
    assertProblem(call("POST", "/webhooks/payments", "{\"amount\":1000}", Map.of("webhook-id", "msg_tampered",
        "webhook-timestamp", Long.toString(ts), "webhook-signature", signature)), 401, "INVALID_SIGNATURE");
    // Older or newer than five minutes, correctly signed.
    assertProblem(standard("payments", "msg_old", ts - 301, "{}", OLD_SECRET), 401, "INVALID_SIGNATURE");
    assertProblem(standard("payments", "msg_future", ts + 301, "{}", OLD_SECRET), 401, "INVALID_SIGNATURE");
    assertThat(standard("payments", "msg_edge", ts - 300, "{}", OLD_SECRET).status()).isEqualTo(200);
    before++;
    // Headers missing or malformed.
    assertProblem(call("POST", "/webhooks/payments", "{}", Map.of()), 401, "INVALID_SIGNATURE");
    assertProblem(call("POST", "/webhooks/payments", "{}", Map.of("webhook-id", "x", "webhook-timestamp", "soon",
        "webhook-signature", sign(OLD_SECRET, "x", ts, "{}"))), 401, "INVALID_SIGNATURE");
    assertProblem(call("POST", "/webhooks/payments", "{}", Map.of("webhook-id", "x", "webhook-timestamp",
        Long.toString(ts), "webhook-signature", "v1,%%%notbase64")), 401, "INVALID_SIGNATURE");
    assertThat(highWatermarks("payments")).isEqualTo(before);
  }

  @Test
  void gitHubDeliveriesAreVerifiedByTheirBodySignature() {
    String body = "{\"action\":\"opened\",\"number\":7}";
    Map<String, String> headers = Map.of("X-Hub-Signature-256", githubSignature(GITHUB_SECRET, body),
        "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event", "pull_request");
    Reply first = call("POST", "/webhooks/github", body, headers);
    assertThat(first.status()).as(first.body()).isEqualTo(200);
    Reply again = call("POST", "/webhooks/github", body, headers);
    assertThat(again.json().getBoolean("duplicate")).isTrue();
    JsonObject record = read("gh-events", 0, first.json().getLong("offset"));
    assertThat(record.getJsonObject("headers").getString("runnel.webhook.event")).isEqualTo("pull_request");
    assertThat(record.getString("idempotencyKey")).isEqualTo("72d3162e-cc78-11e3-81ab-4c9367dc0958");

    assertProblem(call("POST", "/webhooks/github", body, Map.of("X-Hub-Signature-256",
        githubSignature("wrong", body), "X-GitHub-Delivery", "d2")), 401, "INVALID_SIGNATURE");
    assertProblem(call("POST", "/webhooks/github", body, Map.of("X-GitHub-Delivery", "d3")), 401, "INVALID_SIGNATURE");
    assertProblem(call("POST", "/webhooks/github", body, Map.of("X-Hub-Signature-256", "sha256=zz",
        "X-GitHub-Delivery", "d4")), 401, "INVALID_SIGNATURE");
    // This source accepts at most 2,000 bytes.
    String big = "{\"pad\":\"" + "x".repeat(3000) + "\"}";
    assertProblem(call("POST", "/webhooks/github", big, Map.of("X-Hub-Signature-256", githubSignature(GITHUB_SECRET,
        big), "X-GitHub-Delivery", "d5")), 413, "BODY_TOO_LARGE");
    assertThat(highWatermarks("gh-events")).isEqualTo(1);
  }

  @Test
  void anUnknownSourceIsNotFound() {
    assertProblem(standard("nobody", "msg_x", NOW_MS / 1000, "{}", OLD_SECRET), 404, "NOT_FOUND");
  }

  // ---- helpers

  private static Reply standard(String source, String id, long timestamp, String body, String secret) {
    return call("POST", "/webhooks/" + source, body, Map.of("webhook-id", id, "webhook-timestamp",
        Long.toString(timestamp), "webhook-signature", sign(secret, id, timestamp, body)));
  }

  private static String sign(String secret, String id, long timestamp, String body) {
    return "v1," + Base64.getEncoder().encodeToString(hmac(WebhookSource.standardKey(secret),
        id + "." + timestamp + "." + body));
  }

  private static String githubSignature(String secret, String body) {
    return "sha256=" + HexFormat.of().formatHex(hmac(secret.getBytes(StandardCharsets.UTF_8), body));
  }

  private static byte[] hmac(byte[] key, String content) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac.doFinal(content.getBytes(StandardCharsets.UTF_8));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  private static long highWatermarks(String topic) {
    JsonArray partitions = call("GET", "/topics/" + topic, null, Map.of("Authorization", "Bearer " + OPS)).json()
        .getJsonArray("partitions");
    long sum = 0;
    for (int i = 0; i < partitions.size(); i++) {
      sum += partitions.getJsonObject(i).getLong("highWatermark");
    }
    return sum;
  }

  private static JsonObject read(String topic, int partition, long offset) {
    Reply reply = call("GET", "/topics/" + topic + "/partitions/" + partition + "/records?offset=" + offset
        + "&maxRecords=1", null, Map.of("Authorization", "Bearer " + OPS));
    assertThat(reply.status()).isEqualTo(200);
    return reply.json().getJsonArray("records").getJsonObject(0);
  }

  private static Reply call(String method, String path, String body, Map<String, String> headers) {
    return node.call(method, path, body, headers);
  }
}
