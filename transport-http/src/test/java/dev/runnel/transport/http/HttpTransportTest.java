package dev.runnel.transport.http;

import static dev.runnel.transport.http.Reply.assertProblem;

import dev.runnel.broker.Broker;
import dev.runnel.broker.Partitioner;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.StoredRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
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

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

/** The HTTP transport against a real broker and embedded Postgres, over real HTTP. */
class HttpTransportTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  /** Small, so a test can exceed it; every other request stays far below. */
  private static final int MAX_BODY = 64 * 1024;
  /** Two partitions; partition 0 holds three records, partition 1 none. */
  private static final String FIXTURE = "fixture";
  /** maxRecordBytes 100. */
  private static final String SMALL = "small";
  private static final String ONE_RECORD = "{\"records\":[{\"value\":1}]}";
  private static final AtomicInteger TOPICS = new AtomicInteger();

  private static Vertx vertx;
  private static LogStore store;
  private static Broker broker;
  private static HttpTransport transport;
  private static HttpClient http;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options()).await();
    broker = Broker.create(vertx, store);
    // Two instances on port 0: start() fails unless both serve the same port.
    transport = HttpTransport.create(vertx, new HttpTransportOptions()
        .setHost("127.0.0.1").setPort(0).setInstances(2).setMaxBodyBytes(MAX_BODY).setShutdownGraceMs(1_000));
    transport.start(broker).await();
    http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();

    assertThat(call("PUT", "/topics/" + FIXTURE, "{\"partitions\":2}").status()).isEqualTo(201);
    assertThat(call("POST", "/topics/" + FIXTURE + "/records",
        "{\"records\":[{\"value\":1,\"partition\":0},{\"value\":2,\"partition\":0},{\"value\":3,\"partition\":0}]}")
        .status()).isEqualTo(200);
    assertThat(call("PUT", "/topics/" + SMALL, "{\"config\":{\"maxRecordBytes\":100}}").status()).isEqualTo(201);
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

  // ---------------------------------------------------------------- round trips

  @Test
  void jsonValuesRoundTripExactlyWithKeysHeadersAndOffsetsInRequestOrder() {
    String topic = newTopic(3);
    // A key that Kafka's partitioner puts elsewhere than the explicit partition 2.
    String key = Stream.iterate(1, i -> i + 1).map(i -> "user-" + i)
        .filter(k -> Partitioner.partitionForKey(k, 3) != 2).findFirst().orElseThrow();
    int keyed = Partitioner.partitionForKey(key, 3);
    String object = "{\"a\":1,\"b\":[true,null,\"x\"],\"c\":1.10,\"big\":12345678901234567890.123456789}";
    List<String> records = List.of(
        "{\"key\":\"" + key + "\",\"value\":" + object + ",\"headers\":{\"trace\":\"abc\",\"lang\":\"ß-ü\"},\"extra\":7}",
        "{\"key\":\"" + key + "\",\"value\":\"just a string\",\"partition\":2}",
        "{\"value\":42,\"partition\":2}",
        "{\"value\":null,\"partition\":2,\"idempotencyKey\":\"idem-3\"}",
        "{\"value\":-0.5e-3,\"valueEncoding\":\"json\",\"partition\":2}");
    int[] expectedPartition = {keyed, 2, 2, 2, 2};

    Reply produced = call("POST", "/topics/" + topic + "/records", "{\"records\":[" + String.join(",", records) + "]}");
    assertThat(produced.status()).isEqualTo(200);
    assertThat(produced.contentType()).isEqualTo("application/json");
    JsonObject body = produced.json();
    assertThat(body.fieldNames()).containsExactly("results");
    JsonArray results = body.getJsonArray("results");
    assertThat(results).hasSize(records.size());
    Map<Integer, Long> next = new HashMap<>();
    for (int i = 0; i < records.size(); i++) {
      JsonObject r = results.getJsonObject(i);
      assertThat(r.fieldNames()).containsExactlyInAnyOrder("partition", "offset", "timestamp", "duplicate");
      assertThat(r.getInteger("partition")).as("partition of record %d", i).isEqualTo(expectedPartition[i]);
      long expectedOffset = next.merge(expectedPartition[i], 1L, Long::sum) - 1;
      assertThat(r.getLong("offset")).as("offset of record %d", i).isEqualTo(expectedOffset);
      assertThat(r.getLong("timestamp")).isPositive();
      assertThat(r.getBoolean("duplicate")).isFalse();
    }

    Reply read2 = call("GET", "/topics/" + topic + "/partitions/2/records?offset=0", null);
    assertThat(read2.status()).isEqualTo(200);
    assertThat(read2.contentType()).isEqualTo("application/json");
    // Exact digits and compact form survive the round trip.
    String raw = call("GET", "/topics/" + topic + "/partitions/" + keyed + "/records?offset=0", null).body();
    assertThat(raw).contains("\"value\":" + object);

    Map<Integer, JsonObject> byIndex = new HashMap<>();
    for (int p : Set.of(keyed, 2)) {
      JsonObject read = call("GET", "/topics/" + topic + "/partitions/" + p + "/records?offset=0", null).json();
      assertThat(read.fieldNames()).containsExactlyInAnyOrder("records", "nextOffset", "highWatermark", "logStartOffset");
      assertThat(read.getLong("nextOffset")).isEqualTo(next.get(p));
      assertThat(read.getLong("highWatermark")).isEqualTo(next.get(p));
      assertThat(read.getLong("logStartOffset")).isZero();
      for (Object o : read.getJsonArray("records")) {
        JsonObject rec = (JsonObject) o;
        for (int i = 0; i < records.size(); i++) {
          JsonObject result = results.getJsonObject(i);
          if (result.getInteger("partition") == p && result.getLong("offset").equals(rec.getLong("offset"))) {
            byIndex.put(i, rec);
            assertThat(rec.getLong("timestamp")).isEqualTo(result.getLong("timestamp"));
            assertThat(rec.getInteger("partition")).isEqualTo(p);
          }
        }
      }
    }
    assertThat(byIndex).hasSize(records.size());
    Set<String> fields = Set.of("key", "keyEncoding", "value", "valueEncoding", "headers", "partition", "offset",
        "timestamp");

    JsonObject r0 = byIndex.get(0);
    assertThat(r0.fieldNames()).containsExactlyInAnyOrderElementsOf(fields);
    assertThat(r0.getString("key")).isEqualTo(key);
    assertThat(r0.getString("keyEncoding")).isEqualTo("utf8");
    assertThat(r0.getString("valueEncoding")).isEqualTo("json");
    assertThat(r0.getJsonObject("value")).isEqualTo(new JsonObject(object));
    assertThat(r0.getJsonObject("headers")).isEqualTo(new JsonObject().put("trace", "abc").put("lang", "ß-ü"));

    JsonObject r1 = byIndex.get(1);
    assertThat(r1.getValue("value")).isEqualTo("just a string");
    assertThat(r1.getString("valueEncoding")).isEqualTo("json");
    assertThat(r1.getJsonObject("headers")).isEqualTo(new JsonObject());
    assertThat(byIndex.get(2).getValue("value")).isEqualTo(42);
    JsonObject r3 = byIndex.get(3);
    assertThat(r3.fieldNames()).containsExactlyInAnyOrderElementsOf(union(fields, "idempotencyKey"));
    assertThat(r3.containsKey("value")).isTrue();
    assertThat(r3.getValue("value")).isNull();
    assertThat(r3.getString("valueEncoding")).isEqualTo("json");
    assertThat(r3.getValue("key")).isNull();
    assertThat(r3.getString("idempotencyKey")).isEqualTo("idem-3");
    assertThat(read2.body()).as("a number keeps its text").contains("\"value\":-0.5e-3");

    // Stored as compact UTF-8 JSON with content type application/json.
    StoredRecord stored = broker.read(topic, keyed, 0, 1, 1 << 20).await().records().get(0);
    assertThat(stored.contentType()).isEqualTo("application/json");
    assertThat(new String(stored.value(), StandardCharsets.UTF_8)).isEqualTo(object);
    assertThat(new String(stored.key(), StandardCharsets.UTF_8)).isEqualTo(key);
  }

  @Test
  void jsonValuesAreStoredAsCompactUtf8WhateverTheirSpacingEscapesAndFieldOrder() {
    String topic = newTopic(1);
    // Spaced out, the encoding after the value, escapes of every kind, and a character outside the BMP written both
    // raw and as a surrogate-pair escape.
    String body = "{ \"records\" : [ { \"value\" : { \"a\" : [ 1 , -0 , 2.50 , 1e3 , true , null ] ,"
        + " \"s\" : \"line\\nbreak \\\"q\\\" \\u0001 \\/ \\u00e9 😀 \\ud83d\\ude00\" } , \"valueEncoding\" : \"json\" } ] }";
    assertThat(call("POST", "/topics/" + topic + "/records", body).status()).isEqualTo(200);

    StoredRecord stored = broker.read(topic, 0, 0, 1, 1 << 20).await().records().get(0);
    assertThat(stored.contentType()).isEqualTo("application/json");
    assertThat(new String(stored.value(), StandardCharsets.UTF_8))
        .isEqualTo("{\"a\":[1,-0,2.50,1e3,true,null],\"s\":\"line\\nbreak \\\"q\\\" \\u0001 / é 😀 😀\"}");
    String read = call("GET", "/topics/" + topic + "/partitions/0/records?offset=0", null).body();
    assertThat(read).contains("\"value\":" + new String(stored.value(), StandardCharsets.UTF_8) + ",");

    // Already compact: stored as sent, spaces inside strings and escaped quotes and backslashes included.
    String compact = "[{\"q\":\"say \\\"hi\\\" \\\\\",\"n\":[-1.5E-7,{}]},\" } \"]";
    assertThat(call("POST", "/topics/" + topic + "/records", "{\"records\":[{\"value\":" + compact + "}]}").status())
        .isEqualTo(200);
    StoredRecord second = broker.read(topic, 0, 1, 1, 1 << 20).await().records().get(0);
    assertThat(new String(second.value(), StandardCharsets.UTF_8)).isEqualTo(compact);
  }

  @Test
  void utf8AndBase64KeysAndValuesRoundTrip() {
    String topic = newTopic(1);
    byte[] binaryKey = {(byte) 0xff, 0, (byte) 0x80};
    byte[] binaryValue = {0, 1, 2, (byte) 0xfe, (byte) 0xff};
    String records = "{\"records\":["
        + "{\"key\":\"" + b64(binaryKey) + "\",\"keyEncoding\":\"base64\",\"value\":\"" + b64(binaryValue)
        + "\",\"valueEncoding\":\"base64\",\"headers\":{\"h\":\"v\"}},"
        + "{\"key\":\"YWJj\",\"keyEncoding\":\"base64\",\"value\":\"héllo wörld\",\"valueEncoding\":\"utf8\"},"
        + "{\"key\":\"ключ\",\"keyEncoding\":\"utf8\",\"value\":\"\",\"valueEncoding\":\"base64\"},"
        + "{\"key\":null,\"value\":\"{\\\"not\\\":\\\"parsed\\\"}\",\"valueEncoding\":\"utf8\"}"
        + "]}";
    Reply produced = call("POST", "/topics/" + topic + "/records", records);
    assertThat(produced.status()).isEqualTo(200);
    JsonArray results = produced.json().getJsonArray("results");
    for (int i = 0; i < 4; i++) {
      assertThat(results.getJsonObject(i).getLong("offset")).isEqualTo(i);
      assertThat(results.getJsonObject(i).getInteger("partition")).isZero();
    }

    JsonArray read = call("GET", "/topics/" + topic + "/partitions/0/records?offset=0", null).json()
        .getJsonArray("records");
    assertThat(read).hasSize(4);
    JsonObject r0 = read.getJsonObject(0);
    assertThat(r0.getString("key")).isEqualTo(b64(binaryKey));
    assertThat(r0.getString("keyEncoding")).isEqualTo("base64");  // not valid UTF-8
    assertThat(r0.getString("value")).isEqualTo(b64(binaryValue));
    assertThat(r0.getString("valueEncoding")).isEqualTo("base64");
    assertThat(r0.getJsonObject("headers")).isEqualTo(new JsonObject().put("h", "v"));
    JsonObject r1 = read.getJsonObject(1);
    assertThat(r1.getString("key")).isEqualTo("abc");  // base64 in, valid UTF-8 out
    assertThat(r1.getString("keyEncoding")).isEqualTo("utf8");
    assertThat(r1.getString("value")).isEqualTo(b64("héllo wörld".getBytes(StandardCharsets.UTF_8)));
    assertThat(r1.getString("valueEncoding")).isEqualTo("base64");
    JsonObject r2 = read.getJsonObject(2);
    assertThat(r2.getString("key")).isEqualTo("ключ");
    assertThat(r2.getString("value")).isEmpty();
    JsonObject r3 = read.getJsonObject(3);
    assertThat(r3.getValue("key")).isNull();
    assertThat(r3.getString("value")).isEqualTo(b64("{\"not\":\"parsed\"}".getBytes(StandardCharsets.UTF_8)));
    assertThat(r3.getString("valueEncoding")).isEqualTo("base64");

    List<StoredRecord> stored = broker.read(topic, 0, 0, 10, 1 << 20).await().records();
    assertThat(stored.get(0).key()).isEqualTo(binaryKey);
    assertThat(stored.get(0).value()).isEqualTo(binaryValue);
    assertThat(stored.get(0).contentType()).isEqualTo("application/octet-stream");
    assertThat(stored.get(1).value()).isEqualTo("héllo wörld".getBytes(StandardCharsets.UTF_8));
    assertThat(stored.get(1).contentType()).isEqualTo("text/plain; charset=utf-8");
    assertThat(stored.get(2).key()).isEqualTo("ключ".getBytes(StandardCharsets.UTF_8));
    assertThat(stored.get(3).key()).isNull();
  }

  @Test
  void keyedRecordsLandWhereKafkaPutsThem() {
    String topic = newTopic(4);
    List<String> keys = new ArrayList<>();
    StringBuilder body = new StringBuilder("{\"records\":[");
    for (int i = 0; i < 20; i++) {
      keys.add("key-" + i);
      body.append(i == 0 ? "" : ",").append("{\"key\":\"key-").append(i).append("\",\"value\":").append(i).append('}');
    }
    JsonArray results = call("POST", "/topics/" + topic + "/records", body.append("]}").toString()).json()
        .getJsonArray("results");
    for (int i = 0; i < keys.size(); i++) {
      assertThat(results.getJsonObject(i).getInteger("partition")).as(keys.get(i))
          .isEqualTo(Partitioner.partitionForKey(keys.get(i), 4));
    }
    int total = 0;
    for (int p = 0; p < 4; p++) {
      JsonArray read = call("GET", "/topics/" + topic + "/partitions/" + p + "/records?offset=0", null).json()
          .getJsonArray("records");
      for (Object o : read) {
        String key = ((JsonObject) o).getString("key");
        assertThat(Partitioner.partitionForKey(key, 4)).isEqualTo(p);
        assertThat(((JsonObject) o).getInteger("value")).isEqualTo(keys.indexOf(key));
      }
      total += read.size();
    }
    assertThat(total).isEqualTo(keys.size());
  }

  @Test
  void readHonoursMaxRecordsAndPagesByNextOffset() {
    Reply page = call("GET", "/topics/" + FIXTURE + "/partitions/0/records?offset=1&maxRecords=1", null);
    JsonObject json = page.json();
    assertThat(json.getJsonArray("records")).hasSize(1);
    assertThat(json.getJsonArray("records").getJsonObject(0).getLong("offset")).isEqualTo(1);
    assertThat(json.getJsonArray("records").getJsonObject(0).getInteger("value")).isEqualTo(2);
    assertThat(json.getLong("nextOffset")).isEqualTo(2);
    assertThat(json.getLong("highWatermark")).isEqualTo(3);
    // At least one record even when it is larger than maxBytes; at the high watermark, none.
    assertThat(call("GET", "/topics/" + FIXTURE + "/partitions/0/records?offset=0&maxBytes=1", null).json()
        .getJsonArray("records")).hasSize(1);
    JsonObject end = call("GET", "/topics/" + FIXTURE + "/partitions/0/records?offset=3", null).json();
    assertThat(end.getJsonArray("records")).isEmpty();
    assertThat(end.getLong("nextOffset")).isEqualTo(3);
  }

  @Test
  void aJsonValueNestedAsDeepAsTheParserTakesIsReadAsStored() throws Exception {
    // Stored by a producer outside the HTTP API (see GroupHttpTest): rendering it as a tree overflowed the stack.
    String topic = newTopic(1);
    String deep = "[".repeat(1000) + "]".repeat(1000);
    broker.produce(topic, List.of(new ProduceRecord(null, deep.getBytes(StandardCharsets.UTF_8), "application/json",
        List.of(), 0, null))).await(30, TimeUnit.SECONDS);
    Reply reply = call("GET", "/topics/" + topic + "/partitions/0/records?offset=0", null);
    assertThat(reply.status()).isEqualTo(200);
    assertThat(reply.body()).contains("\"value\":" + deep + ",\"valueEncoding\":\"json\"");
  }

  // ---------------------------------------------------------------- topics

  @Test
  void topicLifecycle() {
    String name = "lifecycle-" + TOPICS.incrementAndGet();
    String spec = "{\"partitions\":2,\"config\":{\"maxRecordBytes\":1000,\"retentionMs\":60000}}";
    Reply created = call("PUT", "/topics/" + name, spec);
    assertThat(created.status()).isEqualTo(201);
    assertThat(created.contentType()).isEqualTo("application/json");
    JsonObject expected = new JsonObject()
        .put("name", name)
        .put("partitions", new JsonArray()
            .add(new JsonObject().put("partition", 0).put("logStartOffset", 0).put("highWatermark", 0))
            .add(new JsonObject().put("partition", 1).put("logStartOffset", 0).put("highWatermark", 0)))
        .put("config", new TopicConfig(60_000, -1, TopicConfig.DEFAULT.segmentMs(), 1000).toJson());
    assertThat(created.json()).isEqualTo(expected);

    Reply again = call("PUT", "/topics/" + name, spec);
    assertThat(again.status()).isEqualTo(200);
    assertThat(again.json()).isEqualTo(expected);
    assertProblem(call("PUT", "/topics/" + name, "{\"partitions\":3}"), 409, "TOPIC_EXISTS");
    assertProblem(call("PUT", "/topics/" + name, "{\"partitions\":2}"), 409, "TOPIC_EXISTS");  // default config

    String defaults = "defaults-" + TOPICS.incrementAndGet();
    Reply plain = call("PUT", "/topics/" + defaults, null);
    assertThat(plain.status()).isEqualTo(201);
    assertThat(plain.json().getJsonArray("partitions")).hasSize(1);
    assertThat(plain.json().getJsonObject("config")).isEqualTo(TopicConfig.DEFAULT.toJson());

    call("POST", "/topics/" + name + "/records", "{\"records\":[{\"value\":1,\"partition\":1}]}");
    expected.getJsonArray("partitions").getJsonObject(1).put("highWatermark", 1);
    Reply described = call("GET", "/topics/" + name, null);
    assertThat(described.status()).isEqualTo(200);
    assertThat(described.json()).isEqualTo(expected);

    Reply list = call("GET", "/topics", null);
    assertThat(list.status()).isEqualTo(200);
    assertThat(list.json().fieldNames()).containsExactly("topics");
    JsonArray topics = list.json().getJsonArray("topics");
    assertThat(topics).contains(expected, plain.json());
    assertThat(topics.stream().map(t -> ((JsonObject) t).getString("name"))).contains(FIXTURE, SMALL, name, defaults);

    Reply deleted = call("DELETE", "/topics/" + name, null);
    assertThat(deleted.status()).isEqualTo(204);
    assertThat(deleted.body()).isEmpty();
    assertProblem(call("GET", "/topics/" + name, null), 404, "TOPIC_NOT_FOUND");
    assertProblem(call("DELETE", "/topics/" + name, null), 404, "TOPIC_NOT_FOUND");
    assertProblem(call("POST", "/topics/" + name + "/records", ONE_RECORD), 404, "TOPIC_NOT_FOUND");
    assertThat(call("GET", "/topics", null).json().getJsonArray("topics").stream()
        .map(t -> ((JsonObject) t).getString("name"))).doesNotContain(name);
  }

  // ---------------------------------------------------------------- bad input

  static Stream<Arguments> badRequests() {
    String fixture = "/topics/" + FIXTURE;
    String produce = fixture + "/records";
    String read = fixture + "/partitions/0/records";
    String fresh = "/topics/never-created";
    return Stream.of(
        // topic names, in every path
        arguments("PUT", "/topics/bad%20name", "{}", 400, "INVALID_TOPIC_NAME"),
        arguments("GET", "/topics/bad%21name", null, 400, "INVALID_TOPIC_NAME"),
        arguments("DELETE", "/topics/bad%2Fname", null, 400, "INVALID_TOPIC_NAME"),
        arguments("POST", "/topics/bad%20name/records", ONE_RECORD, 400, "INVALID_TOPIC_NAME"),
        arguments("GET", "/topics/bad%20name/partitions/0/records?offset=0", null, 400, "INVALID_TOPIC_NAME"),
        arguments("GET", "/topics/..", null, 400, "INVALID_TOPIC_NAME"),
        arguments("POST", "/topics/./records", ONE_RECORD, 400, "INVALID_TOPIC_NAME"),
        arguments("POST", "/topics//records", ONE_RECORD, 400, "INVALID_TOPIC_NAME"),
        arguments("PUT", "/topics/" + "a".repeat(250), null, 400, "INVALID_TOPIC_NAME"),
        arguments("PUT", "/topics/caf%C3%A9", null, 400, "INVALID_TOPIC_NAME"),
        // unknown topic
        arguments("POST", "/topics/nope/records", ONE_RECORD, 404, "TOPIC_NOT_FOUND"),
        arguments("GET", "/topics/nope/partitions/0/records?offset=0", null, 404, "TOPIC_NOT_FOUND"),
        arguments("GET", "/topics/nope", null, 404, "TOPIC_NOT_FOUND"),
        arguments("DELETE", "/topics/nope", null, 404, "TOPIC_NOT_FOUND"),
        // partitions
        arguments("POST", produce, "{\"records\":[{\"value\":1,\"partition\":2}]}", 404, "PARTITION_OUT_OF_RANGE"),
        arguments("POST", produce, "{\"records\":[{\"value\":1,\"partition\":-1}]}", 404, "PARTITION_OUT_OF_RANGE"),
        arguments("GET", fixture + "/partitions/2/records?offset=0", null, 404, "PARTITION_OUT_OF_RANGE"),
        arguments("GET", fixture + "/partitions/-1/records?offset=0", null, 404, "PARTITION_OUT_OF_RANGE"),
        arguments("GET", fixture + "/partitions/x/records?offset=0", null, 400, "INVALID_REQUEST"),
        // JSON
        arguments("POST", produce, "{\"records\":[", 400, "MALFORMED_JSON"),
        arguments("POST", produce, "", 400, "MALFORMED_JSON"),
        arguments("POST", produce, ONE_RECORD + " x", 400, "MALFORMED_JSON"),
        arguments("POST", produce, "/* comment */ " + ONE_RECORD, 400, "MALFORMED_JSON"),
        arguments("POST", produce, "{'records':[]}", 400, "MALFORMED_JSON"),
        arguments("PUT", fresh, "{partitions:2}", 400, "MALFORMED_JSON"),
        // a name twice in one object (I-JSON), in the body or inside a value
        arguments("POST", produce, rec("\"value\":1,\"value\":2"), 400, "MALFORMED_JSON"),
        arguments("POST", produce, rec("\"value\":{\"a\":1,\"b\":{},\"a\":2}"), 400, "MALFORMED_JSON"),
        arguments("POST", produce, "{\"records\":[],\"records\":[{\"value\":1}]}", 400, "MALFORMED_JSON"),
        arguments("PUT", fresh, "{\"partitions\":2,\"partitions\":3}", 400, "MALFORMED_JSON"),
        // a bad record before a syntax error: the body is not JSON, whatever comes first
        arguments("POST", produce, "{\"records\":[{\"key\":5,\"value\":1},{\"value\":]}", 400, "MALFORMED_JSON"),
        arguments("POST", produce, "{\"records\":[{\"value\":1}]} []", 400, "MALFORMED_JSON"),
        // deeper than the parser's 1000 levels with the body's own three
        arguments("POST", produce, rec("\"value\":" + "[".repeat(998) + "]".repeat(998)), 400, "MALFORMED_JSON"),
        // records
        arguments("POST", produce, "{}", 400, "INVALID_RECORD"),
        arguments("POST", produce, "{\"records\":[]}", 400, "INVALID_RECORD"),
        arguments("POST", produce, "{\"records\":{}}", 400, "INVALID_RECORD"),
        arguments("POST", produce, "{\"records\":null}", 400, "INVALID_RECORD"),
        arguments("POST", produce, "[{\"value\":1}]", 400, "INVALID_RECORD"),
        arguments("POST", produce, "{\"records\":[1]}", 400, "INVALID_RECORD"),
        arguments("POST", produce, "{\"records\":[{\"key\":\"k\"}]}", 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"valueEncoding\":\"hex\""), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"keyEncoding\":\"latin1\""), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"key\":5"), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":5,\"valueEncoding\":\"utf8\""), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":null,\"valueEncoding\":\"base64\""), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"headers\":{\"a\":1}"), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"headers\":[\"a\"]"), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"partition\":\"1\""), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"partition\":1.5"), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"partition\":4294967296"), 400, "INVALID_RECORD"),
        arguments("POST", produce, rec("\"value\":1,\"idempotencyKey\":7"), 400, "INVALID_RECORD"),
        // encodings
        arguments("POST", produce, rec("\"value\":\"YWI\",\"valueEncoding\":\"base64\""), 400, "BAD_ENCODING"),
        arguments("POST", produce, rec("\"value\":\"YW!=\",\"valueEncoding\":\"base64\""), 400, "BAD_ENCODING"),
        arguments("POST", produce, rec("\"value\":1,\"key\":\"_-8=\",\"keyEncoding\":\"base64\""), 400, "BAD_ENCODING"),
        arguments("POST", produce, rec("\"value\":\"\\ud800\",\"valueEncoding\":\"utf8\""), 400, "BAD_ENCODING"),
        arguments("POST", produce, rec("\"value\":\"\\ud800\""), 400, "BAD_ENCODING"),
        arguments("POST", produce, rec("\"value\":[\"a\\udc00\"]"), 400, "BAD_ENCODING"),
        arguments("POST", produce, rec("\"value\":{\"\\ud83d\":1}"), 400, "BAD_ENCODING"),
        arguments("POST", produce, rec("\"value\":1,\"headers\":{\"h\":\"\\ud800\"}"), 400, "BAD_ENCODING"),
        // sizes
        arguments("POST", "/topics/" + SMALL + "/records", rec("\"value\":\"" + "x".repeat(300) + "\""), 413,
            "RECORD_TOO_LARGE"),
        // read parameters
        arguments("GET", read, null, 400, "INVALID_REQUEST"),
        arguments("GET", read + "?offset=abc", null, 400, "INVALID_REQUEST"),
        arguments("GET", read + "?offset=1.5", null, 400, "INVALID_REQUEST"),
        arguments("GET", read + "?offset=0&maxRecords=0", null, 400, "INVALID_REQUEST"),
        arguments("GET", read + "?offset=0&maxRecords=10001", null, 400, "INVALID_REQUEST"),
        arguments("GET", read + "?offset=0&maxRecords=x", null, 400, "INVALID_REQUEST"),
        arguments("GET", read + "?offset=0&maxBytes=0", null, 400, "INVALID_REQUEST"),
        arguments("GET", read + "?offset=0&maxBytes=16777217", null, 400, "INVALID_REQUEST"),
        arguments("GET", read + "?offset=4", null, 416, "OFFSET_OUT_OF_RANGE"),
        arguments("GET", read + "?offset=-1", null, 416, "OFFSET_OUT_OF_RANGE"),
        arguments("GET", fixture + "/partitions/1/records?offset=1", null, 416, "OFFSET_OUT_OF_RANGE"),
        // topic creation
        arguments("PUT", fresh, "{\"partitions\":0}", 400, "INVALID_REQUEST"),
        arguments("PUT", fresh, "{\"partitions\":10001}", 400, "INVALID_REQUEST"),
        arguments("PUT", fresh, "{\"partitions\":\"2\"}", 400, "INVALID_REQUEST"),
        arguments("PUT", fresh, "[]", 400, "INVALID_REQUEST"),
        arguments("PUT", fresh, "{\"config\":{\"bogus\":1}}", 400, "INVALID_CONFIG"),
        arguments("PUT", fresh, "{\"config\":{\"maxRecordBytes\":0}}", 400, "INVALID_CONFIG"),
        arguments("PUT", fresh, "{\"config\":{\"retentionMs\":1e30}}", 400, "INVALID_CONFIG"),
        arguments("PUT", fresh, "{\"config\":\"x\"}", 400, "INVALID_CONFIG"),
        arguments("PUT", fixture, "{\"partitions\":3}", 409, "TOPIC_EXISTS"),
        // routes and methods
        arguments("GET", "/nope", null, 404, "NOT_FOUND"),
        arguments("GET", fixture + "/nope", null, 404, "NOT_FOUND"),
        arguments("POST", "/topics", "{}", 405, "METHOD_NOT_ALLOWED"),
        arguments("PATCH", fixture + "/records", "{}", 405, "METHOD_NOT_ALLOWED"),
        arguments("GET", fixture + "/partitions", null, 405, "METHOD_NOT_ALLOWED"),
        arguments("GET", produce, null, 405, "METHOD_NOT_ALLOWED"),
        arguments("POST", "/health/live", null, 405, "METHOD_NOT_ALLOWED"));
  }

  @ParameterizedTest(name = "{0} {1} {2} -> {3} {4}")
  @MethodSource("badRequests")
  void badRequestAnswersItsProblemAndLeavesTheLogUnchanged(String method, String path, String body, int status,
                                                          String code) {
    JsonObject before = snapshot();
    Reply reply = call(method, path, body);
    assertProblem(reply, status, code);
    if (status == 405) {
      assertThat(reply.header("Allow")).isNotBlank().doesNotContain(method);
    }
    assertThat(snapshot()).isEqualTo(before);
  }

  @Test
  void aBatchWithOnlyItsLastRecordBadStoresNothing() {
    JsonObject before = snapshot();
    String good = "{\"value\":{\"ok\":true},\"partition\":0},{\"key\":\"k\",\"value\":\"v\",\"valueEncoding\":\"utf8\"},"
        + "{\"value\":\"AAE=\",\"valueEncoding\":\"base64\",\"partition\":1}";
    Reply invalid = call("POST", "/topics/" + FIXTURE + "/records", "{\"records\":[" + good + ",{\"key\":\"k\"}]}");
    assertProblem(invalid, 400, "INVALID_RECORD");
    assertThat(invalid.json().getString("detail")).contains("record 3").contains("value");
    Reply encoding = call("POST", "/topics/" + FIXTURE + "/records",
        "{\"records\":[" + good + ",{\"value\":\"abc\",\"valueEncoding\":\"base64\"}]}");
    assertProblem(encoding, 400, "BAD_ENCODING");
    assertThat(encoding.json().getString("detail")).contains("record 3");
    Reply partition = call("POST", "/topics/" + FIXTURE + "/records",
        "{\"records\":[" + good + ",{\"value\":1,\"partition\":9}]}");
    assertProblem(partition, 404, "PARTITION_OUT_OF_RANGE");
    assertThat(partition.json().getString("detail")).contains("record 3");
    Reply tooLarge = call("POST", "/topics/" + SMALL + "/records",
        "{\"records\":[{\"value\":1},{\"value\":2},{\"value\":\"" + "y".repeat(200) + "\"}]}");
    assertProblem(tooLarge, 413, "RECORD_TOO_LARGE");
    assertThat(tooLarge.json().getString("detail")).contains("record 2");
    assertThat(snapshot()).isEqualTo(before);
  }

  @Test
  void bodiesOverTheLimitAreRefusedWhetherSizedOrChunked() throws Exception {
    JsonObject before = snapshot();
    // A valid produce that the topic would accept, only too large for the transport.
    byte[] big = ("{\"records\":[{\"value\":\"" + "z".repeat(MAX_BODY) + "\"}]}").getBytes(StandardCharsets.UTF_8);
    URI uri = uri("/topics/" + FIXTURE + "/records");
    Reply sized = send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofByteArray(big)).build());
    assertProblem(sized, 413, "BODY_TOO_LARGE");
    Reply chunked = send(HttpRequest.newBuilder(uri)
        .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big))).build());
    assertProblem(chunked, 413, "BODY_TOO_LARGE");
    assertThat(snapshot()).isEqualTo(before);

    // Just under the limit is fine.
    String topic = newTopic(1);
    String fits = "{\"records\":[{\"value\":\"" + "z".repeat(MAX_BODY - 100) + "\"}]}";
    assertThat(call("POST", "/topics/" + topic + "/records", fits).status()).isEqualTo(200);
  }

  // ---------------------------------------------------------------- health and lifecycle

  @Test
  void healthLiveAndReady() {
    Reply live = call("GET", "/health/live", null);
    assertThat(live.status()).isEqualTo(200);
    assertThat(live.json()).isEqualTo(new JsonObject().put("status", "UP"));
    Reply ready = call("GET", "/health/ready", null);
    assertThat(ready.status()).isEqualTo(200);
    assertThat(ready.json()).isEqualTo(new JsonObject().put("status", "UP"));
  }

  @Test
  void notReadyWhenStorageIsGoneAndStopClosesTheListener() {
    // A schema of its own: in this class's, the fixture's store holds every lease, so this node would not be ready.
    LogStore closed = LogStore.open(vertx, PG.options().setSchema(PG.schema() + "_closed")).await();
    HttpTransport other = secondTransport(Broker.create(vertx, closed), o -> o);
    int port = other.actualPort();
    assertThat(port).isPositive().isNotEqualTo(transport.actualPort());
    assertThat(call(port, "GET", "/health/ready", null).status()).isEqualTo(200);

    closed.close().await();
    Reply ready = call(port, "GET", "/health/ready", null);
    assertProblem(ready, 503, "UNAVAILABLE");
    assertThat(call(port, "GET", "/health/live", null).status()).isEqualTo(200);

    other.stop().await();
    assertThat(other.actualPort()).isZero();
    assertThatThrownBy(() -> http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health/live"))
        .build(), HttpResponse.BodyHandlers.ofString())).isInstanceOf(ConnectException.class);
    assertThat(other.start(broker).await()).isNull();  // restartable
    assertThat(call(other.actualPort(), "GET", "/topics/" + FIXTURE, null).status()).isEqualTo(200);
    other.stop().await();
  }

  /**
   * The node-wide bound on request bytes held: while one request's 90,000 bytes are being received, another of 20,000
   * does not fit under 100,000 and is answered 503 OVERLOADED with Retry-After at once; once the first is answered, it
   * fits again.
   */
  @Test
  void requestBytesPastTheNodeWideBoundAreRefusedAtOnce() throws Exception {
    String topic = newTopic(1);
    HttpTransport bounded = secondTransport(broker, o -> o.setMaxHeldBytes(100_000));
    try (java.net.Socket slow = new java.net.Socket("127.0.0.1", bounded.actualPort())) {
      int port = bounded.actualPort();
      String big = bodyOfLength(90_000);
      java.io.OutputStream out = slow.getOutputStream();
      out.write(("POST /topics/" + topic + "/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          + "Content-Length: " + big.length() + "\r\n\r\n" + big.substring(0, 1_000)).getBytes(StandardCharsets.US_ASCII));
      out.flush();

      String small = bodyOfLength(20_000);
      Reply refused = null;
      long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
      while (refused == null && System.nanoTime() < deadline) {  // until the slow request holds its bytes
        Reply r = call(port, "POST", "/topics/" + topic + "/records", small);
        if (r.status() == 503) {
          refused = r;
        } else {
          assertThat(r.status()).isEqualTo(200);
          Thread.sleep(10);
        }
      }
      assertThat(refused).as("a request refused while the slow one is held").isNotNull();
      assertProblem(refused, 503, "OVERLOADED");
      assertThat(refused.json().getString("detail")).contains("http.maxHeldBytes");
      assertThat(refused.response().headers().firstValue("Retry-After")).hasValue("1");

      out.write(big.substring(1_000).getBytes(StandardCharsets.US_ASCII));
      out.flush();
      java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(slow.getInputStream(),
          StandardCharsets.US_ASCII));
      assertThat(in.readLine()).as("the slow request's answer").isEqualTo("HTTP/1.1 200 OK");
      assertThat(call(port, "POST", "/topics/" + topic + "/records", small).status()).as("room again").isEqualTo(200);
    } finally {
      bounded.stop().await();
    }
  }

  /** Requests the decoder refuses before routing are problems too: headers past the limit, a request line too long. */
  @Test
  void tooLargeHeadersAndTooLongRequestLinesAreProblems() throws Exception {
    for (String[] c : new String[][] {
        {"GET /topics HTTP/1.1\r\nHost: x\r\nX-Big: " + "h".repeat(10_000) + "\r\n\r\n", "431"},
        {"GET /topics/" + "t".repeat(5_000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "414"}}) {
      try (java.net.Socket socket = new java.net.Socket("127.0.0.1", transport.actualPort())) {
        socket.getOutputStream().write(c[0].getBytes(StandardCharsets.US_ASCII));
        String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);  // closed after
        assertThat(answer).matches("(?s)HTTP/1\\.[01] " + c[1] + " .*");  // 1.0 when the line's version was never read
        assertThat(answer.toLowerCase(java.util.Locale.ROOT)).contains("content-type: application/problem+json")
            .contains("connection: close");
        JsonObject problem = new JsonObject(answer.substring(answer.indexOf("\r\n\r\n") + 4));
        assertThat(problem.getString("code")).isEqualTo("INVALID_REQUEST");
        assertThat(problem.getInteger("status")).isEqualTo(Integer.parseInt(c[1]));
      }
    }
    assertThat(call("GET", "/health/live", null).status()).isEqualTo(200);
  }

  @Test
  void aProduceRequestCarriesAtMostTheConfiguredNumberOfRecords() {
    String topic = newTopic(1);
    HttpTransport limited = secondTransport(broker, o -> o.setMaxRecordsPerRequest(3));
    try {
      String three = "{\"records\":[{\"value\":1},{\"value\":2},{\"value\":3}]}";
      String four = "{\"records\":[{\"value\":1},{\"value\":2},{\"value\":3},{\"value\":4}]}";
      Reply refused = call(limited.actualPort(), "POST", "/topics/" + topic + "/records", four);
      assertProblem(refused, 400, "INVALID_REQUEST");
      assertThat(refused.json().getString("detail")).contains("at most 3 records").contains("http.maxRecordsPerRequest");
      assertThat(call(limited.actualPort(), "GET", "/topics/" + topic + "/partitions/0/records?offset=0", null).json()
          .getJsonArray("records")).as("nothing stored").isEmpty();
      assertThat(call(limited.actualPort(), "POST", "/topics/" + topic + "/records", three).status()).isEqualTo(200);
    } finally {
      limited.stop().await();
    }
  }

  /** A produce body of exactly {@code length} bytes: one record whose string value pads it. */
  private static String bodyOfLength(int length) {
    String head = "{\"records\":[{\"value\":\"";
    String tail = "\"}]}";
    return head + "x".repeat(length - head.length() - tail.length()) + tail;
  }

  /** An incoming W3C traceparent is kept in each record that has none of its own; an invalid one is ignored. */
  @Test
  void theRequestsTraceparentIsKeptInTheRecordsForConsumers() {
    String topic = newTopic(1);
    String trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    String own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
    Reply first = send(HttpRequest.newBuilder(uri(transport.actualPort(), "/topics/" + topic + "/records"))
        .header("traceparent", trace).header("content-type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"records\":[{\"value\":1},{\"value\":2,\"headers\":"
            + "{\"traceparent\":\"" + own + "\"}}]}")).build());
    assertThat(first.status()).isEqualTo(200);
    for (String invalid : new String[] {"garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}) {
      Reply ignored = send(HttpRequest.newBuilder(uri(transport.actualPort(), "/topics/" + topic + "/records"))
          .header("traceparent", invalid).header("content-type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"records\":[{\"value\":3}]}")).build());
      assertThat(ignored.status()).isEqualTo(200);
    }
    JsonArray records = call("GET", "/topics/" + topic + "/partitions/0/records?offset=0", null).json()
        .getJsonArray("records");
    assertThat(records.getJsonObject(0).getJsonObject("headers")).isEqualTo(new JsonObject().put("traceparent", trace));
    assertThat(records.getJsonObject(1).getJsonObject("headers")).isEqualTo(new JsonObject().put("traceparent", own));
    for (int i = 2; i < 5; i++) {
      assertThat(records.getJsonObject(i).getJsonObject("headers")).as("record %d", i).isEqualTo(new JsonObject());
    }
  }

  /**
   * A keep-alive connection idle when the stop begins stays open: a request its client sends after the drain began is
   * answered (503 UNAVAILABLE, nothing stored, {@code Connection: close}), not lost unread; the connection closes after
   * that answer, and the stop then ends without waiting for its grace period. A request that comes after the listener
   * closed but before the drain began (the stop first waits for the port to refuse connections) is served as usual:
   * 200 and stored; it carries {@code Connection: close} only if the drain began while it was being answered.
   */
  @Test
  void aStopAnswersARequestOnAnIdleKeepAliveConnection() throws Exception {
    String topic = newTopic(1);
    HttpTransport other = secondTransport(broker, o -> o.setInstances(2).setShutdownGraceMs(60_000));
    int port = other.actualPort();
    try (java.net.Socket idle = new java.net.Socket("127.0.0.1", port)) {
      idle.setSoTimeout(20_000);
      idle.getOutputStream().write("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      assertThat(oneAnswer(idle.getInputStream())).startsWith("HTTP/1.1 200");

      io.vertx.core.Future<Void> stopped = other.stop();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      boolean refused = false;
      while (!refused && System.nanoTime() < deadline) {
        try (java.net.Socket probe = new java.net.Socket("127.0.0.1", port)) {
          Thread.sleep(5);
        } catch (ConnectException e) {
          refused = true;
        }
      }
      assertThat(refused).as("the listener closed").isTrue();
      assertThat(stopped.isComplete()).as("the stop waits for the idle connection").isFalse();

      // Each request is served (200, stored) until the drain begins; the first answer after it says close.
      String body = "{\"records\":[{\"value\":1}]}";
      int served = 0;
      String answer = "";
      while (!answer.toLowerCase(java.util.Locale.ROOT).contains("connection: close") && served < 1_000) {
        idle.getOutputStream().write(("POST /topics/" + topic + "/records HTTP/1.1\r\nHost: x\r\nContent-Type: "
            + "application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
            .getBytes(StandardCharsets.US_ASCII));
        answer = oneAnswer(idle.getInputStream());
        if (answer.startsWith("HTTP/1.1 200")) {
          JsonObject result = new JsonObject(answer.substring(answer.indexOf("\r\n\r\n") + 4));
          assertThat(result.getJsonArray("results").getJsonObject(0).getLong("offset")).isEqualTo(served);
          served++;
        } else {
          assertThat(answer).startsWith("HTTP/1.1 503");
          assertThat(new JsonObject(answer.substring(answer.indexOf("\r\n\r\n") + 4)).getString("code"))
              .isEqualTo("UNAVAILABLE");
          assertThat(answer.toLowerCase(java.util.Locale.ROOT)).contains("connection: close");
        }
      }
      assertThat(answer.toLowerCase(java.util.Locale.ROOT)).contains("connection: close");
      assertThat(idle.getInputStream().read()).as("the connection closed after that answer").isEqualTo(-1);
      JsonArray stored = call("GET", "/topics/" + topic + "/partitions/0/records?offset=0", null).json()
          .getJsonArray("records");
      assertThat(stored).as("stored exactly what was answered 200").hasSize(served);
      stopped.await(20, TimeUnit.SECONDS);  // its last connection closed: far less than the 60 s grace
    }
  }

  /** Reads one HTTP/1.1 answer with a Content-Length body, leaving the connection open. */
  private static String oneAnswer(java.io.InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    while (head.indexOf("\r\n\r\n") < 0) {
      int b = in.read();
      assertThat(b).as("an answer before the connection closed").isNotNegative();
      head.append((char) b);
    }
    java.util.regex.Matcher length = java.util.regex.Pattern.compile("(?i)content-length: *(\\d+)").matcher(head);
    assertThat(length.find()).as("a Content-Length in %s", head).isTrue();
    return head + new String(in.readNBytes(Integer.parseInt(length.group(1))), StandardCharsets.UTF_8);
  }

  /**
   * A stop drains: a long poll in flight is answered at once with no deliveries and {@code Connection: close} (it does
   * not hold the shutdown for its 30 s), and the listener closes.
   */
  @Test
  void aStopAnswersTheLongPollInFlightAndClosesItsConnection() throws Exception {
    String topic = newTopic(1);
    HttpTransport other = secondTransport(broker, o -> o.setShutdownGraceMs(30_000));
    int port = other.actualPort();
    String group = "drain-" + topic;
    Reply joined = call(port, "POST", "/groups/" + group + "/members", "{\"topics\":[\"" + topic + "\"]}");
    assertThat(joined.status()).isEqualTo(201);
    String member = joined.json().getString("memberId");
    java.util.concurrent.CompletableFuture<HttpResponse<String>> poll = http.sendAsync(HttpRequest.newBuilder(
            uri(port, "/groups/" + group + "/members/" + member + "/fetch"))
        .POST(HttpRequest.BodyPublishers.ofString("{\"maxWaitMs\":30000}")).timeout(Duration.ofSeconds(60)).build(),
        HttpResponse.BodyHandlers.ofString());
    Thread.sleep(1_000);  // time for the poll to reach the node, where it waits: there is nothing to deliver
    assertThat(poll).as("the poll waits").isNotDone();

    other.stop().await(20, java.util.concurrent.TimeUnit.SECONDS);  // far less than the poll's 30 s
    HttpResponse<String> answered = poll.get(5, java.util.concurrent.TimeUnit.SECONDS);
    assertThat(answered.statusCode()).isEqualTo(200);
    assertThat(new JsonObject(answered.body()).getJsonArray("deliveries")).isEmpty();
    assertThat(answered.headers().firstValue("connection")).hasValue("close");
    assertThatThrownBy(() -> http.send(HttpRequest.newBuilder(uri(port, "/health/live")).build(),
        HttpResponse.BodyHandlers.ofString())).isInstanceOf(ConnectException.class);
  }

  /** A store that cannot recover by itself (its embedded Postgres stayed down) fails liveness, so it gets restarted. */
  @Test
  void notLiveWhenStorageCannotRecoverByItself() {
    java.util.concurrent.atomic.AtomicReference<String> unrecoverable = new java.util.concurrent.atomic.AtomicReference<>();
    LogStore watched = LogStore.open(vertx, PG.options().setUnrecoverable(unrecoverable::get)).await();
    HttpTransport other = secondTransport(Broker.create(vertx, watched), o -> o);
    try {
      int port = other.actualPort();
      assertThat(call(port, "GET", "/health/live", null).status()).isEqualTo(200);
      unrecoverable.set("the embedded PostgreSQL died and 10 attempts to start it again failed");
      Reply live = call(port, "GET", "/health/live", null);
      assertProblem(live, 503, "UNAVAILABLE");
      assertThat(live.json().getString("detail")).contains("10 attempts to start it again failed");
    } finally {
      other.stop().await();
      watched.close().await();
    }
  }

  /**
   * A bug inside the broker is 500 INTERNAL with an incident id that the log line carries too, never the exception's
   * text. There is no bug to call on purpose, so the broker here is the real one with one method made to fail.
   */
  @Test
  void anUnexpectedFailureIsInternalWithAnIncidentIdAndNoInternals() {
    Broker buggy = (Broker) java.lang.reflect.Proxy.newProxyInstance(Broker.class.getClassLoader(),
        new Class<?>[] {Broker.class}, (proxy, method, args) -> {
          if (method.getName().equals("listTopics")) {
            return io.vertx.core.Future.failedFuture(new IllegalStateException("secret-internal-detail"));
          }
          try {
            return method.invoke(broker, args);
          } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
          }
        });
    ch.qos.logback.classic.Logger problemsLog = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(
        "dev.runnel.transport.http.impl.Problems");
    ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
        new ch.qos.logback.core.read.ListAppender<>();
    logged.start();
    problemsLog.addAppender(logged);
    HttpTransport other = secondTransport(buggy, o -> o);
    try {
      Reply reply = call(other.actualPort(), "GET", "/topics", null);
      assertProblem(reply, 500, "INTERNAL");
      String detail = reply.json().getString("detail");
      assertThat(detail).doesNotContain("secret").doesNotContain("IllegalStateException");
      java.util.regex.Matcher incident = java.util.regex.Pattern.compile("incident ([0-9a-f-]{36})").matcher(detail);
      assertThat(incident.find()).as("an incident id in %s", detail).isTrue();
      assertThat(logged.list).anySatisfy(e -> {
        assertThat(e.getFormattedMessage()).contains(incident.group(1));
        assertThat(e.getThrowableProxy().getMessage()).isEqualTo("secret-internal-detail");
      });
      assertThat(call(other.actualPort(), "GET", "/topics/" + FIXTURE, null).status()).as("other routes").isEqualTo(200);
    } finally {
      problemsLog.detachAppender(logged);
      other.stop().await();
    }
  }

  // ---------------------------------------------------------------- helpers

  /** A started transport of one instance on its own random port, before {@code options} tunes it; stop it after. */
  private static HttpTransport secondTransport(Broker over, java.util.function.UnaryOperator<HttpTransportOptions> options) {
    HttpTransport t = HttpTransport.create(vertx, options.apply(new HttpTransportOptions().setHost("127.0.0.1").setPort(0)
        .setInstances(1).setShutdownGraceMs(1_000)));
    t.start(over).await();
    return t;
  }

  /** Every topic with the offsets of each partition. */
  private static JsonObject snapshot() {
    Reply list = call("GET", "/topics", null);
    assertThat(list.status()).isEqualTo(200);
    return list.json();
  }

  private static String newTopic(int partitions) {
    String name = "topic-" + TOPICS.incrementAndGet();
    assertThat(call("PUT", "/topics/" + name, "{\"partitions\":" + partitions + "}").status()).isEqualTo(201);
    return name;
  }

  private static String rec(String fields) {
    return "{\"records\":[{" + fields + "}]}";
  }

  private static String b64(byte[] bytes) {
    return Base64.getEncoder().encodeToString(bytes);
  }

  private static Set<String> union(Set<String> set, String more) {
    Set<String> all = new java.util.HashSet<>(set);
    all.add(more);
    return all;
  }

  private static URI uri(String path) {
    return uri(transport.actualPort(), path);
  }

  private static URI uri(int port, String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  private static Reply call(String method, String path, String body) {
    return call(transport.actualPort(), method, path, body);
  }

  private static Reply call(int port, String method, String path, String body) {
    return send(HttpRequest.newBuilder(uri(port, path))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
        .timeout(Duration.ofSeconds(30))
        .build());
  }

  private static Reply send(HttpRequest request) {
    try {
      HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
      return new Reply(response.statusCode(), response);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
