package dev.runnel.load;

import com.fasterxml.jackson.databind.JsonNode;
import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.runnel.load.HttpRunTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tool end to end over AMQP 1.0 against a Runnel node in this JVM (its AMQP listener and, for the topic, its HTTP
 * API, on loopback): short runs whose verification must pass, and one whose group is moved past unread records, which
 * must fail. AMQP's {@code accepted} names no position, so these runs are verified by identity, with each record
 * placed where the groups received it (README, "AMQP").
 */
class AmqpRunTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  @TempDir
  static Path dir;

  static InProcessNode node;

  @BeforeAll
  static void start() {
    node = new InProcessNode(PG, dir.resolve("node"));
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void aShortOpenLoopRunOverAmqpProducesConsumesAndVerifies() throws Exception {
    HttpRunTest.Run r = run(DriverFactory.DEFAULT, "run", "--target", node.amqpUrl(), "--admin-url", node.url(),
        "--topic", "amqp-short", "--partitions", "4", "--keys", "20", "--size", "200", "--producers", "2",
        "--consumers", "2", "--rate", "400", "--warmup", "500ms", "--duration", "2s", "--max-in-flight", "50",
        "--drain-timeout", "10s");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("target").asText()).isEqualTo(node.amqpUrl());
    // 2.5 s at 400/s: 1,000 records (a warm-up send finding all 50 slots taken is skipped, never sent).
    assertThat(t.get("produced").asLong() + t.get("skipped").asLong()).isEqualTo(1000);
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
    assertThat(t.get("consumed").asLong()).isGreaterThanOrEqualTo(t.get("acked").asLong());
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("reordered").asLong()).isZero();
    assertThat(t.get("unacknowledged").asLong()).isZero();
    assertThat(t.get("errors").asLong()).isZero();
    assertThat(t.get("latency").get("produceAck").get("count").asLong()).as("the 800 due in the measured 2 s")
        .isEqualTo(800);
    assertThat(t.get("latency").get("endToEnd").get("max").asDouble()).isPositive();
    assertThat(t.get("problems")).as(r.output()).isEmpty();
    assertThat(r.output()).contains("acknowledgements name no position");
    assertStoredInPartitions("amqp-short", t.get("acked").asLong());
  }

  /** Closed loop, batches of 20 through a window of 10 unsettled messages, shared groups, binary values. */
  @Test
  void aClosedLoopRunOfBatchesThroughASmallWindowInSharedModeVerifies() throws Exception {
    Path workload = dir.resolve("shared.yaml");
    Files.writeString(workload, """
        mode: shared
        valueKind: binary
        headers:
          source: load-test
        groups: 2
        """);
    HttpRunTest.Run r = run(DriverFactory.DEFAULT, "run", "--target", node.amqpUrl(), "--admin-url", node.url(),
        "--workload", workload.toString(), "--topic", "amqp-batched", "--partitions", "2", "--keys", "50", "--size",
        "100", "--producers", "2", "--consumers", "2", "--batch", "20", "--max-in-flight", "4", "--amqp-window", "10",
        "--warmup", "0s", "--duration", "1500ms");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("produced").asLong()).isPositive();
    assertThat(t.get("produced").asLong() % 20).as("whole batches").isZero();
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
    assertThat(t.get("consumed").asLong()).as("two groups, each all of them")
        .isGreaterThanOrEqualTo(2 * t.get("acked").asLong());
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("reordered").asLong()).isZero();
  }

  /** The group starts at the log start; the consumers join once every record is stored, and read them all. */
  @Test
  void aCatchUpRunOverAmqpReadsTheWholeBacklog() throws Exception {
    HttpRunTest.Run r = run(DriverFactory.DEFAULT, "run", "--target", node.amqpUrl(), "--admin-url", node.url(),
        "--topic", "amqp-catch-up", "--partitions", "2", "--producers", "2", "--consumers", "2", "--batch", "10",
        "--rate", "2000", "--warmup", "0s", "--duration", "500ms", "--catch-up");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("acked").asLong()).isEqualTo(1000);
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("reordered").asLong()).isZero();
    assertThat(t.get("consumed").asLong()).isEqualTo(1000 + t.get("duplicates").asLong());
  }

  /**
   * The group is moved to the end of the log (HTTP seek) after about 100 records were stored and before its consumer
   * reads any: acknowledged records never received, which an AMQP run must report as lost (exit 1) although no
   * acknowledgement named a position.
   */
  @Test
  void aGroupMovedPastUnreadRecordsEndsWithExitOneAndLost() throws Exception {
    Path workload = dir.resolve("earliest.yaml");
    Files.writeString(workload, "startFrom: earliest\n");
    String topic = "amqp-seek";
    DriverFactory seekingBeforeConsuming = (target, w) -> new HttpRunTest.WithGroupAction(
        DriverFactory.DEFAULT.open(target, w), false, group -> {
          HttpRunTest.awaitStored(node.url(), topic, 100);
          HttpRunTest.seekToLatest(node.url(), topic, group);
        });
    HttpRunTest.Run r = run(seekingBeforeConsuming, "run", "--target", node.amqpUrl(), "--admin-url", node.url(),
        "--workload", workload.toString(), "--topic", topic, "--partitions", "2", "--producers", "2", "--consumers",
        "1", "--rate", "400", "--warmup", "0s", "--duration", "1500ms", "--drain-timeout", "2s");
    assertThat(r.code()).as(r.output()).isEqualTo(1);
    JsonNode t = r.target();
    assertThat(t.get("lost").asLong()).as(r.output()).isGreaterThanOrEqualTo(100);
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
    assertThat(r.output()).contains("FAILED: " + node.amqpUrl()).contains("never received producer")
        .contains("acknowledged (without a position)");
  }

  /** What the node stored: exactly the acknowledged records (none twice), in the topic's partitions. */
  private static void assertStoredInPartitions(String topic, long acked) throws Exception {
    JsonNode d = HttpRunTest.JSON.readTree(HttpRunTest.get(node.url(), "/topics/" + topic));
    long stored = 0;
    for (JsonNode p : d.get("partitions")) {
      stored += p.get("highWatermark").asLong() - p.get("logStartOffset").asLong();
    }
    assertThat(stored).isEqualTo(acked);
  }
}
