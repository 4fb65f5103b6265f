package dev.runnel.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.server.RunnelConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static dev.runnel.load.HttpRunTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The load tool against a node with auth on and a Standard Webhooks source: {@code --api-key} on every call,
 * {@code --webhook} through the node's real webhook route (signature checked by the node, each delivery stored once
 * by its id), and what a missing key or a wrong secret does to a run.
 */
class SecuredNodeRunTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  @TempDir
  static Path dir;

  static final String KEY = "load:l0ad-s3cret";
  static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  static final String WEBHOOK_TOPIC = "webhook-run";
  static final ObjectMapper JSON = new ObjectMapper();

  static InProcessNode node;

  @BeforeAll
  static void start() {
    node = new InProcessNode(PG, dir.resolve("node"), config -> {
      RunnelConfig.Key key = new RunnelConfig.Key();
      key.name = "load";
      key.secret = "l0ad-s3cret";
      RunnelConfig.KeyRight all = new RunnelConfig.KeyRight();
      all.topics = "*";
      all.allow = List.of("produce", "consume", "admin");
      key.rights = List.of(all);
      config.auth.keys = List.of(key);
      RunnelConfig.Webhook payments = new RunnelConfig.Webhook();
      payments.topic = WEBHOOK_TOPIC;
      payments.scheme = "standard";
      payments.secrets = List.of(SECRET);
      config.webhooks.put("payments", payments);
    });
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void aRunWithTheApiKeyVerifiesAndOneWithoutIsRefused() throws Exception {
    HttpRunTest.Run r = run(DriverFactory.DEFAULT, "run", "--target", node.url(), "--api-key", KEY, "--topic", "keyed",
        "--partitions", "2", "--producers", "1", "--consumers", "1", "--batch", "5", "--rate", "500", "--warmup", "0s",
        "--duration", "1s");
    assertThat(r.code()).as(r.output()).isZero();
    assertThat(r.target().get("acked").asLong()).isEqualTo(500);
    assertThat(r.target().get("lost").asLong()).isZero();

    HttpRunTest.Run refused = run(DriverFactory.DEFAULT, true, "run", "--target", node.url(), "--topic", "keyless",
        "--producers", "1", "--consumers", "1", "--rate", "50", "--warmup", "0s", "--duration", "300ms",
        "--drain-timeout", "1s");
    assertThat(refused.code()).as(refused.output()).isNotZero();
    assertThat(refused.output()).contains("401").contains("UNAUTHORIZED");
  }

  /**
   * Every record one signed delivery to the node's webhook route (no API key there; the consumers use theirs). The
   * node stores each once, unkeyed, placed by its delivery id; every record must arrive at its acknowledged position.
   */
  @Test
  void aWebhookRunGoesThroughTheNodesSignedRoute() throws Exception {
    HttpRunTest.Run r = run(DriverFactory.DEFAULT, "run", "--target", node.url(), "--api-key", KEY, "--webhook",
        "payments", "--webhook-secret", SECRET, "--topic", WEBHOOK_TOPIC, "--partitions", "4", "--keys", "3", "--size",
        "300", "--producers", "2", "--consumers", "2", "--batch", "2", "--rate", "400", "--warmup", "0s",
        "--duration", "1s", "--max-in-flight", "50");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("produced").asLong()).isEqualTo(400);
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(400);
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("consumed").asLong()).isGreaterThanOrEqualTo(400);
    assertThat(r.output()).contains("no per-key order is checked");

    // Stored once each, with its own delivery id, unkeyed, spread over the partitions by that id.
    JsonNode partitions = JSON.readTree(get("/topics/" + WEBHOOK_TOPIC)).get("partitions");
    Set<String> ids = new HashSet<>();
    long stored = 0;
    int nonEmpty = 0;
    for (JsonNode p : partitions) {
      long hw = p.get("highWatermark").asLong();
      stored += hw;
      nonEmpty += hw > 0 ? 1 : 0;
      JsonNode records = JSON.readTree(get("/topics/" + WEBHOOK_TOPIC + "/partitions/" + p.get("partition").asInt()
          + "/records?offset=0&maxRecords=1000")).get("records");
      for (JsonNode record : records) {
        assertThat(record.get("key").isNull()).as("stored unkeyed: %s", record).isTrue();
        assertThat(record.get("headers").get("runnel.webhook.event").asText()).isEqualTo("runnel.load");
        ids.add(record.get("idempotencyKey").asText());
      }
    }
    assertThat(stored).isEqualTo(400);
    assertThat(ids).as("one delivery id per record").hasSize(400);
    assertThat(nonEmpty).as("spread over every partition by delivery id").isEqualTo(partitions.size());
  }

  @Test
  void aWebhookRunWithTheWrongSecretIsRefusedEveryDelivery() throws Exception {
    HttpRunTest.Run r = run(DriverFactory.DEFAULT, true, "run", "--target", node.url(), "--api-key", KEY, "--webhook",
        "payments", "--webhook-secret", "whsec_" + java.util.Base64.getEncoder().encodeToString(new byte[24]),
        "--topic", WEBHOOK_TOPIC, "--partitions", "4", "--producers", "1", "--consumers", "1", "--rate", "50",
        "--warmup", "0s",
        "--duration", "300ms", "--drain-timeout", "1s");
    assertThat(r.code()).as(r.output()).isEqualTo(2);
    assertThat(r.output()).contains("no send to " + node.url() + " was acknowledged").contains("401")
        .contains("INVALID_SIGNATURE");
  }

  private static String get(String path) throws Exception {
    HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(node.url() + path))
        .header("Authorization", "Bearer " + KEY).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    return response.body();
  }
}
