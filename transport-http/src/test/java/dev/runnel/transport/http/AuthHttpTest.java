package dev.runnel.transport.http;

import static dev.runnel.transport.http.Reply.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;

import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.ApiKeys;
import dev.runnel.broker.auth.Grant;
import dev.runnel.broker.auth.Right;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.http.HttpRequest;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * API keys over real HTTP: no key, a wrong key, a key without the right, rights per topic pattern, on topic routes,
 * group routes and lists (DESIGN.md section 8).
 */
class AuthHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final String BILLING = "billing:s3cret";  // produce + consume on orders*
  private static final String READER = "reader:r3ad";      // consume on orders*, nothing else
  private static final String PAYMENTS = "payments:p4y";   // produce + consume on payments
  private static final String OPS = "ops:0ps";             // everything on *

  private static HttpNode node;

  @BeforeAll
  static void start() {
    ApiKeys keys = ApiKeys.of(List.of(
        new ApiKey("billing", "s3cret", List.of(new Grant("orders*", EnumSet.of(Right.PRODUCE, Right.CONSUME)))),
        new ApiKey("reader", "r3ad", List.of(new Grant("orders*", Set.of(Right.CONSUME)))),
        new ApiKey("payments", "p4y", List.of(new Grant("payments", EnumSet.of(Right.PRODUCE, Right.CONSUME)))),
        new ApiKey("ops", "0ps", List.of(new Grant("*", EnumSet.allOf(Right.class))))));
    node = new HttpNode(PG, new HttpTransportOptions().setInstances(1).setApiKeys(keys));
    for (String topic : List.of("orders", "orders.eu", "payments")) {
      assertThat(call(OPS, "PUT", "/topics/" + topic, "{\"partitions\":1}").status()).isEqualTo(201);
    }
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void withoutAValidKeyEveryRouteButHealthIsUnauthorized() throws Exception {
    for (String[] route : new String[][] {{"GET", "/topics"}, {"GET", "/topics/orders"},
        {"POST", "/topics/orders/records"}, {"DELETE", "/topics/orders"}, {"GET", "/groups"},
        {"POST", "/groups/g/members"}, {"POST", "/groups/g/acks"}, {"GET", "/topics/nope"}}) {
      for (String auth : new String[] {null, "Bearer billing:wrong", "Bearer nobody:s3cret", "Bearer billing",
          "Basic YmlsbGluZzpzM2NyZXQ=", "Bearer "}) {
        HttpRequest.Builder request = request(route[0], route[1], "{\"records\":[{\"value\":1}]}");
        if (auth != null) {
          request.header("Authorization", auth);
        }
        Reply reply = send(request);
        assertProblem(reply, 401, "UNAUTHORIZED");
        assertThat(reply.header("WWW-Authenticate")).startsWith("Bearer");
        assertThat(reply.body()).doesNotContain("s3cret");
      }
    }
    assertThat(send(request("GET", "/health/live", null)).status()).isEqualTo(200);
    assertThat(send(request("GET", "/health/ready", null)).status()).isEqualTo(200);
    // Nothing was stored by the refused produces.
    assertThat(call(OPS, "GET", "/topics/orders", null).json().getJsonArray("partitions").getJsonObject(0)
        .getLong("highWatermark")).isZero();
  }

  @Test
  void topicRoutesNeedTheirRightOnTheTopic() {
    String record = "{\"records\":[{\"value\":{\"n\":1}}]}";
    assertThat(call(BILLING, "POST", "/topics/orders.eu/records", record).status()).isEqualTo(200);
    assertProblem(call(BILLING, "POST", "/topics/payments/records", record), 403, "FORBIDDEN");
    assertProblem(call(READER, "POST", "/topics/orders/records", record), 403, "FORBIDDEN");
    assertThat(call(READER, "GET", "/topics/orders.eu/partitions/0/records?offset=0", null).status()).isEqualTo(200);
    assertProblem(call(READER, "GET", "/topics/payments/partitions/0/records?offset=0", null), 403, "FORBIDDEN");
    // Admin operations: create, delete.
    assertProblem(call(BILLING, "PUT", "/topics/orders.new", "{}"), 403, "FORBIDDEN");
    assertProblem(call(BILLING, "DELETE", "/topics/orders.eu", null), 403, "FORBIDDEN");
    assertThat(call(OPS, "PUT", "/topics/orders.new", "{}").status()).isEqualTo(201);
    assertThat(call(OPS, "DELETE", "/topics/orders.new", null).status()).isEqualTo(204);
    // Describe needs some right on the topic; the detail names the key and the topic, never a secret.
    assertThat(call(READER, "GET", "/topics/orders", null).status()).isEqualTo(200);
    Reply forbidden = call(READER, "GET", "/topics/payments", null);
    assertProblem(forbidden, 403, "FORBIDDEN");
    assertThat(forbidden.json().getString("detail")).contains("reader").contains("payments").doesNotContain("r3ad");
  }

  @Test
  void listsShowOnlyWhatTheKeySees() {
    assertThat(names(call(READER, "GET", "/topics", null).json().getJsonArray("topics")))
        .contains("orders", "orders.eu").doesNotContain("payments");
    assertThat(names(call(PAYMENTS, "GET", "/topics", null).json().getJsonArray("topics"))).containsExactly("payments");
    assertThat(names(call(OPS, "GET", "/topics", null).json().getJsonArray("topics")))
        .contains("orders", "orders.eu", "payments");

    assertThat(call(PAYMENTS, "POST", "/groups/pay-list/members", "{\"topics\":[\"payments\"]}").status())
        .isEqualTo(201);
    assertThat(call(BILLING, "POST", "/groups/orders-list/members", "{\"topics\":[\"orders\"]}").status())
        .isEqualTo(201);
    assertThat(groupNames(call(READER, "GET", "/groups", null))).contains("orders-list").doesNotContain("pay-list");
    assertThat(groupNames(call(PAYMENTS, "GET", "/groups", null))).contains("pay-list").doesNotContain("orders-list");
    assertThat(groupNames(call(OPS, "GET", "/groups", null))).contains("pay-list", "orders-list");
  }

  @Test
  void aConsumerNeedsConsumeOnEachTopicOfItsGroup() {
    String record = "{\"records\":[{\"key\":\"k\",\"value\":7}]}";
    assertThat(call(BILLING, "POST", "/topics/orders/records", record).status()).isEqualTo(200);
    // Joining needs consume on every topic named.
    assertProblem(call(READER, "POST", "/groups/mixed/members", "{\"topics\":[\"orders\",\"payments\"]}"), 403,
        "FORBIDDEN");
    Reply joined = call(READER, "POST", "/groups/readers/members", "{\"topics\":[\"orders\"]}");
    assertThat(joined.status()).isEqualTo(201);
    String member = joined.json().getString("memberId");
    String fetchPath = "/groups/readers/members/" + member + "/fetch";
    // Another key without consume on the group's topics can neither fetch nor ack nor leave for it.
    assertProblem(call(PAYMENTS, "POST", fetchPath, "{\"maxWaitMs\":0}"), 403, "FORBIDDEN");
    assertProblem(call(PAYMENTS, "POST", "/groups/readers/members/" + member + "/heartbeat", null), 403, "FORBIDDEN");
    assertProblem(call(PAYMENTS, "DELETE", "/groups/readers/members/" + member, null), 403, "FORBIDDEN");
    assertProblem(call(PAYMENTS, "GET", "/groups/readers", null), 403, "FORBIDDEN");
    assertProblem(call(PAYMENTS, "GET", "/groups/readers/members/" + member + "/events", null), 403, "FORBIDDEN");
    assertProblem(call(null, "GET", "/groups/readers/members/" + member + "/events", null), 401, "UNAUTHORIZED");

    JsonArray deliveries = call(READER, "POST", fetchPath, "{\"maxWaitMs\":5000}").json().getJsonArray("deliveries");
    assertThat(deliveries).isNotEmpty();
    String token = deliveries.getJsonObject(0).getString("token");
    assertProblem(call(PAYMENTS, "POST", "/groups/readers/acks", "{\"ack\":[\"" + token + "\"]}"), 403, "FORBIDDEN");
    JsonObject acked = call(READER, "POST", "/groups/readers/acks", "{\"ack\":[\"" + token + "\"]}").json();
    assertThat(acked.getJsonArray("results").getJsonObject(0).getString("status")).isEqualTo("OK");
    assertThat(call(READER, "GET", "/groups/readers", null).status()).isEqualTo(200);

    // Seek, group config and redrive are admin rights on the topic; dead letters can be read with consume.
    String seek = "{\"partitions\":[{\"partition\":0,\"to\":\"earliest\"}]}";
    assertProblem(call(READER, "POST", "/groups/readers/topics/orders/seek", seek), 403, "FORBIDDEN");
    assertThat(call(OPS, "POST", "/groups/readers/topics/orders/seek", seek).status()).isEqualTo(200);
    assertProblem(call(READER, "PUT", "/groups/readers", "{}"), 403, "FORBIDDEN");
    assertThat(call(READER, "GET", "/groups/readers/dead-letters?topic=orders", null).status()).isEqualTo(200);
    assertProblem(call(READER, "GET", "/groups/readers/dead-letters?topic=payments", null), 403, "FORBIDDEN");
    assertProblem(call(READER, "POST", "/groups/readers/dead-letters/redrive", "{\"topic\":\"orders\",\"to\":\"group\"}"),
        403, "FORBIDDEN");
    assertThat(call(OPS, "POST", "/groups/readers/dead-letters/redrive", "{\"topic\":\"orders\",\"to\":\"group\"}")
        .status()).isEqualTo(200);
    // A group nobody joined has no topics: only a key with the right on every topic may act on it.
    assertProblem(call(BILLING, "PUT", "/groups/unborn", "{}"), 403, "FORBIDDEN");
    assertThat(call(OPS, "PUT", "/groups/unborn", "{}").status()).isEqualTo(200);
    assertThat(call(READER, "DELETE", "/groups/readers/members/" + member, null).status()).isEqualTo(204);
  }

  @Test
  void aRefusedRequestLeavesItsConnectionUsable() throws Exception {
    // The JDK client keeps the connection alive between these; a 401 that left the body unread would break it.
    String big = "{\"records\":[{\"value\":\"" + "x".repeat(200_000) + "\"}]}";
    for (int i = 0; i < 5; i++) {
      assertProblem(send(request("POST", "/topics/orders/records", big)), 401, "UNAUTHORIZED");
      assertThat(call(BILLING, "POST", "/topics/orders/records", "{\"records\":[{\"value\":1}]}").status())
          .isEqualTo(200);
    }
  }

  private static List<String> names(JsonArray topics) {
    return topics.stream().map(t -> ((JsonObject) t).getString("name")).toList();
  }

  private static List<String> groupNames(Reply reply) {
    assertThat(reply.status()).isEqualTo(200);
    return reply.json().getJsonArray("groups").stream().map(g -> ((JsonObject) g).getString("name")).toList();
  }

  private static HttpRequest.Builder request(String method, String path, String body) {
    return node.request(method, path, body, java.util.Map.of());
  }

  private static Reply call(String key, String method, String path, String body) {
    HttpRequest.Builder request = request(method, path, body);
    return send(key == null ? request : request.header("Authorization", "Bearer " + key));
  }

  private static Reply send(HttpRequest.Builder request) {
    return node.send(request);
  }
}
