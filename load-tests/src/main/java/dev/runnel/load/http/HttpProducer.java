package dev.runnel.load.http;

import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * {@code POST /topics/{t}/records} with the records of one send in one {@code {"records":[...]}} body: JSON values
 * inline ({@code valueEncoding} json, the bytes are already a compact JSON document), others base64.
 */
final class HttpProducer implements ProducerClient {

  private final HttpDriver driver;
  private final String path;
  private final Context context;
  private volatile int node;

  HttpProducer(HttpDriver driver, String topic, int node) {
    this.driver = driver;
    this.path = "/topics/" + HttpDriver.encode(topic) + "/records";
    this.node = node;
    this.context = driver.vertx().getOrCreateContext();
  }

  /**
   * Sends on the producer's own Vert.x context: built on the harness's thread, a request's chain of futures could
   * complete on one event loop while its callbacks were dispatched to another, and a response body could end before
   * anyone read it (sends that stayed unanswered although their records were stored).
   */
  @Override
  public CompletionStage<List<Ack>> send(List<OutgoingRecord> records) {
    Buffer body = body(records, driver.jsonValues());
    Promise<List<Ack>> done = Promise.promise();
    context.runOnContext(v -> send(body).onComplete(done));
    return done.future().toCompletionStage();
  }

  private Future<List<Ack>> send(Buffer body) {
    int at = node;
    URI target = driver.nodes().get(at);
    return driver.call(driver.producerClient(), target, HttpMethod.POST, path, body).compose(answer -> {
      if (answer.status() != 200) {
        if (answer.moveOn()) {
          moveFrom(at);
        }
        return Future.<List<Ack>>failedFuture(answer.failure("POST " + path + " on " + target));
      }
      JsonArray results = answer.array("results");
      List<Ack> acks = new ArrayList<>(results.size());
      for (int i = 0; i < results.size(); i++) {
        JsonObject r = results.getJsonObject(i);
        acks.add(new Ack(r.getInteger("partition"), r.getLong("offset")));
      }
      return Future.succeededFuture(acks);
    }, err -> {
      moveFrom(at);  // no answer: connection refused, reset or timed out
      return Future.failedFuture(err);
    });
  }

  private void moveFrom(int at) {
    if (node == at) {
      node = (at + 1) % driver.nodes().size();
    }
  }

  /** The request body; built as text since the values already are JSON (no parse and re-serialise per record). */
  static Buffer body(List<OutgoingRecord> records, boolean jsonValues) {
    StringBuilder b = new StringBuilder(64 + records.size() * (records.isEmpty() ? 0 : records.get(0).value().length + 64));
    b.append("{\"records\":[");
    for (int i = 0; i < records.size(); i++) {
      OutgoingRecord r = records.get(i);
      b.append(i == 0 ? "{" : ",{");
      if (r.key() != null) {
        b.append("\"key\":");
        string(b, r.key());
        b.append(',');
      }
      if (jsonValues) {
        b.append("\"value\":").append(new String(r.value(), StandardCharsets.UTF_8));
      } else {
        b.append("\"valueEncoding\":\"base64\",\"value\":\"").append(Base64.getEncoder().encodeToString(r.value()))
            .append('"');
      }
      if (r.headers() != null && !r.headers().isEmpty()) {
        b.append(",\"headers\":{");
        boolean first = true;
        for (Map.Entry<String, String> h : r.headers().entrySet()) {
          if (!first) {
            b.append(',');
          }
          first = false;
          string(b, h.getKey());
          b.append(':');
          string(b, h.getValue());
        }
        b.append('}');
      }
      b.append('}');
    }
    b.append("]}");
    return Buffer.buffer(b.toString());
  }

  /** A JSON string literal. */
  static void string(StringBuilder b, String s) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        default -> {
          if (c < 0x20) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    b.append('"');
  }

  @Override
  public void close() {
    // the driver owns the connection pool
  }
}
