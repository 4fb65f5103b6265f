package dev.runnel.transport.http;

import dev.runnel.broker.Broker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/**
 * A broker and its HTTP transport (on 127.0.0.1, a free port) over the shared test Postgres, and a real HTTP/1.1
 * client for it: what the transport's HTTP tests start once per class.
 */
final class HttpNode implements AutoCloseable {

  final Vertx vertx = Vertx.vertx();
  final LogStore store;
  final HttpTransport transport;
  final Broker broker;
  final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();

  /**
   * {@code options} with host and port set here, and a 1 s shutdown grace unless they set another: a stop keeps the
   * client's idle keep-alive connections open until the grace ends, and this client keeps its connections.
   */
  HttpNode(TestPostgres pg, HttpTransportOptions options) {
    store = LogStore.open(vertx, pg.options()).await();
    if (options.getShutdownGraceMs() == HttpTransportOptions.DEFAULT_SHUTDOWN_GRACE_MS) {
      options.setShutdownGraceMs(1_000);
    }
    transport = HttpTransport.create(vertx, options.setHost("127.0.0.1").setPort(0));
    broker = Broker.create(vertx, store);
    transport.start(broker).await();
  }

  String base() {
    return "http://127.0.0.1:" + transport.actualPort();
  }

  /** A request to {@code path} with a JSON content type (unless {@code headers} give another); null: no body. */
  HttpRequest.Builder request(String method, String path, String body, Map<String, String> headers) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base() + path))
        .timeout(Duration.ofSeconds(30))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (headers.keySet().stream().noneMatch(h -> h.equalsIgnoreCase("Content-Type"))) {
      request.header("Content-Type", "application/json");
    }
    headers.forEach(request::header);
    return request;
  }

  Reply call(String method, String path, String body, Map<String, String> headers) {
    return send(request(method, path, body, headers));
  }

  Reply call(String method, String path, String body) {
    return call(method, path, body, Map.of());
  }

  Reply send(HttpRequest.Builder request) {
    try {
      HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
      return new Reply(response.statusCode(), response);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @Override
  public void close() {
    transport.stop().await();
    store.close().await();
    vertx.close().await();
  }
}
