package dev.runnel.transport.http;

import static dev.runnel.transport.http.Reply.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/** Server-Sent Events for a member over real HTTP: delivery with its token, the maxInFlight bound, ack and nack,
 * reconnect with Last-Event-ID. */
class StreamHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final AtomicInteger NAMES = new AtomicInteger();

  private static HttpNode node;

  @BeforeAll
  static void start() {
    node = new HttpNode(PG, new HttpTransportOptions().setInstances(2));
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  /** One SSE event. */
  record Event(String id, String type, JsonObject data) {
  }

  /** An open stream: events as they come, one at a time. */
  static final class Events implements AutoCloseable {
    final Stream<String> lines;
    final Iterator<String> it;

    Events(Stream<String> lines) {
      this.lines = lines;
      this.it = lines.iterator();
    }

    Event next() {
      String id = null;
      String type = "message";
      StringBuilder data = new StringBuilder();
      while (it.hasNext()) {
        String line = it.next();
        if (line.isEmpty()) {
          if (data.length() > 0) {
            return new Event(id, type, new JsonObject(data.toString()));
          }
          continue;  // the end of a comment or of the retry field
        }
        if (line.startsWith(":")) {
          continue;
        }
        int colon = line.indexOf(':');
        String field = colon < 0 ? line : line.substring(0, colon);
        String value = colon < 0 ? "" : line.substring(colon + 1).stripLeading();
        switch (field) {
          case "id" -> id = value;
          case "event" -> type = value;
          case "data" -> data.append(value);
          default -> { }
        }
      }
      throw new AssertionError("the stream ended");
    }

    @Override
    public void close() {
      lines.close();
    }
  }

  private static Events open(String group, String member, String query, String lastEventId) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base() + "/groups/" + group + "/members/" + member
        + "/events" + query)).header("Accept", "text/event-stream").GET();
    if (lastEventId != null) {
      request.header("Last-Event-ID", lastEventId);
    }
    HttpResponse<Stream<String>> response = node.http.send(request.build(), HttpResponse.BodyHandlers.ofLines());
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
    return new Events(response.body());
  }

  @Test
  void deliveriesStreamWithinMaxInFlightAndAcksMakeRoom() throws Exception {
    String topic = "stream" + NAMES.incrementAndGet();
    String group = "g-" + topic;
    assertThat(call("PUT", "/topics/" + topic, "{\"partitions\":1}").status()).isEqualTo(201);
    produce(topic, 5);
    String member = join(group, topic);
    try (Events events = open(group, member, "?maxInFlight=3", null)) {
      List<Event> first = List.of(events.next(), events.next(), events.next());
      assertThat(first).extracting(Event::id).containsExactly("1", "2", "3");
      assertThat(first).extracting(Event::type).containsOnly("delivery");
      for (Event e : first) {
        assertThat(e.data().fieldNames()).contains("token", "topic", "partition", "offset", "attempt",
            "leaseExpiresAt", "key", "value", "headers", "timestamp");
        assertThat(e.data().getInteger("attempt")).isEqualTo(1);
      }
      assertThat(first).extracting(e -> e.data().getLong("offset")).containsExactly(0L, 1L, 2L);
      // The stream took no more than 3: the other two are still there for a plain fetch of the member.
      JsonArray fetched = call("POST", "/groups/" + group + "/members/" + member + "/fetch", "{\"maxWaitMs\":0}")
          .json().getJsonArray("deliveries");
      assertThat(fetched).extracting(d -> ((JsonObject) d).getLong("offset")).containsExactly(3L, 4L);
      settle(group, "ack", fetched.getJsonObject(0).getString("token"), fetched.getJsonObject(1).getString("token"));

      // Ack the first, nack the second: the nacked one comes again on the stream, as attempt 2, with a new token.
      assertThat(settle(group, "ack", first.get(0).data().getString("token"))).containsExactly("OK");
      JsonObject nack = new JsonObject().put("nack", new JsonArray().add(new JsonObject()
          .put("token", first.get(1).data().getString("token")).put("delayMs", 0)));
      assertThat(call("POST", "/groups/" + group + "/acks", nack.encode()).json().getJsonArray("results")
          .getJsonObject(0).getString("status")).isEqualTo("OK");
      Event again = events.next();
      assertThat(again.id()).isEqualTo("4");
      assertThat(again.data().getLong("offset")).isEqualTo(1L);
      assertThat(again.data().getInteger("attempt")).isEqualTo(2);
      assertThat(again.data().getString("token")).isNotEqualTo(first.get(1).data().getString("token"));
      // A new record reaches the open stream once there is room.
      produce(topic, 1);
      assertThat(settle(group, "ack", again.data().getString("token"), first.get(2).data().getString("token")))
          .containsExactly("OK", "OK");
      Event fresh = events.next();
      assertThat(fresh.data().getLong("offset")).isEqualTo(5L);
      assertThat(settle(group, "ack", fresh.data().getString("token"))).containsExactly("OK");
    }
  }

  @Test
  void aReconnectWithLastEventIdResendsWhatCameAfterWithTheSameTokens() throws Exception {
    String topic = "stream" + NAMES.incrementAndGet();
    String group = "g-" + topic;
    assertThat(call("PUT", "/topics/" + topic, "{\"partitions\":1}").status()).isEqualTo(201);
    produce(topic, 3);
    String member = join(group, topic);
    List<Event> sent = new ArrayList<>();
    try (Events events = open(group, member, "?maxInFlight=3", null)) {
      sent.add(events.next());
      sent.add(events.next());
      sent.add(events.next());
    }
    // The client saw the first two (it says so with Last-Event-ID: 2) and settled none: only the third comes again,
    // with its id and token; the first two stay leased, and their tokens still settle them.
    try (Events events = open(group, member, "?maxInFlight=3", "2")) {
      Event third = events.next();
      assertThat(third.id()).isEqualTo("3");
      assertThat(third.data().getString("token")).isEqualTo(sent.get(2).data().getString("token"));
      assertThat(settle(group, "ack", sent.get(0).data().getString("token"), sent.get(1).data().getString("token"),
          third.data().getString("token"))).containsExactly("OK", "OK", "OK");
    }
    // After everything is acked, a reconnect sends nothing again: a new record is the next event.
    produce(topic, 1);
    try (Events events = open(group, member, "", "3")) {
      Event next = events.next();
      assertThat(next.data().getLong("offset")).isEqualTo(3L);
      assertThat(Long.parseLong(next.id())).isGreaterThan(3);
    }
  }

  @Test
  void maxEventsEndsTheStreamAfterThatMany() throws Exception {
    String topic = "stream" + NAMES.incrementAndGet();
    String group = "g-" + topic;
    assertThat(call("PUT", "/topics/" + topic, "{\"partitions\":1}").status()).isEqualTo(201);
    produce(topic, 3);
    String member = join(group, topic);
    try (Events events = open(group, member, "?maxEvents=2", null)) {
      assertThat(events.next().type()).isEqualTo("delivery");
      assertThat(events.next().type()).isEqualTo("delivery");
      assertThat(events.next().type()).isEqualTo("end");
    }
    // The third is still there.
    assertThat(call("POST", "/groups/" + group + "/members/" + member + "/fetch", "{}").json()
        .getJsonArray("deliveries")).hasSize(1);
  }

  @Test
  void anUnknownMemberIsAProblemNotAStream() {
    assertThat(call("PUT", "/topics/stream-none", "{}").status()).isIn(200, 201);
    assertProblem(call("GET", "/groups/nobody/members/nope/events", null), 404, "UNKNOWN_MEMBER");
    assertProblem(call("GET", "/groups/nobody/members/nope/events?maxInFlight=0", null), 400, "INVALID_REQUEST");
  }

  // ---- helpers

  private static String join(String group, String topic) {
    Reply joined = call("POST", "/groups/" + group + "/members", "{\"topics\":[\"" + topic + "\"],\"mode\":\"shared\"}");
    assertThat(joined.status()).isEqualTo(201);
    return joined.json().getString("memberId");
  }

  private static void produce(String topic, int n) {
    JsonArray records = new JsonArray();
    for (int i = 0; i < n; i++) {
      records.add(new JsonObject().put("key", "k" + NAMES.incrementAndGet()).put("value", i));
    }
    assertThat(call("POST", "/topics/" + topic + "/records", new JsonObject().put("records", records).encode())
        .status()).isEqualTo(200);
  }

  private static List<String> settle(String group, String kind, String... tokens) {
    JsonObject body = new JsonObject().put(kind, new JsonArray(List.of((Object[]) tokens)));
    Reply reply = call("POST", "/groups/" + group + "/acks", body.encode());
    assertThat(reply.status()).isEqualTo(200);
    return reply.json().getJsonArray("results").stream().map(r -> ((JsonObject) r).getString("status")).toList();
  }

  private static String base() {
    return node.base();
  }

  private static Reply call(String method, String path, String body) {
    return node.call(method, path, body);
  }
}
