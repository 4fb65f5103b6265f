package dev.runnel.transport.http;

import static dev.runnel.transport.http.Reply.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;

import dev.runnel.broker.BrokerOptions;
import dev.runnel.broker.Partitioner;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.ApiKeys;
import dev.runnel.broker.auth.Grant;
import dev.runnel.broker.auth.Right;
import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;

/**
 * The admin routes over real HTTP, with auth on: topic config patch, partition growth, topic statistics, reading
 * from a time, group deletion, a seek's dry run and dead-letter deletion; their errors, and 403 without {@code admin}.
 */
class AdminHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final String OPS = "ops:0ps";              // everything on *
  private static final String ORDERS = "orders:0rd";        // everything on orders*
  private static final String READER = "reader:r3ad";       // produce and consume on orders*, no admin
  private static final ManualClock CLOCK = new ManualClock(1_800_000_000_000L);
  private static final AtomicInteger NAMES = new AtomicInteger();
  private static final String REJECT_NOW = "{\"maxRetries\":0,\"initialDelayMs\":1000,\"jitter\":0}";

  private static Vertx vertx;
  private static LogStore store;
  private static LocalBroker broker;
  private static HttpTransport transport;
  private static HttpClient http;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(CLOCK)).await();
    broker = new LocalBroker(vertx, store, new BrokerOptions().setClock(CLOCK).setTickMs(0).setRandomSeed(7L));
    ApiKeys keys = ApiKeys.of(List.of(
        new ApiKey("ops", "0ps", List.of(new Grant("*", EnumSet.allOf(Right.class)))),
        new ApiKey("orders", "0rd", List.of(new Grant("orders*", EnumSet.allOf(Right.class)))),
        new ApiKey("reader", "r3ad", List.of(new Grant("orders*", EnumSet.of(Right.PRODUCE, Right.CONSUME))))));
    transport = HttpTransport.create(vertx, new HttpTransportOptions().setHost("127.0.0.1").setPort(0)
        .setInstances(1).setShutdownGraceMs(1_000).setApiKeys(keys));
    transport.start(broker).await();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
  }

  @AfterAll
  static void stop() {
    if (transport != null) {
      transport.stop().await();
    }
    if (broker != null) {
      broker.close();
    }
    if (store != null) {
      store.close().await();
    }
    if (vertx != null) {
      vertx.close().await();
    }
  }

  // ---------------------------------------------------------------- PATCH /topics/{topic}

  @Test
  void aConfigPatchChangesTheKeysGivenAndAnswersTheTopic() {
    String topic = topic(1, "\"retentionMs\":3600000,\"segmentMs\":60000,\"retryPolicy\":{\"maxRetries\":5}");
    Reply patched = call(ORDERS, "PATCH", "/topics/" + topic,
        "{\"maxRecordBytes\":100,\"retryPolicy\":{\"initialDelayMs\":10},\"dedup\":true}");
    assertThat(patched.status()).as(patched.body()).isEqualTo(200);
    assertThat(patched.contentType()).isEqualTo("application/json");
    JsonObject config = patched.json().getJsonObject("config");
    assertThat(patched.json().getString("name")).isEqualTo(topic);
    assertThat(config.getLong("maxRecordBytes")).isEqualTo(100);
    assertThat(config.getLong("retentionMs")).as("kept").isEqualTo(3_600_000);
    assertThat(config.getBoolean("dedup")).isTrue();
    assertThat(config.getJsonObject("retryPolicy")).as("merged key by key")
        .isEqualTo(new JsonObject().put("maxRetries", 5).put("initialDelayMs", 10));
    assertThat(call(READER, "GET", "/topics/" + topic, null).json().getJsonObject("config")).isEqualTo(config);
    assertProblem(call(READER, "POST", "/topics/" + topic + "/records",
        "{\"records\":[{\"value\":\"" + "x".repeat(200) + "\"}]}"), 413, "RECORD_TOO_LARGE");

    // As application/merge-patch+json too; null resets a key.
    Reply reset = send(request("PATCH", "/topics/" + topic, "{\"maxRecordBytes\":null,\"retryPolicy\":null}")
        .header("Content-Type", "application/merge-patch+json").header("Authorization", "Bearer " + OPS));
    assertThat(reset.status()).as(reset.body()).isEqualTo(200);
    assertThat(reset.json().getJsonObject("config").getLong("maxRecordBytes")).isEqualTo(1_048_576);
    assertThat(reset.json().getJsonObject("config").containsKey("retryPolicy")).isFalse();

    String path = "/topics/" + topic;
    assertProblem(call(OPS, "PATCH", path, "{\"maxRecordBytes\":10,\"bogus\":1}"), 400, "INVALID_CONFIG");
    assertProblem(call(OPS, "PATCH", path, "{\"segmentMs\":1000}"), 400, "INVALID_CONFIG");
    assertProblem(call(OPS, "PATCH", path, "{\"retentionMs\":0}"), 400, "INVALID_CONFIG");
    assertProblem(call(OPS, "PATCH", path, "{\"retentionMs\":99999999999999999999}"), 400, "INVALID_CONFIG");
    assertProblem(call(OPS, "PATCH", path, "{\"retryPolicy\":{\"jitter\":2}}"), 400, "INVALID_CONFIG");
    assertProblem(call(OPS, "PATCH", path, "{\"retryPolicy\":{\"maxRetries\":\"3\"}}"), 400, "INVALID_CONFIG");
    assertProblem(call(OPS, "PATCH", path, "[1]"), 400, "INVALID_REQUEST");
    assertProblem(call(OPS, "PATCH", path, "{\"maxRecordBytes\":"), 400, "MALFORMED_JSON");
    assertThat(call(OPS, "GET", path, null).json().getJsonObject("config")).as("the refusals changed nothing")
        .isEqualTo(reset.json().getJsonObject("config"));
    assertThat(call(OPS, "PATCH", path, "{\"segmentMs\":60000}").status()).as("its own value").isEqualTo(200);
    assertProblem(call(OPS, "PATCH", "/topics/orders-nope-" + topic, "{}"), 404, "TOPIC_NOT_FOUND");
    assertProblem(call(READER, "PATCH", path, "{\"retentionMs\":1000}"), 403, "FORBIDDEN");
    assertProblem(call(null, "PATCH", path, "{\"retentionMs\":1000}"), 401, "UNAUTHORIZED");
  }

  // ---------------------------------------------------------------- POST /topics/{topic}/partitions

  @Test
  void partitionsGrowAndKeyedRecordsFollowTheNewCountButNeverShrink() {
    String topic = topic(2, "");
    String key = IntStream.range(0, 1000).mapToObj(i -> "k" + i)
        .filter(k -> Partitioner.partitionForKey(k, 2) != Partitioner.partitionForKey(k, 5)).findFirst().orElseThrow();
    produce(topic, "{\"key\":\"" + key + "\",\"value\":\"old\"}");
    Reply grown = call(ORDERS, "POST", "/topics/" + topic + "/partitions", "{\"count\":5}");
    assertThat(grown.status()).as(grown.body()).isEqualTo(200);
    assertThat(grown.json().getJsonArray("partitions")).hasSize(5);
    JsonObject result = call(READER, "POST", "/topics/" + topic + "/records",
        "{\"records\":[{\"key\":\"" + key + "\",\"value\":\"new\"}]}").json().getJsonArray("results").getJsonObject(0);
    assertThat(result.getInteger("partition")).isEqualTo(Partitioner.partitionForKey(key, 5));
    int old = Partitioner.partitionForKey(key, 2);
    assertThat(call(READER, "GET", "/topics/" + topic + "/partitions/" + old + "/records?offset=0", null).json()
        .getJsonArray("records").getJsonObject(0).getString("value")).isEqualTo("old");

    String path = "/topics/" + topic + "/partitions";
    assertProblem(call(OPS, "POST", path, "{\"count\":5}"), 400, "INVALID_REQUEST");
    assertProblem(call(OPS, "POST", path, "{\"count\":3}"), 400, "INVALID_REQUEST");
    assertProblem(call(OPS, "POST", path, "{\"count\":10001}"), 400, "INVALID_REQUEST");
    assertProblem(call(OPS, "POST", path, "{\"count\":\"6\"}"), 400, "INVALID_REQUEST");
    assertProblem(call(OPS, "POST", path, "{}"), 400, "INVALID_REQUEST");
    assertProblem(call(OPS, "POST", path, "{\"count\":"), 400, "MALFORMED_JSON");
    assertProblem(call(OPS, "POST", "/topics/orders-nope-" + topic + "/partitions", "{\"count\":6}"), 404,
        "TOPIC_NOT_FOUND");
    assertProblem(call(READER, "POST", path, "{\"count\":6}"), 403, "FORBIDDEN");
    assertThat(call(OPS, "GET", "/topics/" + topic, null).json().getJsonArray("partitions")).hasSize(5);
  }

  // ---------------------------------------------------------------- GET /topics/{topic}/stats

  @Test
  void statisticsAnswerEachPartitionAndTheTotal() {
    String topic = topic(2, "");
    long t0 = CLOCK.millis();
    produce(topic, "{\"value\":\"a\",\"partition\":0}", "{\"value\":\"b\",\"partition\":0}");
    CLOCK.advance(1_000);
    produce(topic, "{\"value\":\"c\",\"partition\":0}");
    Reply reply = call(ORDERS, "GET", "/topics/" + topic + "/stats", null);
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
    JsonObject stats = reply.json();
    assertThat(stats.fieldNames()).containsExactlyInAnyOrder("topic", "records", "bytes", "diskBytes", "segments",
        "oldestTimestamp", "newestTimestamp", "partitions");
    assertThat(stats.getLong("records")).isEqualTo(3);
    assertThat(stats.getLong("oldestTimestamp")).isEqualTo(t0);
    assertThat(stats.getLong("newestTimestamp")).isEqualTo(t0 + 1_000);
    assertThat(stats.getLong("diskBytes")).isGreaterThan(stats.getLong("bytes"));
    JsonArray partitions = stats.getJsonArray("partitions");
    JsonObject p0 = partitions.getJsonObject(0);
    assertThat(p0.getLong("records")).isEqualTo(3);
    assertThat(p0.getLong("highWatermark")).isEqualTo(3);
    assertThat(p0.getLong("logStartOffset")).isZero();
    assertThat(p0.getLong("bytes")).isPositive();
    assertThat(p0.getInteger("segments")).isEqualTo(1);
    assertThat(partitions.getJsonObject(1).getLong("records")).isZero();
    assertThat(partitions.getJsonObject(1).getValue("oldestTimestamp")).as("none").isNull();
    assertProblem(call(READER, "GET", "/topics/" + topic + "/stats", null), 403, "FORBIDDEN");
    assertProblem(call(OPS, "GET", "/topics/orders-nope-" + topic + "/stats", null), 404, "TOPIC_NOT_FOUND");
  }

  // ---------------------------------------------------------------- GET .../records?timestamp=

  @Test
  void recordsAreReadFromATimeAsFromAnOffset() {
    String topic = topic(1, "");
    produce(topic, "{\"value\":0}", "{\"value\":1}");
    CLOCK.advance(1_000);
    long t1 = CLOCK.millis();
    produce(topic, "{\"value\":2}");
    String path = "/topics/" + topic + "/partitions/0/records";
    JsonObject fromTime = call(READER, "GET", path + "?timestamp=" + t1, null).json();
    assertThat(fromTime.getJsonArray("records")).extracting(r -> ((JsonObject) r).getLong("offset")).containsExactly(2L);
    assertThat(call(READER, "GET", path + "?timestamp=0&maxRecords=1", null).json().getJsonArray("records")
        .getJsonObject(0).getLong("offset")).isZero();
    JsonObject later = call(READER, "GET", path + "?timestamp=" + (t1 + 1), null).json();
    assertThat(later.getJsonArray("records")).isEmpty();
    assertThat(later.getLong("nextOffset")).as("the high watermark").isEqualTo(3);

    assertProblem(call(READER, "GET", path + "?timestamp=" + t1 + "&offset=0", null), 400, "INVALID_REQUEST");
    assertProblem(call(READER, "GET", path, null), 400, "INVALID_REQUEST");
    assertProblem(call(READER, "GET", path + "?timestamp=-1", null), 400, "INVALID_REQUEST");
    assertProblem(call(READER, "GET", path + "?timestamp=soon", null), 400, "INVALID_REQUEST");
    assertProblem(call(READER, "GET", "/topics/" + topic + "/partitions/3/records?timestamp=0", null), 404,
        "PARTITION_OUT_OF_RANGE");
  }

  // ---------------------------------------------------------------- DELETE /groups/{group}

  @Test
  void aGroupWithMembersIsDeletedOnlyWithForceAndThenIsGone() {
    String topic = topic(1, "");
    produce(topic, "{\"value\":0}", "{\"value\":1}");
    String group = unique("orders-g");
    String member = join(READER, group, topic, "earliest");
    assertThat(fetch(READER, group, member)).hasSize(2);

    Reply refused = call(ORDERS, "DELETE", "/groups/" + group, null);
    assertProblem(refused, 409, "GROUP_NOT_EMPTY");
    assertThat(refused.json().getString("detail")).contains(member);
    assertProblem(call(ORDERS, "DELETE", "/groups/" + group + "?force=yes", null), 400, "INVALID_REQUEST");
    assertProblem(call(READER, "DELETE", "/groups/" + group + "?force=true", null), 403, "FORBIDDEN");
    assertThat(call(READER, "GET", "/groups/" + group, null).json().getJsonArray("members")).hasSize(1);

    Reply deleted = call(ORDERS, "DELETE", "/groups/" + group + "?force=true", null);
    assertThat(deleted.status()).as(deleted.body()).isEqualTo(204);
    // (For a key without rights on every topic a group that has no topics left is 403, as one nobody joined.)
    assertProblem(call(OPS, "POST", "/groups/" + group + "/members/" + member + "/fetch", "{}"), 404,
        "UNKNOWN_MEMBER");
    assertProblem(call(OPS, "GET", "/groups/" + group, null), 404, "NOT_FOUND");
    assertProblem(call(OPS, "DELETE", "/groups/" + group, null), 404, "NOT_FOUND");
    // Joining again starts from scratch: both records again.
    String again = join(READER, group, topic, "earliest");
    assertThat(fetch(READER, group, again)).hasSize(2);
  }

  @Test
  void deletingAGroupNeedsAdminOnEveryTopicItHasStateIn() {
    String orders = topic(1, "");
    String other = "other-" + NAMES.incrementAndGet();
    assertThat(call(OPS, "PUT", "/topics/" + other, "{}").status()).isEqualTo(201);
    String group = unique("orders-g");
    // Positions in both topics, then no member left.
    String member = join(OPS, group, orders, "earliest");
    assertThat(call(OPS, "DELETE", "/groups/" + group + "/members/" + member, null).status()).isEqualTo(204);
    assertThat(call(OPS, "POST", "/groups/" + group + "/topics/" + other + "/seek", "{\"to\":\"earliest\"}").status())
        .isEqualTo(200);
    broker.saveAll().await();

    assertProblem(call(ORDERS, "DELETE", "/groups/" + group, null), 403, "FORBIDDEN");
    assertThat(call(OPS, "DELETE", "/groups/" + group, null).status()).isEqualTo(204);
  }

  // ---------------------------------------------------------------- seek ?dryRun=true

  @Test
  void aSeekDryRunAnswersWhereEachPartitionWouldMoveAndMovesNothing() {
    String topic = topic(2, "");
    produce(topic, "{\"value\":0,\"partition\":0}", "{\"value\":1,\"partition\":0}");
    CLOCK.advance(1_000);
    long t1 = CLOCK.millis();
    produce(topic, "{\"value\":2,\"partition\":0}");
    String group = unique("orders-g");
    String member = join(READER, group, topic, "earliest");
    ack(group, fetch(READER, group, member));
    broker.saveAll().await();

    String seek = "/groups/" + group + "/topics/" + topic + "/seek";
    Reply dry = call(ORDERS, "POST", seek + "?dryRun=true", "{\"to\":{\"timestamp\":" + t1 + "}}");
    assertThat(dry.status()).as(dry.body()).isEqualTo(200);
    assertThat(dry.json()).isEqualTo(new JsonObject().put("dryRun", true).put("partitions", new JsonArray()
        .add(new JsonObject().put("partition", 0).put("committedOffset", 3).put("newOffset", 2))
        .add(new JsonObject().put("partition", 1).put("committedOffset", 0).put("newOffset", 0))));
    assertThat(fetch(READER, group, member)).as("nothing moved").isEmpty();
    assertThat(committed(group, 0)).isEqualTo(3);

    Reply moved = call(ORDERS, "POST", seek, "{\"partitions\":[{\"partition\":0,\"to\":{\"timestamp\":" + t1 + "}}]}");
    assertThat(moved.json()).isEqualTo(new JsonObject().put("dryRun", false).put("partitions", new JsonArray()
        .add(new JsonObject().put("partition", 0).put("committedOffset", 3).put("newOffset", 2))));
    assertThat(fetch(READER, group, member)).extracting(d -> ((JsonObject) d).getLong("offset")).containsExactly(2L);

    assertProblem(call(ORDERS, "POST", seek + "?dryRun=maybe", "{\"to\":\"latest\"}"), 400, "INVALID_REQUEST");
    assertProblem(call(ORDERS, "POST", seek, "{\"to\":\"latest\",\"partitions\":[{\"partition\":0,\"to\":\"latest\"}]}"),
        400, "INVALID_REQUEST");
    assertProblem(call(ORDERS, "POST", seek + "?dryRun=true", "{\"partitions\":[{\"partition\":0,\"to\":{\"offset\":9}}]}"),
        416, "OFFSET_OUT_OF_RANGE");
    assertProblem(call(READER, "POST", seek + "?dryRun=true", "{\"to\":\"latest\"}"), 403, "FORBIDDEN");
  }

  // ---------------------------------------------------------------- DELETE /groups/{group}/dead-letters

  @Test
  void deadLettersAreDeletedOneByOneOrAllAndNoLongerListed() {
    String topic = topic(1, "\"retryPolicy\":" + REJECT_NOW);
    produce(topic, "{\"value\":0}", "{\"value\":1}", "{\"value\":2}");
    String group = unique("orders-g");
    String member = join(READER, group, topic, "earliest");
    JsonArray deliveries = fetch(READER, group, member);
    JsonArray rejects = new JsonArray();
    deliveries.forEach(d -> rejects.add(new JsonObject().put("token", ((JsonObject) d).getString("token"))));
    assertThat(call(READER, "POST", "/groups/" + group + "/acks", new JsonObject().put("reject", rejects).encode())
        .status()).isEqualTo(200);
    String list = "/groups/" + group + "/dead-letters?topic=" + topic;
    assertThat(offsets(call(READER, "GET", list, null).json().getJsonArray("deadLetters"))).containsExactly(0L, 1L, 2L);

    Reply one = call(ORDERS, "DELETE", list + "&partition=0&offset=1", null);
    assertThat(one.status()).as(one.body()).isEqualTo(200);
    assertThat(one.json()).isEqualTo(new JsonObject().put("deleted", 1));
    assertThat(offsets(call(READER, "GET", list, null).json().getJsonArray("deadLetters"))).containsExactly(0L, 2L);
    assertThat(call(ORDERS, "DELETE", list + "&partition=0&offset=1,7", null).json().getInteger("deleted")).isZero();

    assertProblem(call(ORDERS, "DELETE", list + "&offset=0", null), 400, "INVALID_REQUEST");
    assertProblem(call(ORDERS, "DELETE", list + "&partition=0&offset=x", null), 400, "INVALID_REQUEST");
    assertProblem(call(ORDERS, "DELETE", "/groups/" + group + "/dead-letters", null), 400, "INVALID_REQUEST");
    assertProblem(call(ORDERS, "DELETE", list + "&partition=4", null), 404, "PARTITION_OUT_OF_RANGE");
    assertProblem(call(READER, "DELETE", list, null), 403, "FORBIDDEN");

    assertThat(call(ORDERS, "DELETE", list, null).json().getInteger("deleted")).isEqualTo(2);
    assertThat(call(READER, "GET", list, null).json().getJsonArray("deadLetters")).isEmpty();
    // The dead-letter records themselves stay in the dead-letter topic.
    assertThat(call(OPS, "GET", "/topics/" + topic + "." + group + ".dlq/partitions/0/records?offset=0", null).json()
        .getJsonArray("records")).hasSize(3);
  }

  // ---------------------------------------------------------------- helpers

  private static String unique(String prefix) {
    return prefix + "-" + NAMES.incrementAndGet();
  }

  /** A topic on orders* (the ORDERS key's), with these config entries. */
  private static String topic(int partitions, String config) {
    String name = unique("orders-t");
    Reply created = call(OPS, "PUT", "/topics/" + name, "{\"partitions\":" + partitions + ",\"config\":{" + config + "}}");
    assertThat(created.status()).as(created.body()).isEqualTo(201);
    return name;
  }

  private static void produce(String topic, String... records) {
    Reply reply = call(READER, "POST", "/topics/" + topic + "/records", "{\"records\":[" + String.join(",", records) + "]}");
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
  }

  private static String join(String key, String group, String topic, String startFrom) {
    Reply reply = call(key, "POST", "/groups/" + group + "/members", "{\"topics\":[\"" + topic + "\"],\"mode\":\"shared\","
        + "\"startFrom\":\"" + startFrom + "\"}");
    assertThat(reply.status()).as(reply.body()).isEqualTo(201);
    return reply.json().getString("memberId");
  }

  private static JsonArray fetch(String key, String group, String member) {
    broker.idle().await();
    Reply reply = call(key, "POST", "/groups/" + group + "/members/" + member + "/fetch", "{\"maxRecords\":100}");
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
    return reply.json().getJsonArray("deliveries");
  }

  private static void ack(String group, JsonArray deliveries) {
    JsonArray tokens = new JsonArray();
    deliveries.forEach(d -> tokens.add(((JsonObject) d).getString("token")));
    assertThat(call(READER, "POST", "/groups/" + group + "/acks", new JsonObject().put("ack", tokens).encode()).status())
        .isEqualTo(200);
  }

  private static long committed(String group, int partition) {
    return call(OPS, "GET", "/groups/" + group, null).json().getJsonArray("partitions").stream()
        .map(p -> (JsonObject) p).filter(p -> p.getInteger("partition") == partition).findFirst().orElseThrow()
        .getLong("committedOffset");
  }

  private static List<Long> offsets(JsonArray letters) {
    return letters.stream().map(l -> ((JsonObject) l).getLong("offset")).toList();
  }

  private static HttpRequest.Builder request(String method, String path, String body) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + transport.actualPort() + path))
        .timeout(Duration.ofSeconds(30))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
  }

  private static Reply call(String key, String method, String path, String body) {
    HttpRequest.Builder request = request(method, path, body).header("Content-Type", "application/json");
    return send(key == null ? request : request.header("Authorization", "Bearer " + key));
  }

  private static Reply send(HttpRequest.Builder request) {
    try {
      HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
      return new Reply(response.statusCode(), response);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
