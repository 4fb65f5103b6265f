package dev.runnel.transport.http;

import static dev.runnel.transport.http.Reply.assertProblem;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerOptions;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;
import static org.junit.jupiter.params.provider.Arguments.arguments;

/**
 * The consumer-group routes over real HTTP, against a real broker on the embedded Postgres. Time (retry schedules,
 * leases, record timestamps, lag ages) comes from a manual clock, and the broker's timers run only when a test ticks.
 */
class GroupHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final AtomicInteger NAMES = new AtomicInteger();
  private static final String NO_JITTER = "{\"maxRetries\":3,\"initialDelayMs\":1000,\"backoffMultiplier\":2,"
      + "\"maxDelayMs\":300000,\"jitter\":0}";
  private static final Set<String> RECORD_FIELDS = Set.of("key", "keyEncoding", "value", "valueEncoding", "headers",
      "partition", "offset", "timestamp");
  private static final Set<String> DELIVERY_FIELDS = Set.of("token", "topic", "partition", "offset", "attempt",
      "leaseExpiresAt", "key", "keyEncoding", "value", "valueEncoding", "headers", "timestamp");

  private static final ManualClock CLOCK = new ManualClock(1_800_000_000_000L);
  private static Vertx vertx;
  private static LogStore store;
  private static LocalBroker local;
  /** The broker the transport serves: {@link #local}, with the fetches of watched groups reported to the tests. */
  private static Broker broker;
  private static final Map<String, BlockingQueue<Future<List<Delivery>>>> FETCHES = new ConcurrentHashMap<>();
  private static HttpTransport transport;
  private static HttpClient http;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(CLOCK)).await();
    local = new LocalBroker(vertx, store, new BrokerOptions().setClock(CLOCK).setTickMs(0).setRandomSeed(7L));
    broker = observingFetches(local);
    transport = HttpTransport.create(vertx, new HttpTransportOptions()
        .setHost("127.0.0.1").setPort(0).setInstances(1).setMaxBodyBytes(256 * 1024).setShutdownGraceMs(1_000));
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

  // ---------------------------------------------------------------- membership

  @Test
  void joinAnswersMemberGenerationAndAssignmentInBothModes() {
    String topic = topic(3, null);
    String group = unique("g");

    Reply joined = call("POST", "/groups/" + group + "/members", "{\"topics\":[\"" + topic + "\"]}");
    assertThat(joined.status()).isEqualTo(201);
    assertThat(joined.contentType()).isEqualTo("application/json");
    JsonObject m = joined.json();
    assertThat(m.fieldNames()).containsExactly("memberId", "generation", "assignment");
    assertThat(m.getString("memberId")).isNotBlank();
    assertThat(m.getInteger("generation")).isPositive();
    assertThat(m.getJsonObject("assignment")).isEqualTo(new JsonObject().put(topic, new JsonArray().add(0).add(1).add(2)));
    assertThat(joined.header("Location")).isEqualTo("/groups/" + group + "/members/" + m.getString("memberId"));

    // A second member: a new generation, and the partitions are split between the two.
    JsonObject second = join(group, "{\"topics\":[\"" + topic + "\"],\"mode\":\"partitioned\"}");
    assertThat(second.getInteger("generation")).isGreaterThan(m.getInteger("generation"));
    JsonObject described = call("GET", "/groups/" + group, null).json();
    Set<Object> assigned = new HashSet<>();
    for (Object o : described.getJsonArray("members")) {
      JsonArray partitions = ((JsonObject) o).getJsonObject("assignment").getJsonArray(topic);
      assertThat(partitions).isNotNull().isNotEmpty();
      partitions.forEach(p -> assertThat(assigned.add(p)).as("partition %s assigned once", p).isTrue());
    }
    assertThat(assigned).containsExactlyInAnyOrder(0, 1, 2);

    String shared = unique("s");
    JsonObject s = join(shared, "{\"topics\":[\"" + topic + "\"],\"mode\":\"shared\",\"sessionTimeoutMs\":60000,"
        + "\"leaseMs\":5000}");
    assertThat(s.fieldNames()).containsExactly("memberId", "generation", "assignment");
    assertThat(s.getJsonObject("assignment")).isEqualTo(new JsonObject());
  }

  @Test
  void startFromLatestSkipsWhatIsAlreadyThereAndLeaseMsSetsTheLease() {
    String topic = topic(1, null);
    produce(topic, "{\"value\":\"old\"}");
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"],\"startFrom\":\"latest\",\"leaseMs\":7000}")
        .getString("memberId");
    assertThat(fetch(group, member, "{}")).isEmpty();
    produce(topic, "{\"value\":\"new\"}");
    JsonArray deliveries = fetch(group, member, "{\"maxWaitMs\":5000}");
    assertThat(deliveries).hasSize(1);
    assertThat(deliveries.getJsonObject(0).getValue("value")).isEqualTo("new");
    assertThat(deliveries.getJsonObject(0).getLong("leaseExpiresAt")).isEqualTo(CLOCK.millis() + 7000);

    // A lease above the cap is capped at 10 minutes.
    String capped = unique("g");
    String other = join(capped, "{\"topics\":[\"" + topic + "\"],\"leaseMs\":99999999}").getString("memberId");
    JsonObject d = fetch(capped, other, "{\"maxRecords\":1}").getJsonObject(0);
    assertThat(d.getLong("leaseExpiresAt")).isEqualTo(CLOCK.millis() + 600_000);
  }

  @Test
  void leaveAnswers204AndTheMemberIsGoneHeartbeatKeepsItAlive() {
    String topic = topic(1, null);
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    Reply heartbeat = call("POST", "/groups/" + group + "/members/" + member + "/heartbeat", null);
    assertThat(heartbeat.status()).isEqualTo(204);
    assertThat(heartbeat.body()).isEmpty();

    Reply left = call("DELETE", "/groups/" + group + "/members/" + member, null);
    assertThat(left.status()).isEqualTo(204);
    assertThat(left.body()).isEmpty();
    assertProblem(call("POST", "/groups/" + group + "/members/" + member + "/fetch", "{}"), 404, "UNKNOWN_MEMBER");
    assertProblem(call("DELETE", "/groups/" + group + "/members/" + member, null), 404, "UNKNOWN_MEMBER");
    assertProblem(call("POST", "/groups/" + group + "/members/" + member + "/heartbeat", null), 404, "UNKNOWN_MEMBER");
    assertThat(call("GET", "/groups/" + group, null).json().getJsonArray("members")).isEmpty();
  }

  // ---------------------------------------------------------------- fetch and outcomes

  @Test
  void fetchAnswersThePinnedDeliveryShapeWithTheRecordAsTheReadApiRendersIt() {
    String topic = topic(1, null);
    produce(topic, "{\"key\":\"k1\",\"value\":{\"n\":1.10},\"headers\":{\"h\":\"v\"},\"idempotencyKey\":\"idem-1\"}",
        "{\"value\":\"AAH/\",\"valueEncoding\":\"base64\"}");
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"],\"leaseMs\":20000}").getString("memberId");

    Reply reply = call("POST", "/groups/" + group + "/members/" + member + "/fetch", "{\"maxRecords\":10}");
    assertThat(reply.status()).isEqualTo(200);
    assertThat(reply.contentType()).isEqualTo("application/json");
    assertThat(reply.json().fieldNames()).containsExactly("deliveries");
    JsonArray deliveries = reply.json().getJsonArray("deliveries");
    assertThat(deliveries).hasSize(2);
    assertThat(reply.body()).contains("\"value\":{\"n\":1.10}");  // exact digits, as the read API keeps them

    JsonArray read = call("GET", "/topics/" + topic + "/partitions/0/records?offset=0", null).json().getJsonArray("records");
    for (int i = 0; i < 2; i++) {
      JsonObject d = deliveries.getJsonObject(i);
      JsonObject r = read.getJsonObject(i);
      Set<String> expected = new HashSet<>(DELIVERY_FIELDS);
      if (r.containsKey("idempotencyKey")) {
        expected.add("idempotencyKey");
      }
      assertThat(d.fieldNames()).containsExactlyInAnyOrderElementsOf(expected);
      assertThat(r.fieldNames()).isSubsetOf(d.fieldNames());
      for (String field : r.fieldNames()) {
        assertThat(d.getValue(field)).as("field %s of delivery %d", field, i).isEqualTo(r.getValue(field));
      }
      assertThat(d.getString("topic")).isEqualTo(topic);
      assertThat(d.getInteger("partition")).isZero();
      assertThat(d.getLong("offset")).isEqualTo(i);
      assertThat(d.getInteger("attempt")).isEqualTo(1);
      assertThat(d.getLong("leaseExpiresAt")).isEqualTo(CLOCK.millis() + 20000);
      assertThat(d.getString("token")).hasSizeLessThanOrEqualTo(256).matches("[A-Za-z0-9_-]+");
    }
    JsonObject first = deliveries.getJsonObject(0);
    assertThat(first.getString("key")).isEqualTo("k1");
    assertThat(first.getString("idempotencyKey")).isEqualTo("idem-1");
    assertThat(first.getJsonObject("headers")).isEqualTo(new JsonObject().put("h", "v"));
    assertThat(deliveries.getJsonObject(1).getString("valueEncoding")).isEqualTo("base64");
    assertThat(deliveries.getJsonObject(1).getString("value")).isEqualTo("AAH/");
  }

  @Test
  void ackIsOkTwiceAndAForeignOrForgedTokenIsUnknownResultsInTheBrokersOrder() {
    String topic = topic(1, null);
    produce(topic, "{\"value\":1}", "{\"value\":2}", "{\"value\":3}", "{\"value\":4}");
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"],\"mode\":\"shared\"}").getString("memberId");
    JsonArray deliveries = fetch(group, member, "{}");
    assertThat(deliveries).hasSize(4);
    String t0 = token(deliveries, 0);

    JsonArray acked = settle(group, "{\"ack\":[\"" + t0 + "\"]}");
    assertThat(acked).containsExactly(result(t0, "OK"));
    assertThat(settle(group, "{\"ack\":[\"" + t0 + "\"]}")).as("acking twice").containsExactly(result(t0, "OK"));

    String otherGroup = unique("g");
    String otherMember = join(otherGroup, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    String foreign = token(fetch(otherGroup, otherMember, "{\"maxRecords\":1}"), 0);
    assertThat(settle(group, "{\"ack\":[\"" + foreign + "\",\"forged\"]}"))
        .containsExactly(result(foreign, "UNKNOWN_TOKEN"), result("forged", "UNKNOWN_TOKEN"));

    // One request with every kind of outcome, listed in another order: results come acks, nacks, rejects, extends.
    String t1 = token(deliveries, 1);
    String t2 = token(deliveries, 2);
    String t3 = token(deliveries, 3);
    JsonArray mixed = settle(group, "{\"extend\":[{\"token\":\"" + t3 + "\",\"leaseMs\":60000}],"
        + "\"reject\":[{\"token\":\"" + t2 + "\",\"error\":\"no\"}],"
        + "\"nack\":[{\"token\":\"" + t1 + "\",\"delayMs\":0,\"error\":\"later\"}],"
        + "\"ack\":[\"" + t0 + "\"]}");
    assertThat(mixed).containsExactly(result(t0, "OK"), result(t1, "OK"), result(t2, "OK"), result(t3, "OK"));
    // The nacked record is back (attempt 2); the rejected one is a dead letter.
    JsonArray again = fetch(group, member, "{}");
    assertThat(again).hasSize(1);
    assertThat(again.getJsonObject(0).getLong("offset")).isEqualTo(1);
    assertThat(again.getJsonObject(0).getInteger("attempt")).isEqualTo(2);
    // The nacked token's lease is over.
    assertThat(settle(group, "{\"ack\":[\"" + t1 + "\"]}")).containsExactly(result(t1, "LEASE_EXPIRED"));
    assertThat(settle(group, "{}")).isEmpty();
  }

  @Test
  void aNackedRecordComesBackWithAttempt2AfterItsBackoff() {
    String topic = topic(1, NO_JITTER);
    produce(topic, "{\"key\":\"k\",\"value\":\"v\"}");
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    JsonObject first = fetch(group, member, "{}").getJsonObject(0);
    assertThat(first.getInteger("attempt")).isEqualTo(1);
    assertThat(settle(group, "{\"nack\":[{\"token\":\"" + first.getString("token") + "\",\"error\":\"boom\"}]}"))
        .containsExactly(result(first.getString("token"), "OK"));

    assertThat(fetch(group, member, "{}")).as("before the backoff of 1 s").isEmpty();
    advance(999);
    assertThat(fetch(group, member, "{}")).as("1 ms before the backoff ends").isEmpty();
    advance(1);
    JsonArray retry = fetch(group, member, "{}");
    assertThat(retry).hasSize(1);
    JsonObject second = retry.getJsonObject(0);
    assertThat(second.getInteger("attempt")).isEqualTo(2);
    assertThat(second.getLong("offset")).isEqualTo(first.getLong("offset"));
    assertThat(second.getValue("value")).isEqualTo("v");
    assertThat(second.getString("token")).isNotEqualTo(first.getString("token"));
  }

  @Test
  void aRejectedRecordIsADeadLetterThatCanBeBrowsedAndRedrivenToTheGroup() {
    String topic = topic(2, null);
    produce(topic, "{\"key\":\"k\",\"value\":{\"order\":7},\"headers\":{\"trace\":\"t-1\"},\"partition\":1}");
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    JsonObject d = fetch(group, member, "{}").getJsonObject(0);
    assertThat(settle(group, "{\"reject\":[{\"token\":\"" + d.getString("token") + "\",\"error\":\"bad order\"}]}"))
        .containsExactly(result(d.getString("token"), "OK"));

    Reply browse = call("GET", "/groups/" + group + "/dead-letters?topic=" + topic, null);
    assertThat(browse.status()).isEqualTo(200);
    assertThat(browse.json().fieldNames()).containsExactly("deadLetters");
    JsonArray letters = browse.json().getJsonArray("deadLetters");
    assertThat(letters).hasSize(1);
    JsonObject letter = letters.getJsonObject(0);
    assertThat(letter.fieldNames()).containsExactlyInAnyOrder("topic", "partition", "offset", "deadLetterTopic",
        "deadLetterPartition", "deadLetterOffset", "reason", "deadLetteredAt", "record");
    assertThat(letter.getString("topic")).isEqualTo(topic);
    assertThat(letter.getInteger("partition")).isEqualTo(1);
    assertThat(letter.getLong("offset")).isZero();
    assertThat(letter.getString("deadLetterTopic")).isEqualTo(topic + "." + group + ".dlq");
    assertThat(letter.getInteger("deadLetterPartition")).isEqualTo(1);
    assertThat(letter.getLong("deadLetterOffset")).isZero();
    assertThat(letter.getString("reason")).isEqualTo("rejected");
    assertThat(letter.getLong("deadLetteredAt")).isEqualTo(CLOCK.millis());

    JsonObject record = letter.getJsonObject("record");
    assertThat(record.fieldNames()).containsExactlyInAnyOrderElementsOf(RECORD_FIELDS);
    assertThat(record.getInteger("partition")).isEqualTo(1);
    assertThat(record.getLong("offset")).isZero();
    assertThat(record.getString("key")).isEqualTo("k");
    assertThat(record.getJsonObject("value")).isEqualTo(new JsonObject().put("order", 7));
    JsonObject headers = record.getJsonObject("headers");
    assertThat(headers.getString("trace")).isEqualTo("t-1");
    assertThat(headers.getString("runnel.dlq.topic")).isEqualTo(topic);
    assertThat(headers.getString("runnel.dlq.partition")).isEqualTo("1");
    assertThat(headers.getString("runnel.dlq.offset")).isEqualTo("0");
    assertThat(headers.getString("runnel.dlq.group")).isEqualTo(group);
    assertThat(headers.getString("runnel.dlq.attempts")).isEqualTo("1");
    assertThat(headers.getString("runnel.dlq.last-error")).isEqualTo("bad order");
    assertThat(headers.getString("runnel.dlq.reason")).isEqualTo("rejected");
    // The record as the read API renders it from the dead-letter topic.
    JsonObject dlqRead = call("GET", "/topics/" + letter.getString("deadLetterTopic") + "/partitions/1/records?offset=0",
        null).json().getJsonArray("records").getJsonObject(0);
    assertThat(record).isEqualTo(dlqRead);
    assertThat(fetch(group, member, "{}")).isEmpty();

    String redrive = "/groups/" + group + "/dead-letters/redrive";
    assertThat(call("POST", redrive, "{\"topic\":\"" + topic + "\",\"to\":\"group\",\"partition\":0,\"offsets\":[0]}")
        .json().getInteger("redriven")).as("the dead letter is in partition 1").isZero();
    assertProblem(call("POST", redrive, "{\"topic\":\"" + topic + "\",\"to\":\"group\",\"partition\":\"1\"}"),
        400, "INVALID_REQUEST");
    assertProblem(call("POST", redrive, "{\"topic\":\"" + topic + "\",\"to\":\"group\",\"partition\":9}"),
        404, "PARTITION_OUT_OF_RANGE");
    Reply redriven = call("POST", redrive,
        "{\"topic\":\"" + topic + "\",\"to\":\"group\",\"partition\":1,\"offsets\":[0]}");
    assertThat(redriven.status()).isEqualTo(200);
    assertThat(redriven.json()).isEqualTo(new JsonObject().put("redriven", 1));
    JsonArray again = fetch(group, member, "{\"maxWaitMs\":5000}");
    assertThat(again).hasSize(1);
    assertThat(again.getJsonObject(0).getLong("offset")).isZero();
    assertThat(again.getJsonObject(0).getInteger("partition")).isEqualTo(1);
    assertThat(again.getJsonObject(0).getJsonObject("value")).isEqualTo(new JsonObject().put("order", 7));
    assertThat(call("GET", "/groups/" + group + "/dead-letters?topic=" + topic + "&limit=5", null).json()
        .getJsonArray("deadLetters")).isEmpty();
    assertThat(call("POST", "/groups/" + group + "/dead-letters/redrive",
        "{\"topic\":\"" + topic + "\",\"to\":\"topic\",\"offsets\":[0]}").json().getInteger("redriven")).isZero();
  }

  @Test
  void aGroupConfigIsEchoedAndTakesEffect() {
    String topic = topic(1, NO_JITTER);
    String group = unique("g");
    String config = "{\"retryPolicy\":{\"maxRetries\":0},\"deadLetterTopic\":\"{topic}-failed-{group}\"}";
    Reply put = call("PUT", "/groups/" + group, config);
    assertThat(put.status()).isEqualTo(200);
    assertThat(put.json()).isEqualTo(new JsonObject(config));

    produce(topic, "{\"value\":\"x\"}");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    String token = token(fetch(group, member, "{}"), 0);
    settle(group, "{\"nack\":[{\"token\":\"" + token + "\",\"error\":\"once is enough\"}]}");
    JsonObject letter = call("GET", "/groups/" + group + "/dead-letters?topic=" + topic, null).json()
        .getJsonArray("deadLetters").getJsonObject(0);
    assertThat(letter.getString("reason")).isEqualTo("max-retries");
    assertThat(letter.getString("deadLetterTopic")).isEqualTo(topic + "-failed-" + group);
  }

  @Test
  void aLongPollStartedBeforeAProduceAnswersWithTheRecord() throws Exception {
    String topic = topic(1, null);
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    BlockingQueue<Future<List<Delivery>>> fetches = watchFetches(group);
    CompletableFuture<HttpResponse<String>> poll = http.sendAsync(HttpRequest.newBuilder(
                uri("/groups/" + group + "/members/" + member + "/fetch"))
            .POST(HttpRequest.BodyPublishers.ofString("{\"maxWaitMs\":10000}")).timeout(Duration.ofSeconds(30)).build(),
        HttpResponse.BodyHandlers.ofString());
    // Produce only once the poll waits in the broker, so the record wakes it rather than being there already.
    Future<List<Delivery>> waiting = fetches.poll(30, TimeUnit.SECONDS);
    assertThat(waiting).as("the long poll reached the broker").isNotNull();
    assertThat(waiting.isComplete()).isFalse();
    produce(topic, "{\"value\":\"awaited\"}");
    HttpResponse<String> response = poll.get(30, TimeUnit.SECONDS);
    assertThat(response.statusCode()).isEqualTo(200);
    JsonArray deliveries = new JsonObject(response.body()).getJsonArray("deliveries");
    assertThat(deliveries).hasSize(1);
    assertThat(deliveries.getJsonObject(0).getValue("value")).isEqualTo("awaited");
  }

  @Test
  void anEmptyFetchAnswersAnEmptyList() {
    String topic = topic(1, null);
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    Reply empty = call("POST", "/groups/" + group + "/members/" + member + "/fetch", "{\"maxWaitMs\":0}");
    assertThat(empty.status()).isEqualTo(200);
    assertThat(empty.body()).isEqualTo("{\"deliveries\":[]}");
    Reply noBody = call("POST", "/groups/" + group + "/members/" + member + "/fetch", null);
    assertThat(noBody.status()).isEqualTo(200);
    assertThat(noBody.body()).isEqualTo("{\"deliveries\":[]}");
  }

  @Test
  void deliveriesForAClientThatDisconnectedDuringTheLongPollComeBackAtOnceWithNoAttemptCounted() throws Exception {
    String topic = topic(1, NO_JITTER);
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    BlockingQueue<Future<List<Delivery>>> fetches = watchFetches(group);
    Future<List<Delivery>> abandoned;
    try (Socket socket = rawFetch(group, member, "{\"maxWaitMs\":30000}", 0)) {
      abandoned = fetches.poll(30, TimeUnit.SECONDS);
      assertThat(abandoned).as("the long poll reached the broker").isNotNull();
      // The client goes; the server closing its side without an answer shows it saw the disconnect.
      socket.shutdownOutput();
      assertThat(socket.getInputStream().readAllBytes()).as("what the server answered").isEmpty();
    }
    assertThat(abandoned.isComplete()).as("the long poll waits: there is nothing to deliver yet").isFalse();

    produce(topic, "{\"value\":\"after the disconnect\"}");
    List<Delivery> handedOut = abandoned.await(30, TimeUnit.SECONDS);
    assertThat(handedOut).extracting(Delivery::offset, Delivery::attempt).containsExactly(tuple(0L, 1));

    // Given back: the record is deliverable again with the clock unmoved (no lease expired) and no attempt counted.
    JsonArray again = fetch(group, member, "{\"maxWaitMs\":10000}");
    assertThat(again).as("the record the abandoned poll gave back").hasSize(1);
    JsonObject d = again.getJsonObject(0);
    assertThat(d.getLong("offset")).isZero();
    assertThat(d.getInteger("attempt")).isEqualTo(1);
    assertThat(d.getValue("value")).isEqualTo("after the disconnect");
    assertThat(settle(group, "{\"ack\":[\"" + d.getString("token") + "\"]}"))
        .containsExactly(result(d.getString("token"), "OK"));
  }

  @Test
  void aJsonValueNestedAsDeepAsTheParserTakesIsDeliveredAsStored() throws Exception {
    // JSON nested 1000 deep (the parser's limit): only a producer outside the HTTP API can store it, since a produce
    // body adds its own levels. Rendering it by tree overflowed the event loop's stack, so its fetch failed every time
    // and the record could never be consumed; it is copied into the answer as stored.
    String topic = topic(1, null);
    String deep = "[".repeat(1000) + "]".repeat(1000);
    broker.produce(topic, List.of(new ProduceRecord(null, deep.getBytes(StandardCharsets.UTF_8), "application/json",
        List.of(), 0, null))).await(30, TimeUnit.SECONDS);
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");

    Reply reply = call("POST", "/groups/" + group + "/members/" + member + "/fetch", "{\"maxRecords\":10}");
    assertThat(reply.status()).isEqualTo(200);
    assertThat(reply.body()).contains("\"value\":" + deep + ",\"valueEncoding\":\"json\"");
  }

  @Test
  void deliveriesWhoseAnswerCouldNotBeWrittenComeBackAtOnceWithNoAttemptCounted() throws Exception {
    // Three records of 3 MiB: their 12 MiB answer (base64) is far more than the socket buffers between server and
    // client hold (Linux lets a send buffer grow to 4 MiB; the client's receive buffer is kept at a few KiB).
    String topic = topic(1, null, "\"maxRecordBytes\":4194304");
    List<ProduceRecord> records = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      byte[] value = new byte[3 << 20];
      Arrays.fill(value, (byte) i);
      records.add(new ProduceRecord(null, value, "application/octet-stream", List.of(), 0, null));
    }
    broker.produce(topic, records).await(30, TimeUnit.SECONDS);
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");

    try (Socket socket = rawFetch(group, member, "{\"maxRecords\":10,\"maxBytes\":16777216}", 4096)) {
      // The answer has started, so it was rendered and is being written; most of it cannot have left the server.
      byte[] head = socket.getInputStream().readNBytes(12);
      assertThat(new String(head, StandardCharsets.US_ASCII)).isEqualTo("HTTP/1.1 200");
      socket.setSoLinger(true, 0);  // closes with a reset: the rest of the answer cannot be written
    }

    List<Delivery> back = broker.fetch(group, member, 10, 16 << 20, 10_000).await(30, TimeUnit.SECONDS);
    assertThat(back).as("the deliveries of the answer that could not be written, given back")
        .extracting(Delivery::offset, Delivery::attempt).containsExactly(tuple(0L, 1), tuple(1L, 1), tuple(2L, 1));
  }

  // ---------------------------------------------------------------- seek

  @Test
  void seekMovesTheGroupToEarliestAnOffsetATimestampOrLatest() {
    String topic = topic(1, null);
    produce(topic, "{\"value\":0}", "{\"value\":1}");
    CLOCK.advance(10_000);
    long secondBatch = CLOCK.millis();
    produce(topic, "{\"value\":2}");
    CLOCK.advance(10_000);
    produce(topic, "{\"value\":3}");
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    JsonArray all = fetch(group, member, "{}");
    assertThat(offsets(all)).containsExactly(0L, 1L, 2L, 3L);
    ackAll(group, all);

    Reply earliest = seek(group, topic, "{\"partitions\":[{\"partition\":0,\"to\":\"earliest\"}]}");
    assertThat(earliest.status()).isEqualTo(200);
    assertThat(earliest.contentType()).isEqualTo("application/json");
    assertThat(earliest.json()).as("each partition's position before and after").isEqualTo(new JsonObject()
        .put("dryRun", false).put("partitions", new JsonArray()
            .add(new JsonObject().put("partition", 0).put("committedOffset", 4).put("newOffset", 0))));
    JsonArray replay = fetch(group, member, "{}");
    assertThat(offsets(replay)).containsExactly(0L, 1L, 2L, 3L);
    String outstanding = token(replay, 0);

    assertThat(seek(group, topic, "{\"partitions\":[{\"partition\":0,\"to\":{\"offset\":2}}]}").status()).isEqualTo(200);
    assertThat(settle(group, "{\"ack\":[\"" + outstanding + "\"]}")).as("a token from before the seek")
        .containsExactly(result(outstanding, "LEASE_EXPIRED"));
    JsonArray fromTwo = fetch(group, member, "{}");
    assertThat(offsets(fromTwo)).containsExactly(2L, 3L);
    ackAll(group, fromTwo);

    assertThat(seek(group, topic, "{\"partitions\":[{\"partition\":0,\"to\":{\"timestamp\":" + secondBatch + "}}]}")
        .status()).isEqualTo(200);
    JsonArray fromTime = fetch(group, member, "{}");
    assertThat(offsets(fromTime)).containsExactly(2L, 3L);
    ackAll(group, fromTime);
    assertThat(seek(group, topic, "{\"partitions\":[{\"partition\":0,\"to\":{\"timestamp\":0}}]}").status()).isEqualTo(200);
    JsonArray fromZero = fetch(group, member, "{}");
    assertThat(offsets(fromZero)).containsExactly(0L, 1L, 2L, 3L);

    assertThat(seek(group, topic, "{\"partitions\":[{\"partition\":0,\"to\":\"latest\"}]}").status()).isEqualTo(200);
    assertThat(fetch(group, member, "{}")).isEmpty();
    assertThat(call("GET", "/groups/" + group, null).json().getJsonArray("partitions").getJsonObject(0)
        .getLong("committedOffset")).isEqualTo(4);

    assertProblem(seek(group, topic, "{\"partitions\":[{\"partition\":0,\"to\":{\"offset\":99}}]}"), 416,
        "OFFSET_OUT_OF_RANGE");
    assertProblem(seek(group, topic, "{\"partitions\":[{\"partition\":0,\"to\":{\"offset\":-1}}]}"), 416,
        "OFFSET_OUT_OF_RANGE");
    assertProblem(seek(group, topic, "{\"partitions\":[{\"partition\":5,\"to\":\"earliest\"}]}"), 404,
        "PARTITION_OUT_OF_RANGE");
  }

  // ---------------------------------------------------------------- descriptions

  @Test
  void groupsAndAGroupAreDescribedWithLagPerPartition() {
    String topic = topic(2, null);
    produce(topic, "{\"value\":\"a\",\"partition\":0}", "{\"value\":\"b\",\"partition\":0}",
        "{\"value\":\"c\",\"partition\":0}");
    String group = unique("g");
    String member = join(group, "{\"topics\":[\"" + topic + "\"]}").getString("memberId");
    CLOCK.advance(5_000);

    Reply reply = call("GET", "/groups/" + group, null);
    assertThat(reply.status()).isEqualTo(200);
    assertThat(reply.contentType()).isEqualTo("application/json");
    JsonObject g = reply.json();
    assertThat(g.fieldNames()).containsExactlyInAnyOrder("name", "mode", "generation", "members", "partitions");
    assertThat(g.getString("name")).isEqualTo(group);
    assertThat(g.getString("mode")).isEqualTo("partitioned");
    assertThat(g.getInteger("generation")).isPositive();
    assertThat(g.getJsonArray("members")).containsExactly(new JsonObject()
        .put("memberId", member)
        .put("topics", new JsonArray().add(topic))
        .put("assignment", new JsonObject().put(topic, new JsonArray().add(0).add(1))));
    JsonArray partitions = g.getJsonArray("partitions");
    assertThat(partitions).hasSize(2);
    JsonObject p0 = partitions.stream().map(JsonObject.class::cast).filter(p -> p.getInteger("partition") == 0)
        .findFirst().orElseThrow();
    assertThat(p0.fieldNames()).containsExactlyInAnyOrder("topic", "partition", "committedOffset", "highWatermark",
        "assignedTo", "lag", "skipped");
    assertThat(p0.getString("topic")).isEqualTo(topic);
    assertThat(p0.getLong("committedOffset")).isZero();
    assertThat(p0.getLong("highWatermark")).isEqualTo(3);
    assertThat(p0.getString("assignedTo")).isEqualTo(member);
    assertThat(p0.getJsonObject("lag")).isEqualTo(new JsonObject().put("records", 3).put("oldestAgeMs", 5000));
    assertThat(p0.getLong("skipped")).isZero();
    JsonObject p1 = partitions.stream().map(JsonObject.class::cast).filter(p -> p.getInteger("partition") == 1)
        .findFirst().orElseThrow();
    assertThat(p1.getJsonObject("lag")).isEqualTo(new JsonObject().put("records", 0).put("oldestAgeMs", 0));

    ackAll(group, fetch(group, member, "{}"));
    JsonObject after = call("GET", "/groups/" + group, null).json().getJsonArray("partitions").stream()
        .map(JsonObject.class::cast).filter(p -> p.getInteger("partition") == 0).findFirst().orElseThrow();
    assertThat(after.getLong("committedOffset")).isEqualTo(3);
    assertThat(after.getJsonObject("lag")).isEqualTo(new JsonObject().put("records", 0).put("oldestAgeMs", 0));

    String shared = unique("s");
    join(shared, "{\"topics\":[\"" + topic + "\"],\"mode\":\"shared\"}");
    JsonObject s = call("GET", "/groups/" + shared, null).json();
    assertThat(s.getString("mode")).isEqualTo("shared");
    assertThat(s.getJsonArray("partitions").getJsonObject(0).containsKey("assignedTo")).isTrue();
    assertThat(s.getJsonArray("partitions").getJsonObject(0).getValue("assignedTo")).isNull();

    Reply list = call("GET", "/groups", null);
    assertThat(list.status()).isEqualTo(200);
    assertThat(list.json().fieldNames()).containsExactly("groups");
    JsonObject listed = list.json().getJsonArray("groups").stream().map(JsonObject.class::cast)
        .filter(o -> o.getString("name").equals(group)).findFirst().orElseThrow();
    assertThat(listed.fieldNames()).containsExactlyInAnyOrder("name", "mode", "generation", "members", "partitions");
    assertThat(listed.getJsonArray("members").getJsonObject(0).getString("memberId")).isEqualTo(member);
    assertThat(list.json().getJsonArray("groups").stream().map(o -> ((JsonObject) o).getString("name")))
        .contains(shared);

    assertProblem(call("GET", "/groups/" + unique("never"), null), 404, "NOT_FOUND");
  }

  // ---------------------------------------------------------------- produce: idempotency keys

  @Test
  void aRepeatedIdempotencyKeyIsReportedAsADuplicate() {
    String topic = topic(2, null, "\"dedup\":true");
    String record = "{\"value\":\"once\",\"idempotencyKey\":\"order-42\"}";
    JsonObject first = call("POST", "/topics/" + topic + "/records", "{\"records\":[" + record + "]}").json()
        .getJsonArray("results").getJsonObject(0);
    JsonObject second = call("POST", "/topics/" + topic + "/records", "{\"records\":[" + record + "]}").json()
        .getJsonArray("results").getJsonObject(0);
    assertThat(first.getBoolean("duplicate")).isFalse();
    assertThat(second.getBoolean("duplicate")).isTrue();
    assertThat(second.getInteger("partition")).isEqualTo(first.getInteger("partition"));
    assertThat(second.getLong("offset")).isEqualTo(first.getLong("offset"));
    JsonArray stored = call("GET", "/topics/" + topic + "/partitions/" + first.getInteger("partition")
        + "/records?offset=0", null).json().getJsonArray("records");
    assertThat(stored).hasSize(1);
    assertThat(stored.getJsonObject(0).getString("idempotencyKey")).isEqualTo("order-42");
  }

  // ---------------------------------------------------------------- bad requests

  static Stream<Arguments> badRequests() {
    String topic = "bad-requests";
    String group = "bad-requests-group";
    String members = "/groups/" + group + "/members";
    String seek = "/groups/" + group + "/topics/" + topic + "/seek";
    String member = "/groups/" + group + "/members/nobody";
    String join = "{\"topics\":[\"" + topic + "\"]";
    return Stream.of(
        // join
        arguments("POST", members, "{\"topics\":[", 400, "MALFORMED_JSON"),
        arguments("POST", members, null, 400, "MALFORMED_JSON"),
        arguments("POST", members, "[]", 400, "INVALID_REQUEST"),
        arguments("POST", members, "{}", 400, "INVALID_REQUEST"),
        arguments("POST", members, "{\"topics\":[]}", 400, "INVALID_REQUEST"),
        arguments("POST", members, "{\"topics\":[1]}", 400, "INVALID_REQUEST"),
        arguments("POST", members, "{\"topics\":[\"bad topic\"]}", 400, "INVALID_TOPIC_NAME"),
        arguments("POST", members, "{\"topics\":[\"no-such-topic\"]}", 404, "TOPIC_NOT_FOUND"),
        arguments("POST", members, join + ",\"mode\":\"exclusive\"}", 400, "INVALID_REQUEST"),
        arguments("POST", members, join + ",\"mode\":1}", 400, "INVALID_REQUEST"),
        arguments("POST", members, join + ",\"sessionTimeoutMs\":0}", 400, "INVALID_REQUEST"),
        arguments("POST", members, join + ",\"sessionTimeoutMs\":\"30s\"}", 400, "INVALID_REQUEST"),
        arguments("POST", members, join + ",\"leaseMs\":0}", 400, "INVALID_REQUEST"),
        arguments("POST", members, join + ",\"leaseMs\":1.5}", 400, "INVALID_REQUEST"),
        arguments("POST", members, join + ",\"startFrom\":\"middle\"}", 400, "INVALID_REQUEST"),
        arguments("POST", "/groups/bad!group/members", join + "}", 400, "INVALID_REQUEST"),
        arguments("POST", "/groups/" + "g".repeat(250) + "/members", join + "}", 400, "INVALID_REQUEST"),
        // fetch, heartbeat, leave
        arguments("POST", member + "/fetch", "{}", 404, "UNKNOWN_MEMBER"),
        arguments("POST", member + "/fetch", "{\"maxRecords\":0}", 400, "INVALID_REQUEST"),
        arguments("POST", member + "/fetch", "{\"maxRecords\":10001}", 400, "INVALID_REQUEST"),
        arguments("POST", member + "/fetch", "{\"maxBytes\":16777217}", 400, "INVALID_REQUEST"),
        arguments("POST", member + "/fetch", "{\"maxWaitMs\":30001}", 400, "INVALID_REQUEST"),
        arguments("POST", member + "/fetch", "{\"maxWaitMs\":-1}", 400, "INVALID_REQUEST"),
        arguments("POST", member + "/fetch", "{\"maxWaitMs\":99999999999999999999}", 400, "INVALID_REQUEST"),
        arguments("POST", member + "/fetch", "{\"maxWaitMs\":", 400, "MALFORMED_JSON"),
        arguments("POST", member + "/fetch", "[]", 400, "INVALID_REQUEST"),
        arguments("POST", member + "/heartbeat", null, 404, "UNKNOWN_MEMBER"),
        arguments("DELETE", member, null, 404, "UNKNOWN_MEMBER"),
        // outcomes
        arguments("POST", "/groups/" + group + "/acks", "{\"ack\":\"x\"}", 400, "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/acks", "{\"ack\":[1]}", 400, "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/acks", "{\"nack\":[\"x\"]}", 400, "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/acks", "{\"nack\":[{\"token\":\"x\",\"delayMs\":-1}]}", 400,
            "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/acks", "{\"reject\":[{\"error\":\"no token\"}]}", 400,
            "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/acks", "{\"extend\":[{\"token\":\"x\",\"leaseMs\":0}]}", 400,
            "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/acks", "nope", 400, "MALFORMED_JSON"),
        // seek
        arguments("POST", seek, "{\"partitions\":[{\"partition\":0,\"to\":\"middle\"}]}", 400, "INVALID_REQUEST"),
        arguments("POST", seek, "{\"partitions\":[{\"partition\":0,\"to\":{\"offset\":\"1\"}}]}", 400, "INVALID_REQUEST"),
        arguments("POST", seek, "{\"partitions\":[{\"partition\":0,\"to\":{\"offset\":1,\"timestamp\":1}}]}", 400,
            "INVALID_REQUEST"),
        arguments("POST", seek, "{\"partitions\":[{\"partition\":0,\"to\":{\"timestamp\":-5}}]}", 400,
            "INVALID_REQUEST"),
        arguments("POST", seek, "{\"partitions\":[{\"partition\":0}]}", 400, "INVALID_REQUEST"),
        arguments("POST", seek, "{\"partitions\":[{\"to\":\"earliest\"}]}", 400, "INVALID_REQUEST"),
        arguments("POST", seek, "{\"partitions\":[]}", 400, "INVALID_REQUEST"),
        arguments("POST", seek, "{\"partitions\":[{\"partition\":0,\"to\":\"earliest\"},"
            + "{\"partition\":0,\"to\":\"latest\"}]}", 400, "INVALID_REQUEST"),
        arguments("POST", seek, "{\"partitions\":[", 400, "MALFORMED_JSON"),
        arguments("POST", "/groups/" + group + "/topics/no-such-topic/seek",
            "{\"partitions\":[{\"partition\":0,\"to\":\"earliest\"}]}", 404, "TOPIC_NOT_FOUND"),
        arguments("POST", "/groups/" + group + "/topics/../seek",
            "{\"partitions\":[{\"partition\":0,\"to\":\"earliest\"}]}", 400, "INVALID_TOPIC_NAME"),
        // group config
        arguments("PUT", "/groups/" + group, "{\"retryPolicy\":{\"maxRetries\":-1}}", 400, "INVALID_CONFIG"),
        arguments("PUT", "/groups/" + group, "{\"retryPolicy\":{\"jitter\":2}}", 400, "INVALID_CONFIG"),
        arguments("PUT", "/groups/" + group, "{\"retryPolicy\":{\"retries\":1}}", 400, "INVALID_CONFIG"),
        arguments("PUT", "/groups/" + group, "{\"retryPolicy\":{\"maxRetries\":2.5}}", 400, "INVALID_CONFIG"),
        arguments("PUT", "/groups/" + group, "{\"retryPolicy\":5}", 400, "INVALID_CONFIG"),
        arguments("PUT", "/groups/" + group, "{\"deadLetterTopic\":\"no spaces\"}", 400, "INVALID_CONFIG"),
        arguments("PUT", "/groups/" + group, "{\"bogus\":1}", 400, "INVALID_CONFIG"),
        arguments("PUT", "/groups/" + group, "{", 400, "MALFORMED_JSON"),
        // dead letters
        arguments("GET", "/groups/" + group + "/dead-letters", null, 400, "INVALID_REQUEST"),
        arguments("GET", "/groups/" + group + "/dead-letters?topic=" + topic + "&limit=0", null, 400, "INVALID_REQUEST"),
        arguments("GET", "/groups/" + group + "/dead-letters?topic=" + topic + "&limit=1001", null, 400,
            "INVALID_REQUEST"),
        arguments("GET", "/groups/" + group + "/dead-letters?topic=no-such-topic", null, 404, "TOPIC_NOT_FOUND"),
        arguments("POST", "/groups/" + group + "/dead-letters/redrive", "{\"topic\":\"" + topic + "\"}", 400,
            "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/dead-letters/redrive",
            "{\"topic\":\"" + topic + "\",\"to\":\"everyone\"}", 400, "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/dead-letters/redrive", "{\"to\":\"group\"}", 400, "INVALID_REQUEST"),
        arguments("POST", "/groups/" + group + "/dead-letters/redrive",
            "{\"topic\":\"" + topic + "\",\"to\":\"group\",\"offsets\":[-1]}", 400, "INVALID_REQUEST"),
        // groups, paths and methods
        arguments("GET", "/groups/bad!group", null, 400, "INVALID_REQUEST"),
        arguments("GET", "/groups/%2e%2e", null, 400, "INVALID_REQUEST"),
        arguments("POST", member + "/../../acks", "{\"ack\":[]}", 400, "INVALID_REQUEST"),
        arguments("POST", "/groups//members", join + "}", 400, "INVALID_REQUEST"),
        arguments("GET", "/groups/" + group + "/nope", null, 404, "NOT_FOUND"),
        arguments("GET", "/groups/" + group + "/acks", null, 405, "METHOD_NOT_ALLOWED"),
        arguments("PUT", "/groups/" + group + "/dead-letters", null, 405, "METHOD_NOT_ALLOWED"),
        arguments("GET", "/groups/" + group + "/dead-letters/redrive", null, 405, "METHOD_NOT_ALLOWED"),
        arguments("GET", members, null, 405, "METHOD_NOT_ALLOWED"),
        arguments("GET", member + "/fetch", null, 405, "METHOD_NOT_ALLOWED"),
        arguments("POST", "/groups/" + group, null, 405, "METHOD_NOT_ALLOWED"),
        arguments("POST", "/groups", "{}", 405, "METHOD_NOT_ALLOWED"));
  }

  @ParameterizedTest(name = "{0} {1} {2} -> {3} {4}")
  @MethodSource("badRequests")
  void aBadRequestAnswersItsProblem(String method, String path, String body, int status, String code) {
    if (call("GET", "/topics/bad-requests", null).status() == 404) {
      call("PUT", "/topics/bad-requests", null);
    }
    Reply reply = call(method, path, body);
    assertProblem(reply, status, code);
    if (status == 405) {
      assertThat(reply.header("Allow")).isNotBlank().doesNotContain(method);
    }
  }

  @Test
  void aWrongMethodNamesTheAllowedOnes() {
    assertThat(call("GET", "/groups/g/acks", null).header("Allow")).isEqualTo("POST");
    assertThat(call("PUT", "/groups/g/dead-letters", null).header("Allow")).isEqualTo("GET, DELETE");
    assertThat(call("POST", "/groups/g", null).header("Allow")).isEqualTo("GET, PUT, DELETE");
    assertThat(call("GET", "/groups/g/members/m", null).header("Allow")).isEqualTo("DELETE");
  }

  // ---------------------------------------------------------------- helpers

  private static String unique(String prefix) {
    return prefix + "-" + NAMES.incrementAndGet();
  }

  private static String topic(int partitions, String retryPolicy, String... configEntries) {
    String name = unique("t");
    StringBuilder config = new StringBuilder();
    if (retryPolicy != null) {
      config.append("\"retryPolicy\":").append(retryPolicy);
    }
    for (String entry : configEntries) {
      config.append(config.isEmpty() ? "" : ",").append(entry);
    }
    Reply created = call("PUT", "/topics/" + name, "{\"partitions\":" + partitions + ",\"config\":{" + config + "}}");
    assertThat(created.status()).as(created.body()).isEqualTo(201);
    return name;
  }

  private static void produce(String topic, String... records) {
    Reply reply = call("POST", "/topics/" + topic + "/records", "{\"records\":[" + String.join(",", records) + "]}");
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
  }

  private static JsonObject join(String group, String body) {
    Reply reply = call("POST", "/groups/" + group + "/members", body);
    assertThat(reply.status()).as(reply.body()).isEqualTo(201);
    return reply.json();
  }

  private static JsonArray fetch(String group, String member, String body) {
    Reply reply = call("POST", "/groups/" + group + "/members/" + member + "/fetch", body);
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
    return reply.json().getJsonArray("deliveries");
  }

  private static JsonArray settle(String group, String body) {
    Reply reply = call("POST", "/groups/" + group + "/acks", body);
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
    assertThat(reply.json().fieldNames()).containsExactly("results");
    return reply.json().getJsonArray("results");
  }

  private static void ackAll(String group, JsonArray deliveries) {
    JsonArray tokens = new JsonArray();
    deliveries.forEach(d -> tokens.add(((JsonObject) d).getString("token")));
    JsonArray results = settle(group, new JsonObject().put("ack", tokens).encode());
    results.forEach(r -> assertThat(((JsonObject) r).getString("status")).isEqualTo("OK"));
  }

  private static Reply seek(String group, String topic, String body) {
    return call("POST", "/groups/" + group + "/topics/" + topic + "/seek", body);
  }

  private static JsonObject result(String token, String status) {
    return new JsonObject().put("token", token).put("status", status);
  }

  private static String token(JsonArray deliveries, int index) {
    return deliveries.getJsonObject(index).getString("token");
  }

  private static List<Long> offsets(JsonArray deliveries) {
    return deliveries.stream().map(d -> ((JsonObject) d).getLong("offset")).toList();
  }

  /** Moves the clock and runs the broker's timers (lease expiry, due retries, session expiry). */
  private static void advance(long ms) {
    CLOCK.advance(ms);
    local.tick().await();
  }

  /** The futures of the fetches the transport makes for {@code group} from now on, in order. */
  private static BlockingQueue<Future<List<Delivery>>> watchFetches(String group) {
    return FETCHES.computeIfAbsent(group, g -> new LinkedBlockingQueue<>());
  }

  /**
   * {@code real}, with each fetch of a watched group reported once the broker has it: the signal that a long poll is
   * waiting in the broker, and then the deliveries it handed out.
   */
  @SuppressWarnings("unchecked")
  private static Broker observingFetches(Broker real) {
    return (Broker) Proxy.newProxyInstance(Broker.class.getClassLoader(), new Class<?>[] {Broker.class},
        (proxy, method, args) -> {
          Object result;
          try {
            result = method.invoke(real, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
          if (method.getName().equals("fetch")) {
            BlockingQueue<Future<List<Delivery>>> watched = FETCHES.get((String) args[0]);
            if (watched != null) {
              watched.add((Future<List<Delivery>>) result);
            }
          }
          return result;
        });
  }

  /** A fetch on a connection of its own; reads from it fail after 30 s instead of blocking the test. */
  private static Socket rawFetch(String group, String member, String body, int receiveBufferBytes) throws IOException {
    Socket socket = new Socket();
    try {
      if (receiveBufferBytes > 0) {
        socket.setReceiveBufferSize(receiveBufferBytes);  // before connecting, so the TCP window stays that small
      }
      socket.setSoTimeout(30_000);
      socket.connect(new InetSocketAddress("127.0.0.1", transport.actualPort()), 10_000);
      OutputStream out = socket.getOutputStream();
      out.write(("POST /groups/" + group + "/members/" + member + "/fetch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
          .getBytes(StandardCharsets.UTF_8));
      out.flush();
      return socket;
    } catch (IOException | RuntimeException e) {
      socket.close();
      throw e;
    }
  }

  private static URI uri(String path) {
    return URI.create("http://127.0.0.1:" + transport.actualPort() + path);
  }

  private static Reply call(String method, String path, String body) {
    try {
      HttpResponse<String> response = http.send(HttpRequest.newBuilder(uri(path))
              .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
              .timeout(Duration.ofSeconds(30))
              .build(),
          HttpResponse.BodyHandlers.ofString());
      return new Reply(response.statusCode(), response);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
