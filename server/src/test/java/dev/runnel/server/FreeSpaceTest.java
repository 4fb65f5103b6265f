package dev.runnel.server;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Under {@code storage.minFreeBytes} of free space in the data dir (here: more than any disk has), produces are
 * refused with a clear detail and readiness fails, while the node lives, creates topics, reads and serves groups.
 */
class FreeSpaceTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  @TempDir
  Path dataDir;

  @Test
  void producesAreRefusedAndReadinessFailsUnderTheFreeSpaceFloor() throws Exception {
    RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL", ExternalPostgresTest.url(TestPostgres.server()),
            "RUNNEL_STORAGE_MIN_FREE_BYTES",
            Long.toString(Long.MAX_VALUE)),
        Map.of("dataDir", dataDir.toString(), "http.port", "0", "http.host", "127.0.0.1", "amqp.port", "0", "amqp.host", "127.0.0.1", "postgres.schema", PG.schema(),
            "http.shutdownGraceMs", "1000"));  // a stop keeps the test client's idle connection until the grace ends
    RunnelNode node = new RunnelNode(config).start();
    HttpClient http = HttpClient.newHttpClient();
    try {
      int port = node.httpPort();
      assertThat(call(http, port, "PUT", "/topics/full", "{\"partitions\":1}").statusCode()).isEqualTo(201);

      HttpResponse<String> produce = call(http, port, "POST", "/topics/full/records", "{\"records\":[{\"value\":1}]}");
      assertThat(produce.statusCode()).isEqualTo(503);
      JsonObject problem = new JsonObject(produce.body());
      assertThat(problem.getString("code")).isEqualTo("UNAVAILABLE");
      assertThat(problem.getString("detail")).contains("free under").contains("storage.minFreeBytes");

      HttpResponse<String> ready = call(http, port, "GET", "/health/ready", null);
      assertThat(ready.statusCode()).isEqualTo(503);
      assertThat(ready.body()).contains("storage.minFreeBytes");
      assertThat(call(http, port, "GET", "/health/live", null).statusCode()).isEqualTo(200);

      assertThat(call(http, port, "GET", "/topics/full/partitions/0/records?offset=0", null).statusCode()).isEqualTo(200);
      HttpResponse<String> joined = call(http, port, "POST", "/groups/readers/members", "{\"topics\":[\"full\"]}");
      assertThat(joined.statusCode()).as("consumers keep working: %s", joined.body()).isEqualTo(201);
      String member = new JsonObject(joined.body()).getString("memberId");
      assertThat(call(http, port, "POST", "/groups/readers/members/" + member + "/fetch", "{\"maxWaitMs\":0}")
          .statusCode()).isEqualTo(200);
    } finally {
      node.stop();
    }
  }

  private static HttpResponse<String> call(HttpClient http, int port, String method, String path, String body)
      throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .header("content-type", "application/json")
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
        .build(), HttpResponse.BodyHandlers.ofString());
  }
}
