package dev.runnel.transport.http;

import static dev.runnel.transport.http.Reply.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.runnel.broker.Partitioner;
import dev.runnel.durability.test.TestPostgres;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.jackson.JsonFormat;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code POST /topics/{topic}} over real HTTP: a raw body as one record, and CloudEvents in binary, structured and
 * batch modes, each read back as stored (DESIGN.md section 7).
 */
class BodyProduceHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static HttpNode node;

  @BeforeAll
  static void start() {
    node = new HttpNode(PG, new HttpTransportOptions().setInstances(1).setMaxRecordsPerRequest(3));
    assertThat(call("PUT", "/topics/raw", "{\"partitions\":4}", Map.of()).status()).isEqualTo(201);
    assertThat(call("PUT", "/topics/events", "{\"partitions\":4,\"config\":{\"dedup\":true}}", Map.of()).status())
        .isEqualTo(201);
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void aRawBodyIsOneRecordWithItsContentTypeKeyAndHeaders() {
    Reply reply = call("POST", "/topics/raw?key=user-7", "plain words", Map.of("Content-Type", "text/plain",
        "X-Runnel-Header-Origin", "billing", "x-runnel-header-trace-Id", "t1", "X-Other", "not a record header"));
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
    JsonObject result = reply.json().getJsonArray("results").getJsonObject(0);
    assertThat(result.getInteger("partition")).isEqualTo(Partitioner.partitionForKey("user-7".getBytes(), 4));
    JsonObject record = read("raw", result);
    assertThat(record.getString("key")).isEqualTo("user-7");
    assertThat(record.getString("valueEncoding")).isEqualTo("base64");
    assertThat(new String(Base64.getDecoder().decode(record.getString("value")), StandardCharsets.UTF_8))
        .isEqualTo("plain words");
    assertThat(record.getJsonObject("headers").getMap()).containsOnly(Map.entry("origin", "billing"),
        Map.entry("trace-id", "t1"));

    // A JSON body comes back as JSON; without a content type the body is bytes; an explicit partition wins.
    JsonObject json = read("raw", call("POST", "/topics/raw?partition=3", "{\"a\":[1,2]}",
        Map.of("Content-Type", "application/json; charset=utf-8")).json().getJsonArray("results").getJsonObject(0));
    assertThat(json.getValue("value")).isEqualTo(new JsonObject().put("a", new JsonArray().add(1).add(2)));
    assertThat(json.getInteger("partition")).isEqualTo(3);
    JsonObject bytes = read("raw", call("POST", "/topics/raw", "\u0001\u0002", Map.of()).json()
        .getJsonArray("results").getJsonObject(0));
    assertThat(bytes.getString("valueEncoding")).isEqualTo("base64");

    assertProblem(call("POST", "/topics/raw", "{\"a\":", Map.of("Content-Type", "application/json")), 400,
        "MALFORMED_JSON");
    assertProblem(call("POST", "/topics/raw?partition=9", "x", Map.of("Content-Type", "text/plain")), 404,
        "PARTITION_OUT_OF_RANGE");
    assertProblem(call("POST", "/topics/raw?partition=one", "x", Map.of("Content-Type", "text/plain")), 400,
        "INVALID_REQUEST");
    assertProblem(call("POST", "/topics/nope", "x", Map.of("Content-Type", "text/plain")), 404, "TOPIC_NOT_FOUND");
  }

  @Test
  void binaryModeEventsKeepTheirAttributesAsHeaders() {
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("ce-specversion", "1.0");
    headers.put("ce-id", "evt-1");
    headers.put("ce-source", "/billing/invoices");
    headers.put("ce-type", "com.example.invoice.paid");
    headers.put("ce-subject", "invoice-42");
    headers.put("ce-time", "2026-12-01T10:00:00Z");
    headers.put("ce-tenant", "acme");
    headers.put("Content-Type", "application/json");
    Reply reply = call("POST", "/topics/events", "{\"amount\":42}", headers);
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
    JsonObject result = reply.json().getJsonArray("results").getJsonObject(0);
    JsonObject record = read("events", result);
    assertThat(record.getString("key")).isEqualTo("invoice-42");
    assertThat(record.getValue("value")).isEqualTo(new JsonObject().put("amount", 42));
    JsonObject h = record.getJsonObject("headers");
    assertThat(h.getString("ce_id")).isEqualTo("evt-1");
    assertThat(h.getString("ce_source")).isEqualTo("/billing/invoices");
    assertThat(h.getString("ce_type")).isEqualTo("com.example.invoice.paid");
    assertThat(h.getString("ce_specversion")).isEqualTo("1.0");
    assertThat(h.getString("ce_tenant")).isEqualTo("acme");
    assertThat(h.getString("ce_time")).isEqualTo("2026-12-01T10:00:00Z");
    assertThat(record.getString("idempotencyKey")).isEqualTo("/billing/invoices evt-1");

    // The same id and source again: the topic deduplicates, so the original position.
    Reply again = call("POST", "/topics/events", "{\"amount\":42}", headers);
    JsonObject duplicate = again.json().getJsonArray("results").getJsonObject(0);
    assertThat(duplicate.getBoolean("duplicate")).isTrue();
    assertThat(duplicate.getLong("offset")).isEqualTo(result.getLong("offset"));

    // A binary-mode event without its required attributes is refused.
    Map<String, String> missing = new LinkedHashMap<>(headers);
    missing.remove("ce-id");
    assertProblem(call("POST", "/topics/events", "{}", missing), 400, "INVALID_RECORD");
  }

  @Test
  void structuredAndBatchEventsComeBackAsTheSameEvents() {
    CloudEvent event = CloudEventBuilder.v1().withId("s-1").withSource(URI.create("urn:shop")).withType("order.created")
        .withExtension("partitionkey", "cart-9").withDataContentType("application/json")
        .withData("{\"items\":3}".getBytes(StandardCharsets.UTF_8)).build();
    String structured = new String(new JsonFormat().serialize(event), StandardCharsets.UTF_8);
    Reply reply = call("POST", "/topics/events", structured, Map.of("Content-Type",
        "application/cloudevents+json; charset=utf-8"));
    assertThat(reply.status()).as(reply.body()).isEqualTo(200);
    JsonObject record = read("events", reply.json().getJsonArray("results").getJsonObject(0));
    assertThat(record.getString("key")).as("the partitionkey extension").isEqualTo("cart-9");
    assertThat(record.getValue("value")).isEqualTo(new JsonObject().put("items", 3));
    // The stored record gives the event back, attribute for attribute.
    CloudEventBuilder back = CloudEventBuilder.v1();
    JsonObject h = record.getJsonObject("headers");
    back.withId(h.getString("ce_id")).withSource(URI.create(h.getString("ce_source"))).withType(h.getString("ce_type"))
        .withExtension("partitionkey", h.getString("ce_partitionkey")).withDataContentType("application/json")
        .withData(record.getValue("value").toString().getBytes(StandardCharsets.UTF_8));
    assertThat(back.build()).isEqualTo(event);

    // A batch of three (the node's per-request bound here): three records in order; a fourth is refused.
    String batch = "[" + structuredEvent("b-1", "\"data\":{\"n\":1}") + "," + structuredEvent("b-2",
        "\"data_base64\":\"AAEC\"") + "," + structuredEvent("b-3", "\"subject\":\"s\"") + "]";
    Reply batched = call("POST", "/topics/events", batch, Map.of("Content-Type", "application/cloudevents-batch+json"));
    assertThat(batched.status()).as(batched.body()).isEqualTo(200);
    JsonArray results = batched.json().getJsonArray("results");
    assertThat(results).hasSize(3);
    assertThat(read("events", results.getJsonObject(0)).getValue("value")).isEqualTo(new JsonObject().put("n", 1));
    JsonObject binary = read("events", results.getJsonObject(1));
    assertThat(binary.getString("valueEncoding")).isEqualTo("base64");
    assertThat(Base64.getDecoder().decode(binary.getString("value"))).containsExactly(0, 1, 2);
    assertThat(read("events", results.getJsonObject(2)).getString("key")).isEqualTo("s");

    String four = "[" + structuredEvent("c-1", "") + "," + structuredEvent("c-2", "") + ","
        + structuredEvent("c-3", "") + "," + structuredEvent("c-4", "") + "]";
    assertProblem(call("POST", "/topics/events", four, Map.of("Content-Type", "application/cloudevents-batch+json")),
        400, "INVALID_REQUEST");
    assertProblem(call("POST", "/topics/events", "{\"id\":\"x\"}", Map.of("Content-Type",
        "application/cloudevents-batch+json")), 400, "INVALID_RECORD");
    assertProblem(call("POST", "/topics/events", "[]", Map.of("Content-Type", "application/cloudevents-batch+json")),
        400, "INVALID_RECORD");
    assertProblem(call("POST", "/topics/events", "{\"specversion\":\"1.0\",\"id\":\"x\"}", Map.of("Content-Type",
        "application/cloudevents+json")), 400, "INVALID_RECORD");
    assertProblem(call("POST", "/topics/events", "{not json", Map.of("Content-Type",
        "application/cloudevents+json")), 400, "INVALID_RECORD");
  }

  /** {@code http.cloudEventsKeyExtension} names the extension the key comes from; the subject stays the fallback. */
  @Test
  void theKeyComesFromTheConfiguredExtension() {
    try (HttpNode tenants = new HttpNode(PG, new HttpTransportOptions().setInstances(1)
        .setCloudEventsKeyExtension("tenant"))) {
      assertThat(tenants.call("PUT", "/topics/tenanted", "{\"partitions\":2}").status()).isEqualTo(201);
      Map<String, String> binary = Map.of("ce-specversion", "1.0", "ce-id", "t-1", "ce-source", "urn:t",
          "ce-type", "t", "ce-subject", "the-subject", "ce-tenant", "acme", "ce-partitionkey", "ignored",
          "Content-Type", "text/plain");
      Reply keyed = tenants.call("POST", "/topics/tenanted", "x", binary);
      assertThat(keyed.status()).as(keyed.body()).isEqualTo(200);
      Map<String, String> noTenant = new java.util.HashMap<>(binary);
      noTenant.remove("ce-tenant");
      noTenant.put("ce-id", "t-2");
      Reply bySubject = tenants.call("POST", "/topics/tenanted", "y", noTenant);
      assertThat(bySubject.status()).as(bySubject.body()).isEqualTo(200);
      for (Reply r : List.of(keyed, bySubject)) {
        JsonObject at = r.json().getJsonArray("results").getJsonObject(0);
        Reply read = tenants.call("GET", "/topics/tenanted/partitions/" + at.getInteger("partition") + "/records?offset="
            + at.getLong("offset") + "&maxRecords=1", null);
        String key = read.json().getJsonArray("records").getJsonObject(0).getString("key");
        assertThat(key).isEqualTo(r == keyed ? "acme" : "the-subject");
      }
    }
    for (String bad : new String[] {"", "Tenant", "tenant-id", "a".repeat(21)}) {
      assertThatThrownBy(() -> new HttpTransportOptions().setCloudEventsKeyExtension(bad))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("CloudEvents attribute name");
    }
  }

  private static String structuredEvent(String id, String more) {
    return "{\"specversion\":\"1.0\",\"id\":\"" + id + "\",\"source\":\"urn:batch\",\"type\":\"t\""
        + (more.isEmpty() ? "" : "," + more) + "}";
  }

  private static JsonObject read(String topic, JsonObject position) {
    Reply reply = call("GET", "/topics/" + topic + "/partitions/" + position.getInteger("partition")
        + "/records?maxRecords=1&offset=" + position.getLong("offset"), null, Map.of());
    assertThat(reply.status()).isEqualTo(200);
    return reply.json().getJsonArray("records").getJsonObject(0);
  }

  /** No content type unless {@code headers} give one: raw bodies are stored with the request's own. */
  private static Reply call(String method, String path, String body, Map<String, String> headers) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(node.base() + path))
        .timeout(Duration.ofSeconds(30))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    headers.forEach(request::header);
    return node.send(request);
  }
}
