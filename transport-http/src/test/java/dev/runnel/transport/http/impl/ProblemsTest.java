package dev.runnel.transport.http.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.EnumMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The status, type, title and headers of every error code, as a client sees them over HTTP. */
class ProblemsTest {

  /** The public contract (DESIGN.md section 7 and the transport's README). */
  private static final Map<BrokerError, Integer> STATUS = new EnumMap<>(Map.ofEntries(
      Map.entry(BrokerError.INVALID_TOPIC_NAME, 400),
      Map.entry(BrokerError.TOPIC_NOT_FOUND, 404),
      Map.entry(BrokerError.TOPIC_EXISTS, 409),
      Map.entry(BrokerError.PARTITION_OUT_OF_RANGE, 404),
      Map.entry(BrokerError.MALFORMED_JSON, 400),
      Map.entry(BrokerError.INVALID_RECORD, 400),
      Map.entry(BrokerError.BAD_ENCODING, 400),
      Map.entry(BrokerError.RECORD_TOO_LARGE, 413),
      Map.entry(BrokerError.BODY_TOO_LARGE, 413),
      Map.entry(BrokerError.OFFSET_OUT_OF_RANGE, 416),
      Map.entry(BrokerError.INVALID_REQUEST, 400),
      Map.entry(BrokerError.INVALID_CONFIG, 400),
      Map.entry(BrokerError.NOT_FOUND, 404),
      Map.entry(BrokerError.METHOD_NOT_ALLOWED, 405),
      Map.entry(BrokerError.UNKNOWN_MEMBER, 404),
      Map.entry(BrokerError.GROUP_NOT_EMPTY, 409),
      Map.entry(BrokerError.STALE_GENERATION, 409),
      Map.entry(BrokerError.UNKNOWN_TOKEN, 404),
      Map.entry(BrokerError.LEASE_EXPIRED, 409),
      Map.entry(BrokerError.INVALID_SIGNATURE, 401),
      Map.entry(BrokerError.UNAUTHORIZED, 401),
      Map.entry(BrokerError.FORBIDDEN, 403),
      Map.entry(BrokerError.OVERLOADED, 503),
      Map.entry(BrokerError.UNAVAILABLE, 503),
      Map.entry(BrokerError.OUTCOME_UNKNOWN, 503),
      Map.entry(BrokerError.INTERNAL, 500)));

  private static Vertx vertx;
  private static HttpServer server;
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
    Router router = Router.router(vertx);
    router.route().failureHandler(ctx -> Problems.handleFailure(ctx, 1234));
    router.get("/broker/:code").handler(ctx -> {
      throw new BrokerException(BrokerError.valueOf(ctx.pathParam("code")), "detail of " + ctx.pathParam("code"));
    });
    router.get("/async/:code").handler(ctx -> vertx.setTimer(1, t -> ctx.fail(
        new BrokerException(BrokerError.valueOf(ctx.pathParam("code")), "async detail"))));
    router.get("/storage").handler(ctx -> ctx.fail(
        new StorageException(StorageFailure.OFFSET_OUT_OF_RANGE, "offset 9 is outside [0, 3]")));
    router.get("/bug").handler(ctx -> {
      throw new IllegalStateException("secret internal state");
    });
    router.get("/status/:n").handler(ctx -> ctx.fail(Integer.parseInt(ctx.pathParam("n"))));
    server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1").await();
  }

  @AfterAll
  static void stop() {
    vertx.close().await();
  }

  @Test
  void everyCodeHasItsStatusTypeAndTitle() throws Exception {
    assertThat(STATUS.keySet()).containsExactlyInAnyOrder(BrokerError.values());
    for (BrokerError error : BrokerError.values()) {
      for (String how : new String[] {"broker", "async"}) {
        HttpResponse<String> r = get("/" + how + "/" + error.name());
        int status = STATUS.get(error);
        assertThat(r.statusCode()).as(error.name()).isEqualTo(status);
        assertThat(r.headers().firstValue("Content-Type")).hasValue("application/problem+json");
        JsonObject body = new JsonObject(r.body());
        assertThat(body.fieldNames()).containsExactlyInAnyOrder("type", "title", "status", "detail", "code");
        assertThat(body.getString("code")).isEqualTo(error.name());
        assertThat(body.getInteger("status")).isEqualTo(status);
        assertThat(body.getString("type")).isEqualTo("urn:runnel:problem:"
            + error.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'));
        assertThat(body.getString("title")).isNotBlank().isEqualTo(Problems.kind(error).title());
        if (error == BrokerError.INTERNAL) {  // its message may hold internals: only the incident id goes out
          assertThat(body.getString("detail")).startsWith("internal error (incident ").doesNotContain("detail");
        } else {
          assertThat(body.getString("detail")).isEqualTo(how.equals("broker") ? "detail of " + error.name() : "async detail");
        }
        assertThat(r.headers().firstValue("Retry-After"))
            .isEqualTo(error == BrokerError.OVERLOADED ? java.util.Optional.of("1") : java.util.Optional.empty());
      }
    }
  }

  @Test
  void storageFailuresKeepTheirMeaning() throws Exception {
    HttpResponse<String> r = get("/storage");
    assertThat(r.statusCode()).isEqualTo(416);
    assertThat(new JsonObject(r.body()).getString("code")).isEqualTo("OFFSET_OUT_OF_RANGE");
    assertThat(new JsonObject(r.body()).getString("detail")).isEqualTo("offset 9 is outside [0, 3]");
  }

  @Test
  void routerStatusesBecomeProblems() throws Exception {
    assertCode(get("/status/404"), 404, "NOT_FOUND");
    assertCode(get("/status/405"), 405, "METHOD_NOT_ALLOWED");
    HttpResponse<String> tooLarge = get("/status/413");
    assertCode(tooLarge, 413, "BODY_TOO_LARGE");
    assertThat(new JsonObject(tooLarge.body()).getString("detail")).contains("1234");
    assertCode(get("/status/400"), 400, "INVALID_REQUEST");
  }

  @Test
  void unexpectedExceptionsAre500WithoutInternals() throws Exception {
    HttpResponse<String> r = get("/bug");
    assertThat(r.statusCode()).isEqualTo(500);
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/problem+json");
    JsonObject body = new JsonObject(r.body());
    assertThat(body.fieldNames()).containsExactlyInAnyOrder("type", "title", "status", "detail", "code");
    assertThat(body.getInteger("status")).isEqualTo(500);
    assertThat(body.getString("code")).isEqualTo("INTERNAL");
    assertThat(r.body()).doesNotContain("secret").doesNotContain("IllegalStateException").doesNotContain("at dev.");
    assertThat(body.getString("detail")).contains("incident");
  }

  private static void assertCode(HttpResponse<String> r, int status, String code) {
    assertThat(r.statusCode()).isEqualTo(status);
    assertThat(r.headers().firstValue("Content-Type")).hasValue("application/problem+json");
    assertThat(new JsonObject(r.body()).getString("code")).isEqualTo(code);
    assertThat(new JsonObject(r.body()).getInteger("status")).isEqualTo(status);
  }

  private static HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.actualPort() + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
