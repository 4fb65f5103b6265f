package dev.runnel.server;

import dev.runnel.broker.Broker;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code GET /metrics} of a node wired as in production (RunnelNode: Vert.x's metrics and Runnel's meters in one
 * Prometheus registry), against an external Postgres, with the clock and the group ticks driven by the test: the
 * scrape counts exactly what happened to a topic and a group, the lag gauges show what the group's tick published,
 * HTTP statuses are counted by route, and who may scrape is checked (DESIGN.md sections 7 and 8).
 */
class MetricsHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final String OPS = "ops:0ps";              // admin on *
  private static final String ORDERS = "orders:0rd3rs";     // admin on orders* only: not enough for /metrics
  private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)})? (\\S+)$");
  private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

  @TempDir
  static Path dir;

  private static final ManualClock CLOCK = new ManualClock(1_800_000_000_000L);
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();
  private static RunnelNode node;

  @BeforeAll
  static void start() throws Exception {
    node = node("main", Map.of()).start();
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.stop();
    }
  }

  /** A node on this class's schema with the two keys, the test's clock and no tick timer. */
  private static RunnelNode node(String name, Map<String, String> flags) throws Exception {
    Path config = dir.resolve(name + ".yaml");
    Files.writeString(config, """
        auth:
          keys:
            - name: ops
              secret: "0ps"
              rights: [{topics: "*", allow: [produce, consume, admin]}]
            - name: orders
              secret: "0rd3rs"
              rights: [{topics: "orders*", allow: [produce, consume, admin]}]
        """);
    Map<String, String> all = new HashMap<>(Map.of("dataDir", dir.resolve(name).toString(), "http.port", "0",
        "http.host", "127.0.0.1", "postgres.schema", PG.schema(), "storage.minFreeBytes", "0",
        "http.shutdownGraceMs", "1000"));  // a stop keeps this test's idle keep-alive connections until the grace ends
    all.put("amqp.port", "0");
    all.put("amqp.host", "127.0.0.1");
    all.putAll(flags);
    RunnelConfig c = ConfigLoader.load(config, Map.of("RUNNEL_PG_URL", ExternalPostgresTest.url(TestPostgres.server())),
        all);
    return new RunnelNode(c).withClock(CLOCK, 0);
  }

  @Test
  void theScrapeCountsProducesOutcomesLagStorageAndHttpStatuses() throws Exception {
    JsonObject noJitter = new JsonObject().put("maxRetries", 3).put("initialDelayMs", 1000).put("backoffMultiplier", 2)
        .put("maxDelayMs", 300_000).put("jitter", 0);
    assertThat(call(node, OPS, "PUT", "/topics/t", new JsonObject().put("partitions", 1)
        .put("config", new JsonObject().put("retryPolicy", noJitter)).encode()).statusCode()).isEqualTo(201);
    StringBuilder records = new StringBuilder("{\"records\":[");
    for (int i = 0; i < 10; i++) {
      records.append(i == 0 ? "" : ",").append("{\"value\":{\"n\":").append(i).append("}}");
    }
    assertThat(call(node, OPS, "POST", "/topics/t/records", records + "]}").statusCode()).isEqualTo(200);
    assertThat(call(node, OPS, "GET", "/nope", null).statusCode()).isEqualTo(404);

    // 2 s later group g takes all ten; acks 0..6, nacks 7 (a retry), rejects 8 (a dead letter), keeps 9 in flight.
    CLOCK.advance(2_000);
    Broker broker = node.broker();
    Membership m = broker.join("g", new JoinRequest(List.of("t"), GroupMode.PARTITIONED, 3_600_000, 60_000, false))
        .await();
    List<Delivery> got = fetchAll(broker, m, 10);
    assertThat(got).extracting(Delivery::offset).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L);
    List<String> acks = got.subList(0, 7).stream().map(Delivery::token).toList();
    List<OutcomeResult> results = broker.settle("g", new Outcomes(acks,
        List.of(new Outcomes.Nack(got.get(7).token(), null, "try again")),
        List.of(new Outcomes.Reject(got.get(8).token(), "poison")), List.of())).await();
    assertThat(results).extracting(OutcomeResult::status).containsOnly(OutcomeResult.Status.OK).hasSize(9);
    // The lag as the group's tick publishes it, 7 s after the records were stored.
    CLOCK.advance(5_000);
    ((LocalBroker) broker).tick().await();

    HttpResponse<String> scrape = call(node, OPS, "GET", "/metrics", null);
    assertThat(scrape.statusCode()).isEqualTo(200);
    assertThat(scrape.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
    Scrape s = new Scrape(scrape.body());
    Map<String, String> t = Map.of("topic", "t");
    Map<String, String> tg = Map.of("topic", "t", "group", "g");
    assertThat(s.single("runnel_produced_records_total", t)).isEqualTo(10);
    assertThat(s.single("runnel_produced_bytes_total", t)).isGreaterThan(10 * "{\"n\":0}".length());
    assertThat(s.single("runnel_produce_latency_seconds_count", t)).isEqualTo(1);
    assertThat(s.single("runnel_produce_latency_seconds_bucket", Map.of("topic", "t", "le", "+Inf"))).isEqualTo(1);
    assertThat(s.single("runnel_delivered_records_total", tg)).isEqualTo(10);
    assertThat(s.single("runnel_acked_records_total", tg)).isEqualTo(7);
    assertThat(s.single("runnel_nacked_records_total", tg)).isEqualTo(1);
    assertThat(s.single("runnel_rejected_records_total", tg)).isEqualTo(1);
    assertThat(s.single("runnel_dead_lettered_records_total", Map.of("topic", "t", "group", "g", "reason", "rejected")))
        .isEqualTo(1);
    assertThat(s.single("runnel_dead_lettered_records_total", Map.of("topic", "t", "group", "g", "reason",
        "max-retries"))).isZero();
    assertThat(s.sum("runnel_dead_lettered_records_total", tg)).isEqualTo(1);
    assertThat(s.single("runnel_lease_expired_records_total", tg)).isZero();
    // Not done: 7 (parked for its retry) and 9 (in flight); the oldest of them was stored 7 s ago.
    assertThat(s.single("runnel_group_lag_records", tg)).isEqualTo(2);
    assertThat(s.single("runnel_group_lag_oldest_age_seconds", tg)).isEqualTo(7.0);
    // Each record's first delivery came 2 s after its append.
    assertThat(s.single("runnel_delivery_latency_seconds_count", tg)).isEqualTo(10);
    assertThat(s.single("runnel_delivery_latency_seconds_sum", tg)).isEqualTo(20.0);
    assertThat(s.single("runnel_delivery_latency_seconds_bucket", Map.of("topic", "t", "group", "g", "le", "1.0")))
        .isZero();
    assertThat(s.single("runnel_delivery_latency_seconds_bucket", Map.of("topic", "t", "group", "g", "le", "2.5")))
        .isEqualTo(10);
    // One write of ten records to t, one of the dead letter to its dead-letter topic.
    assertThat(s.single("runnel_storage_write_records_sum", t)).isEqualTo(10);
    assertThat(s.single("runnel_storage_write_records_count", t)).isEqualTo(1);
    assertThat(s.single("runnel_storage_write_latency_seconds_count", t)).isEqualTo(1);
    assertThat(s.single("runnel_storage_write_bytes_sum", t)).isGreaterThan(0);
    assertThat(s.single("runnel_storage_write_records_sum", Map.of("topic", "t.g.dlq"))).isEqualTo(1);
    assertThat(s.single("runnel_tail_cache_bytes", Map.of())).isGreaterThan(0);
    assertThat(s.single("runnel_tail_cache_budget_bytes", Map.of())).isEqualTo(64L * 1024 * 1024);
    assertThat(s.single("runnel_tail_cache_hits_total", Map.of())).as("the group read the fresh batch from memory")
        .isGreaterThanOrEqualTo(1);
    // Vert.x's HTTP server meters, by route template, method and status.
    assertThat(s.sum("vertx_http_server_requests_total", Map.of("code", "404"))).isGreaterThanOrEqualTo(1);
    assertThat(s.single("vertx_http_server_requests_total",
        Map.of("code", "200", "method", "POST", "route", "/topics/:topic/records"))).isEqualTo(1);
    assertThat(s.single("vertx_http_server_requests_total",
        Map.of("code", "201", "method", "PUT", "route", "/topics/:topic"))).isEqualTo(1);
    assertThat(s.labels("vertx_http_server_requests_total", "route")).as("route templates, never raw paths")
        .noneMatch(r -> r.contains("/t/") || r.endsWith("/t") || r.contains("nope"));
    assertThat(scrape.body()).contains("jvm_memory_used_bytes");

    // The retry comes and is acked, and so is 9: nothing left, and the gauges say so after the next tick.
    List<Delivery> retry = fetchAll(broker, m, 1);
    assertThat(retry).extracting(Delivery::offset, Delivery::attempt).containsExactly(org.assertj.core.groups.Tuple.tuple(7L, 2));
    broker.settle("g", new Outcomes(List.of(retry.get(0).token(), got.get(9).token()), List.of(), List.of(), List.of()))
        .await();
    assertThat(new Scrape(call(node, OPS, "GET", "/metrics", null).body()).single("runnel_group_lag_records", tg))
        .as("published by the tick, not computed by the scrape").isEqualTo(2);
    ((LocalBroker) broker).tick().await();
    Scrape after = new Scrape(call(node, OPS, "GET", "/metrics", null).body());
    assertThat(after.single("runnel_group_lag_records", tg)).isZero();
    assertThat(after.single("runnel_group_lag_oldest_age_seconds", tg)).isZero();
    assertThat(after.single("runnel_delivered_records_total", tg)).isEqualTo(11);
    assertThat(after.single("runnel_acked_records_total", tg)).isEqualTo(9);
    assertThat(after.single("runnel_delivery_latency_seconds_count", tg)).as("a retry is not a first delivery")
        .isEqualTo(10);
    assertThat(after.sum("vertx_http_server_requests_total", Map.of("code", "200", "route", "/metrics")))
        .isGreaterThanOrEqualTo(2);

    // A deleted topic's series go: its own and those of its groups.
    assertThat(call(node, OPS, "DELETE", "/topics/t", null).statusCode()).isEqualTo(204);
    Scrape deleted = new Scrape(call(node, OPS, "GET", "/metrics", null).body());
    for (String name : List.of("runnel_produced_records_total", "runnel_acked_records_total",
        "runnel_dead_lettered_records_total", "runnel_group_lag_records")) {
      assertThat(deleted.labels(name, "topic")).as(name).doesNotContain("t");
    }
  }

  @Test
  void metricsNeedAdminOnEveryTopic() throws Exception {
    HttpResponse<String> none = call(node, null, "GET", "/metrics", null);
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(none.body()).contains("\"code\":\"UNAUTHORIZED\"");
    HttpResponse<String> orders = call(node, ORDERS, "GET", "/metrics", null);
    assertThat(orders.statusCode()).as("admin on orders* is not admin on *").isEqualTo(403);
    assertThat(orders.body()).contains("\"code\":\"FORBIDDEN\"").doesNotContain("runnel_");
    assertThat(call(node, OPS, "GET", "/metrics", null).statusCode()).isEqualTo(200);
  }

  @Test
  void withPublicMetricsTheScrapeNeedsNoKeyButEverythingElseStillDoes() throws Exception {
    RunnelNode open = node("public", Map.of("auth.publicMetrics", "true")).start();
    try {
      assertThat(call(open, null, "GET", "/topics", null).statusCode()).isEqualTo(401);
      HttpResponse<String> scrape = call(open, null, "GET", "/metrics", null);
      assertThat(scrape.statusCode()).isEqualTo(200);
      assertThat(new Scrape(scrape.body()).single("vertx_http_server_requests_total", Map.of("code", "401")))
          .isEqualTo(1);
      assertThat(call(open, ORDERS, "GET", "/metrics", null).statusCode()).isEqualTo(200);
    } finally {
      open.stop();
    }
  }

  @Test
  void withMetricsOffTheRouteIsNotFound() throws Exception {
    RunnelNode off = node("off", Map.of("metrics.enabled", "false")).start();
    try {
      HttpResponse<String> scrape = call(off, OPS, "GET", "/metrics", null);
      assertThat(scrape.statusCode()).isEqualTo(404);
      assertThat(scrape.headers().firstValue("Content-Type")).hasValue("application/problem+json");
      assertThat(scrape.body()).contains("\"code\":\"NOT_FOUND\"");
      assertThat(call(off, null, "GET", "/metrics", null).statusCode()).isEqualTo(401);
    } finally {
      off.stop();
    }
  }

  private static List<Delivery> fetchAll(Broker broker, Membership m, int n) {
    List<Delivery> out = new ArrayList<>();
    for (int i = 0; i < 50 && out.size() < n; i++) {
      out.addAll(broker.fetch("g", m.memberId(), n - out.size(), 1 << 20, 200).await());
    }
    return out;
  }

  private static HttpResponse<String> call(RunnelNode node, String key, String method, String path, String body)
      throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path))
        .timeout(Duration.ofSeconds(30))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (body != null) {
      request.header("Content-Type", "application/json");
    }
    if (key != null) {
      request.header("Authorization", "Bearer " + key);
    }
    return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** The samples of a Prometheus text exposition, by name and labels. */
  private record Scrape(String text) {

    private List<Map.Entry<Map<String, String>, Double>> samples(String name) {
      List<Map.Entry<Map<String, String>, Double>> out = new ArrayList<>();
      for (String line : text.split("\n")) {
        Matcher m = SAMPLE.matcher(line);
        if (line.startsWith("#") || !m.matches() || !m.group(1).equals(name)) {
          continue;
        }
        Map<String, String> labels = new LinkedHashMap<>();
        if (m.group(2) != null) {
          Matcher l = LABEL.matcher(m.group(2));
          while (l.find()) {
            labels.put(l.group(1), l.group(2));
          }
        }
        out.add(Map.entry(labels, Double.parseDouble(m.group(3))));
      }
      return out;
    }

    private List<Double> matching(String name, Map<String, String> labels) {
      return samples(name).stream().filter(e -> e.getKey().entrySet().containsAll(labels.entrySet()))
          .map(Map.Entry::getValue).toList();
    }

    /** The one sample of {@code name} whose labels include these. */
    double single(String name, Map<String, String> labels) {
      List<Double> values = matching(name, labels);
      assertThat(values).as("%s%s in the scrape", name, labels).hasSize(1);
      return values.get(0);
    }

    /** The sum of the samples of {@code name} whose labels include these. */
    double sum(String name, Map<String, String> labels) {
      return matching(name, labels).stream().mapToDouble(Double::doubleValue).sum();
    }

    List<String> labels(String name, String label) {
      return samples(name).stream().map(e -> e.getKey().get(label)).filter(java.util.Objects::nonNull).toList();
    }
  }
}
