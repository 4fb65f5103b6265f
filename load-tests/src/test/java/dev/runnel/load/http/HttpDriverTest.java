package dev.runnel.load.http;

import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The HTTP driver against two stand-in nodes on loopback: A answers every request 503, B answers like Runnel. What
 * each node was sent is recorded, so the request shapes, the credentials and the move to another node are visible.
 */
class HttpDriverTest {

  record Seen(String node, String method, String path, String authorization, String body) {
  }

  Vertx vertx;
  HttpServer a;
  HttpServer b;
  final List<Seen> seen = new CopyOnWriteArrayList<>();
  HttpDriver driver;

  @BeforeEach
  void start() throws Exception {
    vertx = Vertx.vertx();
    a = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      seen.add(new Seen("a", req.method().name(), req.path(), req.getHeader("Authorization"), body.toString()));
      req.response().setStatusCode(503).putHeader("Content-Type", "application/problem+json")
          .end("{\"code\":\"UNAVAILABLE\",\"status\":503}");
    })).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    b = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      seen.add(new Seen("b", req.method().name(), req.path(), req.getHeader("Authorization"), body.toString()));
      if (req.path().endsWith("/records")) {
        JsonArray results = new JsonArray();
        JsonArray records = body.toJsonObject().getJsonArray("records");
        for (int i = 0; i < records.size(); i++) {
          results.add(new JsonObject().put("partition", 1).put("offset", 40 + i).put("timestamp", 0).put("duplicate", false));
        }
        req.response().end(new JsonObject().put("results", results).encode());
      } else {
        req.response().end("{\"name\":\"t\",\"partitions\":[{\"partition\":0},{\"partition\":1},{\"partition\":2}]}");
      }
    })).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
  }

  @AfterEach
  void stop() throws Exception {
    if (driver != null) {
      driver.close();
    }
    vertx.close().await(10, TimeUnit.SECONDS);
  }

  HttpDriver driver(boolean jsonValues) {
    driver = new HttpDriver(List.of(URI.create("http://127.0.0.1:" + a.actualPort()),
        URI.create("http://127.0.0.1:" + b.actualPort())), "loader:s3cret", jsonValues, true, 4);
    return driver;
  }

  @Test
  void theTopicIsPreparedOnTheNextNodeWhenOneAnswers503() throws Exception {
    int partitions = driver(true).prepareTopic("t", 8).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(partitions).as("the existing topic, as it is").isEqualTo(3);
    assertThat(seen).extracting(Seen::node, Seen::method, Seen::path)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("a", "GET", "/topics/t"),
            org.assertj.core.groups.Tuple.tuple("b", "GET", "/topics/t"));
    assertThat(seen).extracting(Seen::authorization).containsOnly("Bearer loader:s3cret");
  }

  @Test
  void aProducerMovesToTheNextNodeAfterA503AndSendsABatchInOneRequest() throws Exception {
    ProducerClient producer = driver(true).producer("t");  // the first producer starts on node a
    byte[] value = "{\"rl\":1,\"p\":0}".getBytes(StandardCharsets.UTF_8);
    List<OutgoingRecord> records = List.of(new OutgoingRecord("key-\"1\"", value, Map.of("h", "v")),
        new OutgoingRecord("key-2", value, Map.of()));
    assertThatThrownBy(() -> producer.send(records).toCompletableFuture().get(10, TimeUnit.SECONDS))
        .hasMessageContaining("503");
    List<Ack> acks = producer.send(records).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(acks).containsExactly(new Ack(1, 40), new Ack(1, 41));
    assertThat(seen).extracting(Seen::node).containsExactly("a", "b");
    Seen sent = seen.get(1);
    assertThat(sent.method()).isEqualTo("POST");
    assertThat(sent.path()).isEqualTo("/topics/t/records");
    assertThat(sent.authorization()).isEqualTo("Bearer loader:s3cret");
    JsonArray body = new JsonObject(sent.body()).getJsonArray("records");
    assertThat(body.size()).isEqualTo(2);
    assertThat(body.getJsonObject(0).getString("key")).isEqualTo("key-\"1\"");
    assertThat(body.getJsonObject(0).getJsonObject("value")).isEqualTo(new JsonObject().put("rl", 1).put("p", 0));
    assertThat(body.getJsonObject(0).getJsonObject("headers")).isEqualTo(new JsonObject().put("h", "v"));
    assertThat(body.getJsonObject(0).containsKey("valueEncoding")).as("JSON is the default encoding").isFalse();
  }

  @Test
  void binaryValuesAreSentAsBase64() throws Exception {
    HttpDriver d = driver(false);
    d.producer("t");  // the first producer takes node a; the next one starts on b
    ProducerClient producer = d.producer("t");
    byte[] value = {0, 1, 2, (byte) 255};
    producer.send(List.of(new OutgoingRecord("k", value, Map.of()))).toCompletableFuture().get(10, TimeUnit.SECONDS);
    JsonObject record = new JsonObject(seen.get(0).body()).getJsonArray("records").getJsonObject(0);
    assertThat(record.getString("valueEncoding")).isEqualTo("base64");
    assertThat(Base64.getDecoder().decode(record.getString("value"))).isEqualTo(value);
  }
}
