package dev.runnel.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.Driver;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.ProducerClient;
import dev.runnel.load.driver.RecordSink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletionStage;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tool end to end against a Runnel node in this JVM, over HTTP on loopback: short runs (a few seconds) whose
 * verification must pass, and one whose group is moved past unread records while it runs, which must fail.
 */
class HttpRunTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  @TempDir
  static Path dir;

  static InProcessNode node;
  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP = HttpClient.newHttpClient();

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

  /** Runs the command line; answers the exit code, what it printed and the JSON result. */
  static Run run(DriverFactory drivers, String... args) throws Exception {
    return run(drivers, false, args);
  }

  static Run run(DriverFactory drivers, boolean quiet, String... args) throws Exception {
    Path result = Files.createTempFile("runnel-load-result", ".json");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    String[] all = new String[args.length + 2];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = "--result";
    all[args.length + 1] = result.toString();
    int code = LoadMain.execute(all, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8), drivers, quiet);
    String text = out.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8);
    JsonNode json = Files.size(result) == 0 ? null : JSON.readTree(result.toFile());
    Files.delete(result);
    return new Run(code, text, json);
  }

  record Run(int code, String output, JsonNode json) {
    JsonNode target() {
      return json.get("targets").get(0);
    }
  }

  @Test
  void aShortOpenLoopRunProducesConsumesAndVerifies() throws Exception {
    Run r = run(DriverFactory.DEFAULT, "run", "--target", node.url(), "--topic", "short-run", "--partitions", "4",
        "--keys", "20", "--size", "200", "--producers", "2", "--consumers", "2", "--rate", "400", "--warmup", "500ms",
        "--duration", "2s", "--max-in-flight", "50", "--drain-timeout", "10s");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    for (String key : List.of("target", "produced", "acked", "unacknowledged", "consumed", "lost", "reordered",
        "duplicates", "late", "throughput", "latency")) {
      assertThat(t.has(key)).as("pinned key %s in %s", key, t).isTrue();
    }
    for (String key : List.of("produce", "consume", "produceMBps", "consumeMBps")) {
      assertThat(t.get("throughput").has(key)).as("throughput.%s", key).isTrue();
    }
    for (String which : List.of("produceAck", "endToEnd")) {
      for (String key : List.of("p50", "p99", "p999", "max")) {
        assertThat(t.get("latency").get(which).has(key)).as("latency.%s.%s", which, key).isTrue();
      }
    }
    assertThat(t.get("target").asText()).isEqualTo(node.url());
    // 2.5 s at 400/s: 1,000 records, every one acknowledged and received by the group, in order. (A warm-up send
    // that finds all 50 slots taken on a loaded machine is skipped, never sent; the measured 2 s send every record.)
    assertThat(t.get("produced").asLong() + t.get("skipped").asLong()).isEqualTo(1000);
    assertThat(t.get("skipped").asLong()).as("skipped in the warm-up only").isLessThanOrEqualTo(200);
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
    assertThat(t.get("consumed").asLong()).isGreaterThanOrEqualTo(t.get("acked").asLong());
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("reordered").asLong()).isZero();
    assertThat(t.get("unacknowledged").asLong()).isZero();
    assertThat(t.get("throughput").get("produce").asDouble()).isPositive();
    assertThat(t.get("latency").get("produceAck").get("count").asLong()).as("only the 800 due in the measured 2 s")
        .isEqualTo(800);
    assertThat(t.get("latency").get("endToEnd").get("max").asDouble()).isPositive();
    assertThat(r.output()).contains("| target |").contains("| " + node.url() + " | 1 |");
  }

  @Test
  void aClosedLoopRunOfBatchesInSharedModeWithAWorkloadFileVerifies() throws Exception {
    Path workload = dir.resolve("shared.yaml");
    Files.writeString(workload, """
        mode: shared
        valueKind: binary
        keyDistribution: zipf
        headers:
          source: load-test
        groups: 2
        progressInterval: 300ms
        """);
    Run r = run(DriverFactory.DEFAULT, "run", "--target", node.url(), "--workload", workload.toString(), "--topic",
        "batched-shared", "--partitions", "2", "--keys", "50", "--size", "100", "--producers", "2", "--consumers",
        "2", "--batch", "20", "--max-in-flight", "2", "--warmup", "0s", "--duration", "1500ms");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("produced").asLong()).isPositive();
    assertThat(t.get("produced").asLong() % 20).as("whole batches").isZero();
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
    assertThat(t.get("consumed").asLong()).as("two groups, each all of them")
        .isGreaterThanOrEqualTo(2 * t.get("acked").asLong());
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("reordered").asLong()).isZero();
    assertThat(r.output()).as("progress lines").containsPattern("\\[" + node.url() + "\\] (warmup|run|drain) .*produce "
        + ".*/s p99 .* ms consume .* errors 0 backlog \\d+ unconsumed \\d+");
  }

  @Test
  void aProduceOnlyRunCountsNoConsumptionAndPrintsNoProgressWhenQuiet() throws Exception {
    Run r = run(DriverFactory.DEFAULT, true, "run", "--target", node.url(), "--topic", "produce-only", "--consumers", "0",
        "--producers", "1", "--rate", "200", "--warmup", "0s", "--duration", "500ms");
    assertThat(r.code()).as(r.output()).isZero();
    assertThat(r.target().get("acked").asLong()).isPositive();
    assertThat(r.target().get("consumed").asLong()).isZero();
    assertThat(r.target().get("lost").asLong()).isZero();
    assertThat(r.output()).doesNotContain("[" + node.url() + "]").contains("| " + node.url() + " |");
  }

  /** A catch-up read: the group joins after every record is stored, from the earliest offset, and gets them all. */
  @Test
  void aCatchUpRunConsumesTheWholeBacklogAfterTheProducersStop() throws Exception {
    Run r = run(DriverFactory.DEFAULT, "run", "--target", node.url(), "--topic", "catch-up", "--partitions", "2",
        "--producers", "2", "--consumers", "2", "--batch", "10", "--rate", "2000", "--warmup", "0s", "--duration",
        "500ms", "--catch-up");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("acked").asLong()).isEqualTo(1000);
    // Every record, though nobody was a member while they were written; the second member's join moves partitions
    // from the first, so records it had in hand may come again (at least once): counted as duplicates, not lost.
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("reordered").asLong()).isZero();
    assertThat(t.get("consumed").asLong()).isEqualTo(1000 + t.get("duplicates").asLong());
    assertThat(t.get("throughput").get("consume").asDouble()).isPositive();
  }

  /** Two targets (here the same node named two ways) and two rounds: A B A B, each verified, then the ratios. */
  @Test
  void repeatedTargetsRunInTurnForEachRoundWithRatios() throws Exception {
    String a = node.url();
    String b = node.url() + "," + node.url();
    Run r = run(DriverFactory.DEFAULT, "run", "--target", a, "--target", b, "--rounds", "2", "--topic", "rounds",
        "--partitions", "2", "--producers", "1", "--consumers", "1", "--rate", "200", "--warmup", "0s",
        "--duration", "500ms");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode targets = r.json().get("targets");
    assertThat(targets).extracting(t -> t.get("target").asText() + "#" + t.get("round").asInt())
        .containsExactly(a + "#1", b + "#1", a + "#2", b + "#2");
    for (JsonNode t : targets) {
      assertThat(t.get("acked").asLong()).isEqualTo(100);
      assertThat(t.get("lost").asLong()).isZero();
    }
    JsonNode ratio = r.json().get("ratios").get(0);
    assertThat(ratio.get("target").asText()).isEqualTo(b);
    assertThat(ratio.get("baseline").asText()).isEqualTo(a);
    assertThat(r.output()).contains("Ratios to " + a);
  }

  /** A node of the target that does not answer: the topic, the producers and the consumers go to the next one. */
  @Test
  void aNodeThatDoesNotAnswerIsLeftForTheNextOne() throws Exception {
    String target = "http://127.0.0.1:1," + node.url();
    Run r = run(DriverFactory.DEFAULT, "run", "--target", target, "--topic", "failover", "--partitions", "2",
        "--producers", "2", "--consumers", "2", "--rate", "200", "--warmup", "0s", "--duration", "1s");
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("acked").asLong()).isPositive();
    assertThat(t.get("errors").asLong()).as("the first sends on the dead node fail, then the producer moves on")
        .isPositive().isLessThan(t.get("produced").asLong() / 4);
    assertThat(t.get("acked").asLong() + t.get("errors").asLong()).as("every send acknowledged or failed")
        .isEqualTo(t.get("produced").asLong());
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("consumed").asLong()).isGreaterThanOrEqualTo(t.get("acked").asLong());
  }

  /**
   * The group is moved to the end of the log (HTTP seek to latest) after about 100 records were stored and before
   * its consumer reads any: those acknowledged records are never received, and the run must say so and fail. The
   * group starts from the earliest record, so without the seek nothing would be lost.
   */
  @Test
  void aGroupMovedPastUnreadRecordsWhileTheRunGoesEndsWithExitOneAndLost() throws Exception {
    Path workload = dir.resolve("earliest.yaml");
    Files.writeString(workload, "startFrom: earliest\n");
    String topic = "seek-run";
    DriverFactory seekingBeforeConsuming = (target, w) -> new WithGroupAction(DriverFactory.DEFAULT.open(target, w),
        false, group -> {
          awaitStored(node.url(), topic, 100);
          seekToLatest(node.url(), topic, group);
        });
    Run r = run(seekingBeforeConsuming, "run", "--target", node.url(), "--workload", workload.toString(), "--topic",
        topic, "--partitions", "2", "--producers", "2", "--consumers", "1", "--rate", "400", "--warmup", "0s",
        "--duration", "1500ms", "--drain-timeout", "2s");
    assertThat(r.code()).as(r.output()).isEqualTo(1);
    JsonNode t = r.target();
    assertThat(t.get("lost").asLong()).as(r.output()).isGreaterThanOrEqualTo(100);
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
    assertThat(r.output()).contains("FAILED: " + node.url()).contains("never received producer");
  }

  /**
   * The test removes the group's member (HTTP DELETE) once about 100 records are stored: its next fetch answers
   * UNKNOWN_MEMBER, the consumer joins again and the run still receives everything.
   */
  @Test
  void aConsumerWhoseMemberIsRemovedJoinsAgainAndLosesNothing() throws Exception {
    String topic = "kicked";
    java.util.concurrent.atomic.AtomicReference<String> kicked = new java.util.concurrent.atomic.AtomicReference<>();
    DriverFactory kicking = (target, w) -> new WithGroupAction(DriverFactory.DEFAULT.open(target, w), true, group -> {
      awaitStored(node.url(), topic, 100);
      String id = JSON.readTree(get(node.url(), "/groups/" + group)).get("members").get(0).get("memberId").asText();
      HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(URI.create(node.url() + "/groups/" + group
          + "/members/" + id)).DELETE().build(), HttpResponse.BodyHandlers.ofString());
      assertThat(answer.statusCode()).as(answer.body()).isEqualTo(204);
      kicked.set(id);
    });
    Run r = run(kicking, "run", "--target", node.url(), "--topic", topic, "--partitions", "2", "--producers", "2",
        "--consumers", "1", "--rate", "400", "--warmup", "0s", "--duration", "1500ms");
    assertThat(kicked.get()).as("a member was removed").isNotNull();
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("reordered").asLong()).isZero();
  }

  /**
   * {@code --consume-with sse}: each consumer reads one Server-Sent Events stream (through a relay that sees which
   * connections are streams) and acks in batches: every record received exactly once, none lost, and every one acked
   * at the node (the group's committed offsets reach the high watermarks, which unacked deliveries would hold back).
   */
  @Test
  void anSseRunReceivesEveryRecordOnStreamsAndAcksEachOne() throws Exception {
    Path workload = dir.resolve("sse.yaml");
    Files.writeString(workload, "groupPrefix: sse-run\n");
    try (StreamCutter relay = new StreamCutter(node.url())) {
      Run r = run(DriverFactory.DEFAULT, "run", "--target", relay.url(), "--consume-with", "sse", "--workload",
          workload.toString(), "--topic", "sse-run", "--partitions", "4", "--keys", "20", "--size", "200",
          "--producers", "2", "--consumers", "2", "--rate", "400", "--warmup", "0s", "--duration", "2500ms",
          "--max-in-flight", "50", "--drain-timeout", "10s");
      assertThat(r.code()).as(r.output()).isZero();
      JsonNode t = r.target();
      // 2.5 s at 400/s: about 1,000 records (a producer thread that wakes late on a busy machine may send one less).
      assertThat(t.get("produced").asLong()).isBetween(990L, 1000L);
      assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
      assertThat(t.get("consumed").asLong()).as("each record once: " + r.output()).isEqualTo(t.get("acked").asLong());
      assertThat(t.get("duplicates").asLong()).isZero();
      assertThat(t.get("lost").asLong()).isZero();
      assertThat(t.get("reordered").asLong()).isZero();
      assertThat(t.get("latency").get("endToEnd").get("count").asLong()).as("each received once, timed")
          .isEqualTo(t.get("consumed").asLong());
      assertThat(t.get("latency").get("endToEnd").get("max").asDouble()).isPositive();
      assertThat(t.get("throughput").get("consume").asDouble()).isPositive();
      assertThat(t.get("problems")).as("no reconnect, no ack refused").isEmpty();
      assertThat(relay.streamRequests).as("one stream per consumer, on a connection of its own").hasSize(2)
          .allSatisfy(head -> assertThat(head).contains("/events?maxInFlight=").contains("Accept: text/event-stream"));
      assertThat(relay.fetches.get()).as("no fetch").isZero();
    }
    assertEveryRecordCommitted("sse-run-0", "sse-run");
  }

  /**
   * The test cuts the consumer's SSE connection once about 100 records are stored: it opens the stream again with
   * {@code Last-Event-ID}, the node sends again what it still leases from after that id, and nothing is lost.
   */
  @Test
  void anSseStreamTheTestCutsIsOpenedAgainWithLastEventIdAndLosesNothing() throws Exception {
    String topic = "sse-cut";
    try (StreamCutter relay = new StreamCutter(node.url())) {
      java.util.concurrent.atomic.AtomicInteger cut = new java.util.concurrent.atomic.AtomicInteger();
      DriverFactory cutting = (target, w) -> new WithGroupAction(DriverFactory.DEFAULT.open(target, w), true,
          group -> {
            awaitStored(node.url(), topic, 100);
            cut.set(relay.cutStreams());
          });
      Run r = run(cutting, "run", "--target", relay.url(), "--consume-with", "sse", "--topic", topic, "--partitions",
          "2", "--producers", "2", "--consumers", "1", "--rate", "400", "--warmup", "0s", "--duration", "1500ms");
      assertThat(cut.get()).as("a stream was cut").isEqualTo(1);
      assertThat(r.code()).as(r.output()).isZero();
      JsonNode t = r.target();
      assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
      assertThat(t.get("lost").asLong()).isZero();
      assertThat(t.get("reordered").asLong()).isZero();
      assertThat(t.get("consumed").asLong()).isGreaterThanOrEqualTo(t.get("acked").asLong());
      assertThat(relay.streamRequests.size()).as("opened again").isGreaterThanOrEqualTo(2);
      assertThat(StreamCutter.header(relay.streamRequests.get(0), "Last-Event-ID")).isNull();
      assertThat(StreamCutter.header(relay.streamRequests.get(1), "Last-Event-ID")).as(relay.streamRequests.get(1))
          .matches("[1-9][0-9]*");
      assertThat(r.output()).contains("SSE stream reconnect(s) (0 after joining again)");
    }
  }

  /** The test removes the SSE consumer's member: its stream ends with an UNKNOWN_MEMBER error, it joins again. */
  @Test
  void anSseConsumerWhoseMemberIsRemovedJoinsAgainAndLosesNothing() throws Exception {
    String topic = "sse-kicked";
    java.util.concurrent.atomic.AtomicReference<String> kicked = new java.util.concurrent.atomic.AtomicReference<>();
    DriverFactory kicking = (target, w) -> new WithGroupAction(DriverFactory.DEFAULT.open(target, w), true, group -> {
      awaitStored(node.url(), topic, 100);
      String id = JSON.readTree(get(node.url(), "/groups/" + group)).get("members").get(0).get("memberId").asText();
      HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(URI.create(node.url() + "/groups/" + group
          + "/members/" + id)).DELETE().build(), HttpResponse.BodyHandlers.ofString());
      assertThat(answer.statusCode()).as(answer.body()).isEqualTo(204);
      kicked.set(id);
    });
    Run r = run(kicking, "run", "--target", node.url(), "--consume-with", "sse", "--topic", topic, "--partitions",
        "2", "--producers", "2", "--consumers", "1", "--rate", "400", "--warmup", "0s", "--duration", "1500ms");
    assertThat(kicked.get()).as("a member was removed").isNotNull();
    assertThat(r.code()).as(r.output()).isZero();
    JsonNode t = r.target();
    assertThat(t.get("acked").asLong()).as(r.output()).isEqualTo(t.get("produced").asLong());
    assertThat(t.get("lost").asLong()).isZero();
    assertThat(t.get("reordered").asLong()).isZero();
    assertThat(r.output()).containsPattern("SSE stream reconnect\\(s\\) \\([1-9][0-9]* after joining again\\)");
  }

  /** Every partition of the group's topic committed up to its high watermark (waits a little for the commits). */
  static void assertEveryRecordCommitted(String group, String topic) throws Exception {
    JsonNode partitions = null;
    for (int i = 0; i < 50; i++) {
      partitions = JSON.readTree(get(node.url(), "/groups/" + group)).get("partitions");
      boolean all = partitions.size() > 0;
      for (JsonNode p : partitions) {
        all &= p.get("topic").asText().equals(topic)
            && p.get("committedOffset").asLong() == p.get("highWatermark").asLong();
      }
      if (all) {
        return;
      }
      java.util.concurrent.locks.LockSupport.parkNanos(100_000_000);  // between two looks at the group
    }
    assertThat(partitions).as("committed offsets at the high watermarks: every record acked").isNull();
  }

  /** What the test does to a group while the run goes, from its own thread. */
  interface GroupAction {
    void run(String group) throws Exception;
  }

  /**
   * The real driver, but each consumer comes with an action of the test on its group, run on its own thread: before
   * the consumer starts ({@code consumeFirst} false), or beside it.
   */
  record WithGroupAction(Driver delegate, boolean consumeFirst, GroupAction action)
      implements Driver {

    @Override
    public CompletionStage<Integer> prepareTopic(String t, int partitions) {
      return delegate.prepareTopic(t, partitions);
    }

    @Override
    public ProducerClient producer(String t) {
      return delegate.producer(t);
    }

    @Override
    public ConsumerClient consumer(String t, String group, GroupMode mode, RecordSink sink) {
      ConsumerClient real = delegate.consumer(t, group, mode, sink);
      return new ConsumerClient() {
        Thread actor;

        @Override
        public void start() {
          if (consumeFirst) {
            real.start();
          }
          actor = new Thread(() -> {
            try {
              action.run(group);
            } catch (Exception e) {
              throw new IllegalStateException(e);
            }
            if (!consumeFirst) {
              real.start();
            }
          });
          actor.start();
        }

        @Override
        public CompletionStage<Void> stop() {
          try {
            actor.join();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return real.stop();
        }
      };
    }

    @Override
    public List<String> notes() {
      return delegate.notes();
    }

    @Override
    public void close() {
      delegate.close();
    }
  }

  /** Waits until the topic holds at least {@code n} records (the producers are running meanwhile). */
  static void awaitStored(String url, String topic, long n) throws Exception {
    while (true) {
      JsonNode d = JSON.readTree(get(url, "/topics/" + topic));
      long stored = 0;
      for (JsonNode p : d.get("partitions")) {
        stored += p.get("highWatermark").asLong() - p.get("logStartOffset").asLong();
      }
      if (stored >= n) {
        return;
      }
      java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);  // between two looks at the topic
    }
  }

  static void seekToLatest(String url, String topic, String group) throws Exception {
    JsonNode d = JSON.readTree(get(url, "/topics/" + topic));
    StringBuilder body = new StringBuilder("{\"partitions\":[");
    for (int p = 0; p < d.get("partitions").size(); p++) {
      body.append(p == 0 ? "" : ",").append("{\"partition\":").append(p).append(",\"to\":\"latest\"}");
    }
    body.append("]}");
    HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(URI.create(url + "/groups/" + group + "/topics/"
        + topic + "/seek")).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
  }

  static String get(String url, String path) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(url + path)).build(), HttpResponse.BodyHandlers.ofString())
        .body();
  }
}
