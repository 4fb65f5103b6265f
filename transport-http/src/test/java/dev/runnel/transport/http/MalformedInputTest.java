package dev.runnel.transport.http;

import dev.runnel.broker.Broker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Generated bad requests across every route (broken JSON, wrong types, huge and empty bodies, invalid UTF-8, bad
 * base64, absurd query values, bad names and tokens): each gets a 4xx problem+json answer, the node stays up, and
 * the topics' logs and the group's positions are what they were. The generator is seeded; a failure names the seed
 * and the request.
 */
class MalformedInputTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final int REQUESTS = 1_200;
  private static final int MAX_BODY = 64 * 1024;
  private static final String TOPIC = "fuzzed";
  private static final String GROUP = "fuzzers";
  private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  private static Vertx vertx;
  private static LogStore store;
  private static HttpTransport transport;
  private static HttpClient http;
  private static String member;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options()).await();
    transport = HttpTransport.create(vertx, new HttpTransportOptions().setHost("127.0.0.1").setPort(0).setInstances(2)
        .setShutdownGraceMs(1_000).setMaxBodyBytes(MAX_BODY).setWebhooks(java.util.Map.of(
            "hooks", new WebhookSource(TOPIC, WebhookSource.Scheme.STANDARD, List.of(SECRET), 4096),
            "gh", new WebhookSource(TOPIC, WebhookSource.Scheme.GITHUB, List.of("gh"), 4096))));
    transport.start(Broker.create(vertx, store)).await();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    assertThat(send("PUT", "/topics/" + TOPIC, "{\"partitions\":2}".getBytes(StandardCharsets.UTF_8)).statusCode())
        .isEqualTo(201);
    assertThat(send("POST", "/topics/" + TOPIC + "/records",
        "{\"records\":[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2},{\"value\":3}]}".getBytes(StandardCharsets.UTF_8))
        .statusCode()).isEqualTo(200);
    HttpResponse<String> joined = send("POST", "/groups/" + GROUP + "/members",
        ("{\"topics\":[\"" + TOPIC + "\"]}").getBytes(StandardCharsets.UTF_8));
    assertThat(joined.statusCode()).isEqualTo(201);
    member = new JsonObject(joined.body()).getString("memberId");
  }

  @AfterAll
  static void stop() {
    if (transport != null) {
      transport.stop().await();
    }
    if (store != null) {
      store.close().await();
    }
    if (vertx != null) {
      vertx.close().await();
    }
  }

  private record Bad(String method, String path, byte[] body, java.util.Map<String, String> headers) {
    Bad(String method, String path, byte[] body) {
      this(method, path, body, java.util.Map.of("content-type", "application/json"));
    }

    @Override
    public String toString() {
      String shown = body == null ? "" : new String(body, 0, Math.min(body.length, 200), StandardCharsets.ISO_8859_1);
      return method + " " + path + " [" + (body == null ? 0 : body.length) + " bytes] " + shown;
    }
  }

  @Test
  void everyGeneratedBadRequestGetsA4xxProblemAndChangesNothing() throws Exception {
    long seed = Long.getLong("fuzz.seed", System.nanoTime());
    Random random = new Random(seed);
    JsonObject topicsBefore = new JsonObject(send("GET", "/topics", null).body());
    JsonObject groupBefore = positions();
    List<String> wrong = new ArrayList<>();
    for (int i = 0; i < REQUESTS; i++) {
      Bad bad = generate(random);
      HttpResponse<String> r = send(bad.method(), bad.path(), bad.body(), bad.headers());
      String type = r.headers().firstValue("content-type").orElse("");
      boolean problem = type.equals("application/problem+json") && r.body().contains("\"code\"");
      if (r.statusCode() < 400 || r.statusCode() >= 500 || !problem) {
        wrong.add(r.statusCode() + " " + r.body() + " for " + bad);
      }
    }
    assertThat(wrong).as("answers that are not a 4xx problem (seed %d), e.g.", seed).isEmpty();
    assertThat(send("GET", "/health/live", null).statusCode()).isEqualTo(200);
    assertThat(new JsonObject(send("GET", "/topics", null).body())).as("the topics and their logs").isEqualTo(topicsBefore);
    assertThat(positions()).as("the group's positions").isEqualTo(groupBefore);
  }

  /** The group's committed positions and members, without the lag's age (which moves with the clock). */
  private static JsonObject positions() throws Exception {
    JsonObject group = new JsonObject(send("GET", "/groups/" + GROUP, null).body());
    group.getJsonArray("partitions").forEach(p -> ((JsonObject) p).getJsonObject("lag").remove("oldestAgeMs"));
    return group;
  }

  // ---------------------------------------------------------------- the generator

  private static final String[] BAD_JSON = {
      "", "{", "}", "[", "{\"records\":", "{\"records\":[", "{\"records\":[{]}", "nul", "tru", "{'a':1}", "{\"a\":1,}",
      "{\"a\" 1}", "[1,2", "\"unterminated", "{\"a\":01}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":NaN}", "{\"a\":\"\\x\"}",
      "{\"a\":\"\\u12\"}", "{\"a\":1}{\"b\":2}", "{\"a\":1,\"a\":2}", "\u0000", "{\"a\":\"\t\"}"};

  /**
   * Values each field cannot take, by field: wrong types, out of range, unknown enum values. Unknown fields are not
   * among the bad inputs: the API ignores them (forward compatibility), except in topic config, which is strict.
   */
  private static final java.util.Map<String, String[]> WRONG = java.util.Map.ofEntries(
      java.util.Map.entry("key", new String[] {"1", "true", "{}", "[]"}),
      java.util.Map.entry("keyEncoding", new String[] {"\"hex\"", "1", "[]"}),
      java.util.Map.entry("valueEncoding", new String[] {"\"hex\"", "5", "{}"}),
      java.util.Map.entry("partition", new String[] {"-1", "\"x\"", "1.5", "99999999999", "999", "[]"}),
      java.util.Map.entry("idempotencyKey", new String[] {"1", "{}", "[]"}),
      java.util.Map.entry("headers", new String[] {"\"x\"", "[]", "{\"h\":1}", "{\"h\":null}"}),
      java.util.Map.entry("partitions", new String[] {"0", "-1", "\"x\"", "1.5", "99999999999", "[]", "3"}),
      java.util.Map.entry("config", new String[] {"\"x\"", "1", "[]", "{\"retentionMs\":\"x\"}",
          "{\"unknown\":1}", "{\"segmentMs\":0}", "{\"maxRecordBytes\":-5}"}),
      java.util.Map.entry("topics", new String[] {"[]", "\"x\"", "[1]", "[\"no-such-topic\"]", "{}", "[\"..\"]"}),
      java.util.Map.entry("mode", new String[] {"\"x\"", "1"}),
      java.util.Map.entry("sessionTimeoutMs", new String[] {"-1", "\"x\"", "0", "1e309", "1.5"}),
      java.util.Map.entry("leaseMs", new String[] {"0", "\"x\"", "-5"}),
      java.util.Map.entry("startFrom", new String[] {"\"middle\"", "1"}),
      java.util.Map.entry("maxRecords", new String[] {"0", "-1", "\"x\"", "99999999999", "1.5"}),
      java.util.Map.entry("maxBytes", new String[] {"0", "\"x\"", "-1"}),
      java.util.Map.entry("maxWaitMs", new String[] {"-1", "\"x\"", "99999999"}),
      java.util.Map.entry("ack", new String[] {"\"x\"", "[1]", "[{}]", "{}"}),
      java.util.Map.entry("nack", new String[] {"\"x\"", "[1]", "[{\"token\":1}]", "[{\"token\":\"t\",\"delayMs\":-1}]"}),
      java.util.Map.entry("reject", new String[] {"\"x\"", "[1]", "[{\"token\":[]}]"}),
      java.util.Map.entry("extend", new String[] {"\"x\"", "[1]", "[{\"token\":\"t\",\"leaseMs\":-1}]"}),
      java.util.Map.entry("retryPolicy", new String[] {"\"x\"", "1", "[]", "{\"maxAttempts\":\"x\"}",
          "{\"maxAttempts\":-1}"}),
      java.util.Map.entry("deadLetterTopic", new String[] {"1", "\"\"", "\"a b\"", "[]"}),
      java.util.Map.entry("topic", new String[] {"1", "\"no-such-topic\"", "[]"}),
      java.util.Map.entry("to", new String[] {"\"x\"", "1"}),
      java.util.Map.entry("offsets", new String[] {"\"x\"", "[-1]", "[\"a\"]"}),
      // Topic config patches (PATCH /topics/{topic}): values refused, unknown keys, and a change of segmentMs.
      java.util.Map.entry("retentionMs", new String[] {"0", "-2", "\"x\"", "1.5", "99999999999999999999", "[]"}),
      java.util.Map.entry("maxRecordBytes", new String[] {"0", "-1", "99999999999", "\"x\""}),
      java.util.Map.entry("segmentMs", new String[] {"5", "0", "\"x\""}),
      java.util.Map.entry("dedup", new String[] {"\"yes\"", "1", "{}"}),
      java.util.Map.entry("dedupWindowMs", new String[] {"0", "\"x\"", "-1"}),
      java.util.Map.entry("bogusKey", new String[] {"1", "null"}),
      // Partition growth: never 3 or more (that would grow the fuzzed topic of 2 partitions).
      java.util.Map.entry("count", new String[] {"0", "1", "2", "-1", "\"x\"", "1.5", "99999999999", "10001", "[]",
          "null"}));

  /** Produce-record fields; a record with one of them wrong cannot be stored. */
  private static final String[] RECORD_FIELDS = {"key", "keyEncoding", "valueEncoding", "partition", "idempotencyKey",
      "headers"};

  private static final String[] BAD_NAMES = {"..", ".", "a%20b", "a%2Fb", "x".repeat(300), "%00", "%FF", "a%C3%28"};

  private static final String[] BAD_NUMBERS = {"abc", "-1", "-9999999999", "1e3", "0x10", "", "99999999999999999999",
      "1.5", "%20"};

  private static Bad generate(Random random) {
    return switch (random.nextInt(16)) {
      case 11 -> badWebhook(random);
      case 12 -> new Bad("POST", "/topics/" + TOPIC + pick(random, new String[] {"", "?partition=-1", "?partition=x",
          "?partition=7"}), pick(random, BAD_JSON).getBytes(StandardCharsets.UTF_8), java.util.Map.of("content-type",
          pick(random, new String[] {"application/json", "application/cloudevents+json",
              "application/cloudevents-batch+json"})));
      case 13 -> new Bad("POST", "/topics/" + TOPIC, "{}".getBytes(StandardCharsets.UTF_8), badBinaryEvent(random));
      case 14 -> badAdmin(random);
      case 0 -> new Bad("POST", "/topics/" + TOPIC + "/records", badProduce(random));
      case 1 -> new Bad("PUT", "/topics/" + TOPIC, badObject(random, "partitions", "config"));
      case 2 -> new Bad("PUT", "/topics/" + pick(random, BAD_NAMES), "{\"partitions\":1}".getBytes(StandardCharsets.UTF_8));
      case 3 -> new Bad("GET", "/topics/" + TOPIC + "/partitions/" + badPartition(random) + "/records?offset=0", null);
      case 4 -> new Bad("GET", "/topics/" + TOPIC + "/partitions/0/records?" + pick(random,
          new String[] {"offset", "maxRecords", "maxBytes"}) + "=" + pick(random, BAD_NUMBERS)
          + (random.nextBoolean() ? "" : "&offset=0"), null);
      case 5 -> new Bad("POST", "/groups/" + GROUP + "/members", badObject(random, "topics", "mode", "sessionTimeoutMs",
          "leaseMs", "startFrom"));
      case 6 -> new Bad("POST", "/groups/" + GROUP + "/members/" + member + "/fetch",
          badObject(random, "maxRecords", "maxBytes", "maxWaitMs"));
      case 7 -> new Bad("POST", "/groups/" + GROUP + "/acks", badObject(random, "ack", "nack", "reject", "extend"));
      case 8 -> new Bad("POST", "/groups/" + GROUP + "/topics/" + TOPIC + "/seek", badObject(random, "partitions"));
      case 9 -> new Bad("PUT", "/groups/" + GROUP, badObject(random, "retryPolicy", "deadLetterTopic"));
      case 10 -> new Bad("POST", "/groups/" + GROUP + "/dead-letters/redrive", badObject(random, "topic", "to", "offsets"));
      default -> switch (random.nextInt(4)) {
        case 0 -> new Bad("POST", "/groups/" + GROUP + "/members/not-a-member/fetch", "{}".getBytes(StandardCharsets.UTF_8));
        case 1 -> new Bad("GET", "/groups/" + GROUP + "/dead-letters?limit=" + pick(random, BAD_NUMBERS), null);
        case 2 -> new Bad("PATCH", "/topics/" + TOPIC + "/records", new byte[] {1, 2, 3});
        default -> new Bad("POST", "/topics/" + TOPIC + "/records", new byte[MAX_BODY + 1 + random.nextInt(1000)]);
      };
    };
  }

  /**
   * The admin routes, each refused: a config patch with a bad value, partition growth to no more partitions, reading
   * from a bad time, a group with members deleted without force, a bad dry-run or force flag, dead letters chosen
   * badly.
   */
  private static Bad badAdmin(Random random) {
    String flag = pick(random, new String[] {"yes", "1", "TRUE", "", "%20"});
    return switch (random.nextInt(8)) {
      case 0 -> new Bad("PATCH", "/topics/" + TOPIC, badObject(random, "retentionMs", "maxRecordBytes", "segmentMs",
          "dedup", "dedupWindowMs", "bogusKey", "retryPolicy", "deadLetterTopic"));
      case 1 -> new Bad("POST", "/topics/" + TOPIC + "/partitions", badObject(random, "count"));
      case 2 -> new Bad("GET", "/topics/" + pick(random, BAD_NAMES) + "/stats", null);
      case 3 -> new Bad("GET", "/topics/" + TOPIC + "/partitions/0/records?timestamp=" + pick(random, BAD_NUMBERS)
          + (random.nextBoolean() ? "" : "&offset=0"), null);
      case 4 -> new Bad("DELETE", "/groups/" + GROUP + (random.nextBoolean() ? "" : "?force=" + flag), null);
      case 5 -> new Bad("POST", "/groups/" + GROUP + "/topics/" + TOPIC + "/seek?dryRun=" + flag,
          "{\"to\":\"earliest\"}".getBytes(StandardCharsets.UTF_8));
      case 6 -> new Bad("POST", "/groups/" + GROUP + "/topics/" + TOPIC + "/seek", pick(random, new String[] {
          "{\"to\":\"x\"}", "{\"to\":\"earliest\",\"partitions\":[{\"partition\":0,\"to\":\"earliest\"}]}",
          "{\"to\":{\"offset\":99}}", "{}"}).getBytes(StandardCharsets.UTF_8));
      default -> new Bad("DELETE", "/groups/" + GROUP + "/dead-letters" + pick(random, new String[] {"",
          "?topic=" + TOPIC + "&offset=1", "?topic=" + TOPIC + "&partition=x", "?topic=" + TOPIC + "&partition=0&offset=a",
          "?topic=" + TOPIC + "&partition=0&offset=-1", "?topic=..", "?topic=" + TOPIC + "&partition=9"}), null);
    };
  }

  /** A webhook delivery whose signature does not verify: missing, garbled, of another secret, or too old. */
  private static Bad badWebhook(Random random) {
    long now = System.currentTimeMillis() / 1000;
    String id = "msg_" + random.nextInt(1000);
    byte[] body = "{\"type\":\"x\"}".getBytes(StandardCharsets.UTF_8);
    if (random.nextBoolean()) {
      java.util.Map<String, String> headers = new java.util.HashMap<>();
      headers.put("content-type", "application/json");
      headers.put("x-github-delivery", id);
      String signature = pick(random, new String[] {"sha256=", "sha256=zz", "md5=00", "sha256=" + "0".repeat(64), ""});
      if (!signature.isEmpty()) {
        headers.put("x-hub-signature-256", signature);
      }
      return new Bad("POST", "/webhooks/gh", body, headers);
    }
    long timestamp = switch (random.nextInt(3)) {
      case 0 -> now - 301 - random.nextInt(100_000);
      case 1 -> now + 301 + random.nextInt(100_000);
      default -> now;
    };
    String signature = pick(random, new String[] {"v1,", "v1,!!!", "v2,abc", "v1," + java.util.Base64.getEncoder()
        .encodeToString(new byte[32]), "", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="});
    java.util.Map<String, String> headers = new java.util.HashMap<>();
    headers.put("content-type", "application/json");
    headers.put("webhook-id", id);
    headers.put("webhook-timestamp", random.nextInt(5) == 0 ? pick(random, BAD_NUMBERS) : Long.toString(timestamp));
    if (!signature.isEmpty()) {
      headers.put("webhook-signature", signature);
    }
    return new Bad("POST", "/webhooks/hooks", body, headers);
  }

  /** Binary-mode CloudEvents headers with a required attribute missing or a bad spec version. */
  private static java.util.Map<String, String> badBinaryEvent(Random random) {
    java.util.Map<String, String> headers = new java.util.HashMap<>(java.util.Map.of("content-type", "application/json",
        "ce-specversion", "1.0", "ce-id", "e1", "ce-source", "urn:x", "ce-type", "t"));
    switch (random.nextInt(4)) {
      case 0 -> headers.remove("ce-id");
      case 1 -> headers.remove("ce-source");
      case 2 -> headers.remove("ce-type");
      default -> headers.put("ce-specversion", pick(random, new String[] {"0.1", "2.0", "x", ""}));
    }
    return headers;
  }

  /** A produce body that cannot be stored: broken JSON, a wrong type, bad base64, invalid UTF-8, or too large. */
  private static byte[] badProduce(Random random) {
    return switch (random.nextInt(6)) {
      case 0 -> pick(random, BAD_JSON).getBytes(StandardCharsets.UTF_8);
      case 1 -> ("{\"records\":" + pick(random, new String[] {"null", "1", "\"x\"", "{}", "[]", "[1]", "[null]",
          "[[]]"}) + "}").getBytes(StandardCharsets.UTF_8);
      case 2 -> ("{\"records\":[{\"value\":\"" + pick(random, new String[] {"!!!", "a", "ab=c", "====", "a b"})
          + "\",\"valueEncoding\":\"base64\"}]}").getBytes(StandardCharsets.UTF_8);
      case 3 -> {
        String field = pick(random, RECORD_FIELDS);
        yield ("{\"records\":[{\"value\":1,\"" + field + "\":" + pick(random, WRONG.get(field)) + "}]}")
            .getBytes(StandardCharsets.UTF_8);
      }
      case 4 -> {
        byte[] prefix = "{\"records\":[{\"value\":\"".getBytes(StandardCharsets.UTF_8);
        byte[] suffix = "\"}]}".getBytes(StandardCharsets.UTF_8);
        byte[] invalid = pick(random, new byte[][] {{(byte) 0xC3, 0x28}, {(byte) 0xFF}, {(byte) 0xED, (byte) 0xA0,
            (byte) 0x80}, {(byte) 0xF0, (byte) 0x28, (byte) 0x8C}});
        byte[] body = new byte[prefix.length + invalid.length + suffix.length];
        System.arraycopy(prefix, 0, body, 0, prefix.length);
        System.arraycopy(invalid, 0, body, prefix.length, invalid.length);
        System.arraycopy(suffix, 0, body, prefix.length + invalid.length, suffix.length);
        yield body;
      }
      default -> {  // a valid body cut short
        byte[] whole = "{\"records\":[{\"key\":\"k\",\"value\":{\"a\":[1,2,3]}}]}".getBytes(StandardCharsets.UTF_8);
        yield java.util.Arrays.copyOf(whole, random.nextInt(whole.length - 1));
      }
    };
  }

  /** A JSON object for a route whose fields are {@code fields}: broken JSON, or one field with a wrong value. */
  private static byte[] badObject(Random random, String... fields) {
    if (random.nextInt(3) == 0) {  // not the empty body: for some routes (fetch) it is a valid one
      return pick(random, java.util.Arrays.copyOfRange(BAD_JSON, 1, BAD_JSON.length)).getBytes(StandardCharsets.UTF_8);
    }
    String field = pick(random, fields);
    return ("{\"" + field + "\":" + pick(random, WRONG.get(field)) + "}").getBytes(StandardCharsets.UTF_8);
  }

  private static String badPartition(Random random) {
    return pick(random, new String[] {"-1", "2", "999", "abc", "1.0", "99999999999"});
  }

  private static <T> T pick(Random random, T[] choices) {
    return choices[random.nextInt(choices.length)];
  }

  private static HttpResponse<String> send(String method, String path, byte[] body) throws IOException, InterruptedException {
    return send(method, path, body, java.util.Map.of("content-type", "application/json"));
  }

  private static HttpResponse<String> send(String method, String path, byte[] body, java.util.Map<String, String> headers)
      throws IOException, InterruptedException {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + transport.actualPort() + path))
        .timeout(Duration.ofSeconds(30))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
    headers.forEach(request::header);
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }
}
