package dev.runnel.load;

import dev.runnel.durability.EmbeddedPostgres;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.server.RunnelConfig;
import dev.runnel.server.RunnelNode;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A Runnel node in this JVM (HTTP and AMQP on free loopback ports) over the shared test Postgres, in the class's schema. */
final class InProcessNode implements AutoCloseable {

  private final RunnelNode node;

  InProcessNode(TestPostgres pg, Path dataDir) {
    this(pg, dataDir, config -> { });
  }

  /** A node whose config {@code customize} changes first (API keys, webhook sources). */
  InProcessNode(TestPostgres pg, Path dataDir, java.util.function.Consumer<RunnelConfig> customize) {
    EmbeddedPostgres server = TestPostgres.server();
    RunnelConfig config = new RunnelConfig();
    config.dataDir = dataDir.toString();
    config.nodeId = "load-test-node";
    config.http.host = "127.0.0.1";
    config.http.port = 0;
    config.http.shutdownGraceMs = 1_000;  // a stop keeps idle keep-alive connections until the grace ends
    config.amqp.host = "127.0.0.1";
    config.amqp.port = 0;
    config.postgres.url = "postgresql://" + server.user() + ":" + URLEncoder.encode(server.password(),
        StandardCharsets.UTF_8) + "@127.0.0.1:" + server.port() + "/" + server.database();
    config.postgres.schema = pg.schema();
    customize.accept(config);
    node = new RunnelNode(config).start();
  }

  String url() {
    return "http://127.0.0.1:" + node.httpPort();
  }

  String amqpUrl() {
    return "amqp://127.0.0.1:" + node.amqpPort();
  }

  @Override
  public void close() {
    node.stop();
  }
}
