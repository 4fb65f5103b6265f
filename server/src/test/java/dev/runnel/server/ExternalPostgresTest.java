package dev.runnel.server;

import dev.runnel.broker.ProduceRecord;
import dev.runnel.durability.EmbeddedPostgres;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** A configured URL switches the node to an external server, with no other change. */
class ExternalPostgresTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  @TempDir
  Path dataDir;

  @Test
  void aPostgresUrlReplacesTheEmbeddedServer() throws Exception {
    EmbeddedPostgres external = TestPostgres.server();
    String url = "postgresql://" + external.user() + ":" + URLEncoder.encode(external.password(), StandardCharsets.UTF_8)
        + "@127.0.0.1:" + external.port() + "/" + external.database();
    RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL", url),
        Map.of("dataDir", dataDir.toString(), "http.port", "0", "http.host", "127.0.0.1", "postgres.schema", PG.schema()));
    RunnelNode node = new RunnelNode(config).start();
    try {
      node.broker().createTopic("external", 1, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
      node.broker().produce("external", List.of(new ProduceRecord(null, "x".getBytes(), "text/plain", List.of(), null, null)))
          .await(30, TimeUnit.SECONDS);
    } finally {
      node.stop();
    }
    assertThat(dataDir.resolve("postgres")).as("no embedded server was started").doesNotExist();
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT p.leader IS NULL FROM topics t JOIN partitions p USING (topic_id) WHERE t.name = 'external'")) {
      assertThat(rs.next()).as("the topic is in the external server's schema").isTrue();
      assertThat(rs.getBoolean(1)).as("the lease was released on stop").isTrue();
    }
  }
}
