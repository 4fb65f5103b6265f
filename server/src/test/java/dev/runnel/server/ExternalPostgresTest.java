package dev.runnel.server;

import dev.runnel.broker.ProduceRecord;
import dev.runnel.durability.EmbeddedPostgres;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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
    RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL", url(TestPostgres.server())),
        Map.of("dataDir", dataDir.toString(), "http.port", "0", "http.host", "127.0.0.1", "amqp.port", "0", "amqp.host", "127.0.0.1", "postgres.schema", PG.schema()));
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

  /** The URL of a server this test JVM started, with its login. */
  static String url(EmbeddedPostgres pg) {
    return "postgresql://" + pg.user() + ":" + URLEncoder.encode(pg.password(), StandardCharsets.UTF_8)
        + "@127.0.0.1:" + pg.port() + "/" + pg.database();
  }

  /** A URL without a password works against a server that trusts the user (trust authentication). */
  @Test
  void aUrlWithoutAPasswordWorksWithTrustAuthentication(@TempDir Path pgDir) throws Exception {
    try (EmbeddedPostgres trusting = EmbeddedPostgres.start(pgDir, 0)) {
      try (Connection c = trusting.connect()) {
        c.createStatement().execute("CREATE ROLE trusty LOGIN SUPERUSER");
      }
      Path hba = pgDir.resolve("postgres/pg_hba.conf");
      Files.writeString(hba, "host all trusty 127.0.0.1/32 trust\n" + Files.readString(hba));
      try (Connection c = trusting.connect()) {
        c.createStatement().execute("SELECT pg_reload_conf()");
      }
      String url = "postgresql://trusty@127.0.0.1:" + trusting.port() + "/postgres";
      RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL", url),
          Map.of("dataDir", dataDir.toString(), "http.port", "0", "http.host", "127.0.0.1", "amqp.port", "0", "amqp.host", "127.0.0.1"));
      RunnelNode node = new RunnelNode(config).start();
      try {
        node.broker().createTopic("trusted", 1, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
        assertThat(node.broker().produce("trusted", List.of(new ProduceRecord(null, "x".getBytes(), "text/plain",
            List.of(), null, null))).await(30, TimeUnit.SECONDS)).hasSize(1);
      } finally {
        node.stop();
      }
    }
  }

  /** A login the server refuses stops the start with what to set, not a driver's bare message. */
  @Test
  void aRefusedLoginSaysWhatToSet() {
    EmbeddedPostgres external = TestPostgres.server();
    String url = "postgresql://" + external.user() + ":wrong@127.0.0.1:" + external.port() + "/" + external.database();
    RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL", url),
        Map.of("dataDir", dataDir.toString(), "http.port", "0", "http.host", "127.0.0.1", "amqp.port", "0", "amqp.host", "127.0.0.1", "postgres.schema", PG.schema()));
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> new RunnelNode(config).start())
        .hasMessageContaining("refused the login of user runnel")
        .hasMessageContaining("password authentication failed")
        .hasMessageContaining("postgres.password")
        .hasMessageContaining("pg_hba.conf");
  }
}
