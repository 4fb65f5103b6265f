package dev.runnel.load.http;

import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The webhook producer against stand-in nodes on loopback that check each delivery's signature with the test's own
 * code ({@link WebhookVerification}), store it once per webhook-id (as the node deduplicates delivery ids) and answer
 * like the node's {@code POST /webhooks/{source}}, or fail as a test tells them to (503, or the connection closed
 * after storing, so the answer is lost).
 */
class WebhookProducerTest {

  static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  /** What a stand-in node was sent. */
  record Delivery(String node, String method, String path, String id, String timestamp, String signature,
                  String contentType, String authorization, String body, String refusal) {
  }

  enum Action { ANSWER, UNAVAILABLE, STORE_AND_DROP }

  /** A clock the test moves. */
  static final class TestClock extends Clock {
    final AtomicReference<Instant> now = new AtomicReference<>();

    TestClock(Instant start) {
      now.set(start);
    }

    void advanceSeconds(long s) {
      now.updateAndGet(i -> i.plusSeconds(s));
    }

    @Override
    public Instant instant() {
      return now.get();
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }
  }

  Vertx vertx;
  HttpServer a;
  HttpServer b;
  final List<Delivery> seen = new CopyOnWriteArrayList<>();
  /** Stored records by webhook-id: their position; offsets count up over both nodes (one log). */
  final Map<String, Ack> stored = new ConcurrentHashMap<>();
  final AtomicLong nextOffset = new AtomicLong(100);
  volatile Function<Delivery, Action> policyA = d -> Action.ANSWER;
  volatile Function<Delivery, Action> policyB = d -> Action.ANSWER;
  /** What the stand-in answering 503 does to the clock first (moving it shows the retry's fresh timestamp). */
  volatile long secondsPassingOn503;
  final TestClock clock = new TestClock(Instant.ofEpochSecond(1_700_000_000L, 999_000_000));
  WebhookDriver driver;

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    a = vertx.createHttpServer().requestHandler(req -> handle("a", req, policyA)).listen(0, "127.0.0.1")
        .await(10, TimeUnit.SECONDS);
    b = vertx.createHttpServer().requestHandler(req -> handle("b", req, policyB)).listen(0, "127.0.0.1")
        .await(10, TimeUnit.SECONDS);
  }

  @AfterEach
  void stop() throws Exception {
    if (driver != null) {
      driver.close();
    }
    vertx.close().await(10, TimeUnit.SECONDS);
  }

  private void handle(String node, HttpServerRequest req, Function<Delivery, Action> policy) {
    req.body().onSuccess(body -> {
      String refusal = WebhookVerification.refusal(SECRET, req.getHeader("webhook-id"),
          req.getHeader("webhook-timestamp"), body.getBytes(), req.getHeader("webhook-signature"), clock.instant());
      Delivery d = new Delivery(node, req.method().name(), req.path(), req.getHeader("webhook-id"),
          req.getHeader("webhook-timestamp"), req.getHeader("webhook-signature"), req.getHeader("Content-Type"),
          req.getHeader("Authorization"), body.toString(StandardCharsets.UTF_8), refusal);
      seen.add(d);
      if (refusal != null) {
        req.response().setStatusCode(401).putHeader("Content-Type", "application/problem+json")
            .end(new JsonObject().put("type", "about:blank").put("title", "Unauthorized").put("status", 401)
                .put("detail", refusal).put("code", "INVALID_SIGNATURE").encode());
        return;
      }
      Action action = policy.apply(d);
      if (action == Action.UNAVAILABLE) {
        clock.advanceSeconds(secondsPassingOn503);
        req.response().setStatusCode(503).putHeader("Content-Type", "application/problem+json")
            .end("{\"code\":\"UNAVAILABLE\",\"status\":503}");
        return;
      }
      boolean duplicate = stored.containsKey(d.id());
      Ack at = stored.computeIfAbsent(d.id(), id -> new Ack(Math.floorMod(id.hashCode(), 4),
          nextOffset.getAndIncrement()));
      if (action == Action.STORE_AND_DROP) {
        req.connection().close();  // stored, but the answer never leaves
        return;
      }
      req.response().putHeader("Content-Type", "application/json").end(new JsonObject()
          .put("partition", at.partition()).put("offset", at.offset()).put("timestamp", 1).put("duplicate", duplicate)
          .encode());
    });
  }

  URI uri(HttpServer s) {
    return URI.create("http://127.0.0.1:" + s.actualPort());
  }

  WebhookDriver driver(String secret, HttpServer... nodes) {
    List<URI> uris = new ArrayList<>();
    for (HttpServer n : nodes) {
      uris.add(uri(n));
    }
    driver = new WebhookDriver(new HttpDriver(uris, "loader:s3cret", true, true, 4), "pay ments",
        new StandardWebhookSigner(secret), clock);
    return driver;
  }

  static OutgoingRecord record(int n) {
    return new OutgoingRecord(null, ("{\"type\":\"runnel.load\",\"rl\":1,\"p\":0,\"k\":0,\"s\":" + n + ",\"t\":0}")
        .getBytes(StandardCharsets.UTF_8), Map.of());
  }

  static List<Ack> await(ProducerClient p, List<OutgoingRecord> records) throws Exception {
    return p.send(records).toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  /** The delivery of a record, by its body. */
  Ack storedFor(OutgoingRecord r) {
    String body = new String(r.value(), StandardCharsets.UTF_8);
    Delivery d = seen.stream().filter(x -> x.body().equals(body)).findFirst().orElseThrow();
    return stored.get(d.id());
  }

  @Test
  void eachRecordIsOneCorrectlySignedDeliveryWithAFreshIdAndItsAnswerIsTheAck() throws Exception {
    WebhookDriver d = driver(SECRET, b);
    ProducerClient first = d.producer("ignored");
    ProducerClient second = d.producer("ignored");
    List<OutgoingRecord> batch = List.of(record(0), record(1), record(2));
    List<Ack> acks = await(first, batch);
    List<Ack> more = await(first, List.of(record(3)));
    List<Ack> others = await(second, List.of(record(4), record(5)));

    assertThat(seen).hasSize(6);
    assertThat(seen).allSatisfy(x -> {
      assertThat(x.refusal()).as("signed correctly").isNull();
      assertThat(x.method()).isEqualTo("POST");
      assertThat(x.path()).isEqualTo("/webhooks/pay%20ments");
      assertThat(x.timestamp()).as("epoch seconds from the driver's clock").isEqualTo("1700000000");
      assertThat(x.signature()).startsWith("v1,");
      assertThat(x.contentType()).isEqualTo("application/json");
      assertThat(x.authorization()).as("the route takes the signature, not the API key").isNull();
    });
    assertThat(seen).extracting(Delivery::id).as("a fresh id per record, over producers too").doesNotHaveDuplicates()
        .allSatisfy(id -> assertThat(id).startsWith("msg_"));
    assertThat(seen).extracting(Delivery::body).as("the value unchanged as the body")
        .containsExactlyInAnyOrderElementsOf(java.util.stream.IntStream.range(0, 6)
            .mapToObj(n -> new String(record(n).value(), StandardCharsets.UTF_8)).toList());
    assertThat(acks).as("one ack per record, in the records' order")
        .containsExactly(storedFor(batch.get(0)), storedFor(batch.get(1)), storedFor(batch.get(2)));
    assertThat(more).containsExactly(storedFor(record(3)));
    assertThat(others).containsExactly(storedFor(record(4)), storedFor(record(5)));
    assertThat(d.notes()).as("nothing retried").isEmpty();
  }

  @Test
  void aDeliveryAnswered503IsSentAgainWithItsIdFreshlySignedToTheNextNode() throws Exception {
    policyA = x -> Action.UNAVAILABLE;
    secondsPassingOn503 = 7;
    WebhookDriver d = driver(SECRET, a, b);
    ProducerClient producer = d.producer("t");  // the first producer starts on node a
    List<Ack> acks = await(producer, List.of(record(0)));

    assertThat(seen).extracting(Delivery::node).containsExactly("a", "b");
    assertThat(seen.get(1).id()).as("the retry keeps the record's webhook-id").isEqualTo(seen.get(0).id());
    assertThat(seen.get(0).timestamp()).isEqualTo("1700000000");
    assertThat(seen.get(1).timestamp()).as("timestamped and signed again").isEqualTo("1700000007");
    assertThat(seen.get(1).signature()).isNotEqualTo(seen.get(0).signature());
    assertThat(seen).extracting(Delivery::refusal).containsOnlyNulls();
    assertThat(acks).containsExactly(stored.get(seen.get(0).id()));
    assertThat(d.notes()).singleElement().asString().contains("1 webhook delivery attempt(s) retried").contains("503");

    List<Ack> next = await(producer, List.of(record(1)));
    assertThat(seen).extracting(Delivery::node).as("the producer stays on the node that answered")
        .containsExactly("a", "b", "b");
    assertThat(seen.get(2).id()).isNotEqualTo(seen.get(0).id());
    assertThat(next).containsExactly(stored.get(seen.get(2).id()));
  }

  @Test
  void aDeliveryWhoseAnswerWasLostIsRetriedWithItsIdAndAcknowledgedAtTheStoredPosition() throws Exception {
    policyB = x -> seen.stream().filter(s -> s.id().equals(x.id())).count() == 1 ? Action.STORE_AND_DROP
        : Action.ANSWER;
    ProducerClient producer = driver(SECRET, b).producer("t");
    List<OutgoingRecord> records = List.of(record(0), record(1));
    List<Ack> acks = await(producer, records);

    assertThat(seen).as("each delivery twice: stored, answer lost, sent again").hasSize(4);
    assertThat(seen).extracting(Delivery::refusal).containsOnlyNulls();
    assertThat(seen.stream().map(Delivery::id).distinct().count()).as("two ids, each sent twice").isEqualTo(2);
    assertThat(stored).as("stored once per id").hasSize(2);
    assertThat(acks).as("the position stored by the attempt whose answer was lost")
        .containsExactly(storedFor(records.get(0)), storedFor(records.get(1)));
    assertThat(acks.get(0)).isNotEqualTo(acks.get(1));
  }

  @Test
  void aWronglySignedDeliveryIsRefusedWithInvalidSignatureAndNotRetried() throws Exception {
    ProducerClient producer = driver("whsec_" + java.util.Base64.getEncoder().encodeToString(
        "another key entirely".getBytes(StandardCharsets.UTF_8)), b).producer("t");
    assertThatThrownBy(() -> await(producer, List.of(record(0)))).hasMessageContaining("401")
        .hasMessageContaining("INVALID_SIGNATURE");
    assertThat(seen).hasSize(1);
    assertThat(seen.get(0).refusal()).isEqualTo("no v1 signature matches");
    assertThat(stored).isEmpty();
  }

  @Test
  void aDeliveryNoNodeTakesIsGivenUpAfterItsAttemptsAllWithOneId() throws Exception {
    policyA = x -> Action.UNAVAILABLE;
    ProducerClient producer = driver(SECRET, a).producer("t");
    assertThatThrownBy(() -> await(producer, List.of(record(0)))).hasMessageContaining("503")
        .hasMessageContaining("attempt " + WebhookProducer.MAX_ATTEMPTS);
    assertThat(seen).hasSize(WebhookProducer.MAX_ATTEMPTS);
    assertThat(seen).extracting(Delivery::id).containsOnly(seen.get(0).id());
    assertThat(stored).isEmpty();
  }

  @Test
  void aBatchFailsWhenOneOfItsDeliveriesIsRefused() throws Exception {
    policyB = x -> x.body().contains("\"s\":1,") ? Action.UNAVAILABLE : Action.ANSWER;
    ProducerClient producer = driver(SECRET, b).producer("t");
    assertThatThrownBy(() -> await(producer, List.of(record(0), record(1), record(2)))).hasMessageContaining("503");
    assertThat(stored).as("the others were stored (unacknowledged for the run)").hasSize(2);
  }
}
