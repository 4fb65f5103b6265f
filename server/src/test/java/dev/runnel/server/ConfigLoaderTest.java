package dev.runnel.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfigLoaderTest {

  @TempDir
  Path tmp;

  @Test
  void defaultsThenFileThenEnvironmentThenFlags() throws Exception {
    Path file = tmp.resolve("runnel.yaml");
    Files.writeString(file, """
        dataDir: /var/lib/runnel
        http:
          port: 9000
          maxBodyBytes: 1000
        storage:
          leaseMs: 12000
        """);
    RunnelConfig config = ConfigLoader.load(file,
        Map.of("RUNNEL_HTTP_PORT", "9100", "RUNNEL_STORAGE_TAIL_CACHE_BYTES", "1024", "RUNNEL_PG_URL", "postgresql://u:p@db/x"),
        Map.of("http.port", "9200"));
    assertThat(config.dataDir).isEqualTo("/var/lib/runnel");
    assertThat(config.http.port).isEqualTo(9200);
    assertThat(config.http.maxBodyBytes).isEqualTo(1000);
    assertThat(config.http.host).isEqualTo("0.0.0.0");
    assertThat(config.storage.leaseMs).isEqualTo(12000);
    assertThat(config.storage.tailCacheBytes).isEqualTo(1024);
    assertThat(config.postgres.url).isEqualTo("postgresql://u:p@db/x");
    assertThat(config.postgres.isEmbedded()).isFalse();
    assertThat(ConfigLoader.describe(config)).contains("postgresql://u:****@db/x").doesNotContain("u:p@");
  }

  @Test
  void clusterKeysComeFromTheFileTheEnvironmentAndTheMembersFlag() throws Exception {
    Path file = tmp.resolve("cluster.yaml");
    Files.writeString(file, """
        cluster:
          enabled: true
          host: 10.0.0.1
          minMembers: 2
        """);
    RunnelConfig config = ConfigLoader.load(file, Map.of("RUNNEL_CLUSTER_EVENT_BUS_PORT", "5801",
        "RUNNEL_CLUSTER_MEMBERS", "10.0.0.1:5701,10.0.0.2:5701"), Map.of());
    assertThat(config.cluster.enabled).isTrue();
    assertThat(config.cluster.host).isEqualTo("10.0.0.1");
    assertThat(config.cluster.members).containsExactly("10.0.0.1:5701", "10.0.0.2:5701");
    assertThat(config.cluster.eventBusPort).isEqualTo(5801);
    assertThat(config.cluster.minMembers).isEqualTo(2);
    assertThat(config.cluster.leaseMs).isEqualTo(3000);
    RunnelConfig flagged = ConfigLoader.load(file, Map.of(), Map.of("cluster.members", "a:1,b:2,c:3"));
    assertThat(flagged.cluster.members).containsExactly("a:1", "b:2", "c:3");
    assertThat(RunnelNode.clusterOptions(flagged.cluster, "node-a").minMembers()).isEqualTo(2);
    assertThatThrownBy(() -> RunnelNode.clusterOptions(
        ConfigLoader.load(null, Map.of("RUNNEL_CLUSTER_MEMBERS", "no-port"), Map.of()).cluster, "node-a"))
        .hasMessageContaining("cluster.members");
  }

  @Test
  void aClusteredNodeIsRefusedWithTheEmbeddedPostgres() {
    RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_CLUSTER_ENABLED", "true",
        "RUNNEL_DATA_DIR", tmp.toString()), Map.of());
    assertThatThrownBy(() -> new RunnelNode(config).start()).hasMessageContaining("postgres.url");
    assertThat(tmp.resolve("postgres")).doesNotExist();  // refused before anything started
  }

  @Test
  void eventLoopsAreOnePerCoreUnlessSet() {
    assertThat(RunnelNode.eventLoops(ConfigLoader.load(null, Map.of(), Map.of())))
        .isEqualTo(Runtime.getRuntime().availableProcessors());
    assertThat(RunnelNode.eventLoops(ConfigLoader.load(null, Map.of("RUNNEL_EVENT_LOOPS", "3"), Map.of())))
        .isEqualTo(3);
    RunnelConfig negative = ConfigLoader.load(null, Map.of("RUNNEL_EVENT_LOOPS", "-1",
        "RUNNEL_DATA_DIR", tmp.toString()), Map.of());
    assertThatThrownBy(() -> new RunnelNode(negative).start()).hasMessageContaining("eventLoops");
    assertThat(tmp.resolve("postgres")).doesNotExist();  // refused before anything started
  }

  @Test
  void environmentNamesFollowTheKeyPath() {
    assertThat(ConfigLoader.envName("http.maxBodyBytes")).isEqualTo("RUNNEL_HTTP_MAX_BODY_BYTES");
    assertThat(ConfigLoader.envName("dataDir")).isEqualTo("RUNNEL_DATA_DIR");
  }

  @Test
  void unknownKeysAndBadValuesAreRefused() throws Exception {
    Path file = tmp.resolve("bad.yaml");
    Files.writeString(file, "http:\n  prot: 80\n");
    assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), Map.of())).hasMessageContaining("http.prot");
    assertThatThrownBy(() -> ConfigLoader.load(null, Map.of("RUNNEL_HTTP_PORT", "eighty"), Map.of()))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void externalUrlsAreParsed() {
    RunnelConfig.Postgres pg = new RunnelConfig.Postgres();
    pg.url = "postgresql://runnel:s%40cret@db.internal:6543/events";
    var options = RunnelNode.externalPostgres(pg);
    assertThat(options.getHost()).isEqualTo("db.internal");
    assertThat(options.getPort()).isEqualTo(6543);
    assertThat(options.getDatabase()).isEqualTo("events");
    assertThat(options.getUser()).isEqualTo("runnel");
    assertThat(options.getPassword()).isEqualTo("s@cret");
    pg.url = "jdbc:postgresql://localhost/runnel";
    pg.user = "me";
    assertThat(RunnelNode.externalPostgres(pg).getPort()).isEqualTo(5432);
    assertThat(RunnelNode.externalPostgres(pg).getUser()).isEqualTo("me");
  }

  @Test
  void unixSocketUrlsAreParsedAsLibpqReadsThem() {
    for (String url : List.of(
        "postgresql://runnel@/events?host=/var/run/postgresql",
        "postgresql://runnel@%2Fvar%2Frun%2Fpostgresql/events",
        "postgresql://runnel@%2fvar%2frun%2fpostgresql:5432/events",
        "postgresql:///events?host=/var/run/postgresql&user=runnel",
        "postgres:///events?host=%2Fvar%2Frun%2Fpostgresql&port=5432&user=runnel",
        "postgresql://?host=/var/run/postgresql&dbname=events&user=runnel",
        "postgresql://runnel@/events?host=/var/run/postgresql/.s.PGSQL.5432",
        "jdbc:postgresql:///events?host=/var/run/postgresql&user=runnel",
        "jdbc:postgresql://localhost/events?user=runnel&socketFactory=org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg"
            + "&socketFactoryArg=/var/run/postgresql/.s.PGSQL.5432")) {
      RunnelConfig.Postgres pg = new RunnelConfig.Postgres();
      pg.url = url;
      var options = RunnelNode.externalPostgres(pg);
      assertThat(options.getHost()).as(url).isEqualTo("/var/run/postgresql");
      assertThat(options.isUnixSocket()).as(url).isTrue();
      assertThat(options.getPort()).as(url).isEqualTo(5432);
      assertThat(options.getDatabase()).as(url).isEqualTo("events");
      assertThat(options.getUser()).as(url).isEqualTo("runnel");
      assertThat(options.getPassword()).as(url).isNull();
      assertThat(options.address()).as(url).isEqualTo("/var/run/postgresql/.s.PGSQL.5432");
      assertThat(options.jdbcUrl()).as(url).isEqualTo("jdbc:postgresql://localhost:5432/events"
          + "?socketFactory=org.newsclub.net.unix.AFUNIXSocketFactory%24FactoryArg"
          + "&socketFactoryArg=%2Fvar%2Frun%2Fpostgresql%2F.s.PGSQL.5432&sslmode=disable");
    }
    RunnelConfig.Postgres pg = new RunnelConfig.Postgres();
    pg.url = "postgresql://runnel:pw@/events?host=/tmp/pg%20sockets&port=6543";
    var options = RunnelNode.externalPostgres(pg);
    assertThat(options.socketPath()).isEqualTo("/tmp/pg sockets/.s.PGSQL.6543");
    assertThat(options.getPassword()).isEqualTo("pw");
    pg.url = "postgresql://db.internal/events?port=6543&password=s+cret";
    options = RunnelNode.externalPostgres(pg);
    assertThat(options.getHost()).isEqualTo("db.internal");
    assertThat(options.isUnixSocket()).isFalse();
    assertThat(options.getPort()).isEqualTo(6543);
    assertThat(options.getPassword()).as("a '+' is a '+', as libpq reads it").isEqualTo("s+cret");
    assertThat(options.getUser()).isEqualTo("postgres");
  }

  @Test
  void unreadablePostgresUrlsSayWhy() {
    RunnelConfig.Postgres pg = new RunnelConfig.Postgres();
    for (Map.Entry<String, String> bad : Map.of(
        "mysql://db/x", "must start with postgresql://",
        "postgresql:///events", "names no host",
        "postgresql://db/events?sslmode=require", "does not understand its parameter 'sslmode'",
        "postgresql://a,b/events", "several hosts",
        "postgresql://db:99999/events", "not a number from 1 to 65535",
        "postgresql://u:s%zzcret@db/events", "'%' not followed by two hex digits",
        "postgresql:///events?host=/run/.s.PGSQL.5432&port=6543", "not the one in the socket's name",
        "postgresql://u@%2Frun/x?socketFactory=other.Factory&socketFactoryArg=/run/.s.PGSQL.5432",
        "the only socketFactory").entrySet()) {
      pg.url = bad.getKey();
      assertThatThrownBy(() -> RunnelNode.externalPostgres(pg)).as(bad.getKey())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining(bad.getValue())
          .hasMessageNotContaining("zzcret");
    }
  }

  @Test
  void passwordsInTheUrlAreMaskedInTheStartUpLog() {
    RunnelConfig config = new RunnelConfig();
    config.postgres.url = "postgresql:///events?host=/run/pg&password=s3cret&user=runnel";
    assertThat(ConfigLoader.describe(config)).contains("password=****&user=runnel").doesNotContain("s3cret");
  }

  @Test
  void apiKeysAndWebhooksComeFromTheFileWithEnvironmentReferences() throws Exception {
    Path file = tmp.resolve("auth.yaml");
    Files.writeString(file, """
        auth:
          keys:
            - name: billing
              secret: "${BILLING_SECRET}"
              rights: [{topics: "orders*", allow: [produce, consume]}]
            - name: ops
              secret: "0ps"
              rights: [{topics: "*", allow: [produce, consume, admin]}]
        webhooks:
          github:
            topic: gh-events
            scheme: github
            secrets: ["gh-secret"]
        http:
          tls: {certPath: /etc/runnel/cert.pem, keyPath: /etc/runnel/key.pem}
        """);
    RunnelConfig config = ConfigLoader.load(file, Map.of("BILLING_SECRET", "s3cret", "RUNNEL_AUTH_PUBLIC_METRICS", "true"),
        Map.of());
    assertThat(config.auth.keys).hasSize(2);
    assertThat(config.auth.keys.get(0).secret).isEqualTo("s3cret");
    assertThat(config.auth.publicMetrics).isTrue();
    assertThat(config.webhooks.get("github").topic).isEqualTo("gh-events");
    assertThat(config.webhooks.get("github").secrets).containsExactly("gh-secret");
    assertThat(config.http.tls.keyPath).isEqualTo("/etc/runnel/key.pem");
    var keys = RunnelNode.apiKeys(config.auth);
    assertThat(keys.enabled()).isTrue();
    assertThat(keys.authenticate("billing:s3cret").may(dev.runnel.broker.auth.Right.PRODUCE, "orders.eu")).isTrue();
    assertThat(keys.authenticate("billing:s3cret").may(dev.runnel.broker.auth.Right.ADMIN, "orders.eu")).isFalse();
    assertThat(ConfigLoader.describe(config)).doesNotContain("s3cret").doesNotContain("0ps").doesNotContain("gh-secret");

    assertThatThrownBy(() -> ConfigLoader.load(file, Map.of(), Map.of())).hasMessageContaining("BILLING_SECRET");
    assertThat(RunnelNode.webhooks(config.webhooks).get("github").scheme())
        .isEqualTo(dev.runnel.transport.http.WebhookSource.Scheme.GITHUB);
    config.webhooks.get("github").scheme = "gitlab";
    assertThatThrownBy(() -> RunnelNode.webhooks(config.webhooks)).hasMessageContaining("webhooks.github")
        .hasMessageContaining("unknown webhook scheme");
  }

  @Test
  void authIsOnExactlyWhenKeysAreConfiguredUnlessSaidOtherwise() {
    RunnelConfig.Auth auth = new RunnelConfig.Auth();
    assertThat(RunnelNode.apiKeys(auth).enabled()).isFalse();
    auth.enabled = true;
    assertThatThrownBy(() -> RunnelNode.apiKeys(auth)).hasMessageContaining("no API keys");
    RunnelConfig.Key key = new RunnelConfig.Key();
    key.name = "k";
    key.secret = "s";
    RunnelConfig.KeyRight right = new RunnelConfig.KeyRight();
    right.topics = "*";
    right.allow = java.util.List.of("root");
    key.rights = java.util.List.of(right);
    auth.keys = java.util.List.of(key);
    assertThatThrownBy(() -> RunnelNode.apiKeys(auth)).hasMessageContaining("unknown right 'root'");
    right.allow = java.util.List.of("consume");
    assertThat(RunnelNode.apiKeys(auth).enabled()).isTrue();
    auth.enabled = false;
    assertThat(RunnelNode.apiKeys(auth).enabled()).isFalse();
  }
}
