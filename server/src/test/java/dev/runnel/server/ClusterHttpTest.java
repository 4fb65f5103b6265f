package dev.runnel.server;

import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code GET /cluster} (DESIGN.md section 6) on a single node and on two clustered nodes sharing one Postgres. */
class ClusterHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();

  @TempDir
  Path dir;
  private final List<RunnelNode> nodes = new ArrayList<>();

  @AfterEach
  void stop() {
    nodes.forEach(RunnelNode::stop);
  }

  private static JsonObject cluster(int port) throws Exception {
    HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/cluster"))
        .timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
    assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
    return new JsonObject(answer.body());
  }

  private Map<String, String> external(String node, String schema) {
    Map<String, String> overrides = new HashMap<>(Map.of("dataDir", dir.resolve(node).toString(), "nodeId", node,
        "http.host", "127.0.0.1", "amqp.host", "127.0.0.1", "postgres.schema", schema));
    overrides.put("http.port", "0");
    overrides.put("amqp.port", "0");
    overrides.put("http.shutdownGraceMs", "1000");  // a stop keeps the test client's idle connection until the grace ends
    return overrides;
  }

  @Test
  void aSingleNodeListsItselfAndItsLeasesFromPostgres() throws Exception {
    RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL",
        ExternalPostgresTest.url(TestPostgres.server())), external("solo", PG.schema()));
    RunnelNode node = new RunnelNode(config).start();
    nodes.add(node);
    node.broker().createTopic("placed", 2, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
    node.broker().join("watchers", new JoinRequest(List.of("placed"), GroupMode.PARTITIONED, 30_000, 30_000, false))
        .await(30, TimeUnit.SECONDS);

    long before = System.currentTimeMillis();
    JsonObject cluster = cluster(node.httpPort());
    assertThat(cluster.getString("node")).isEqualTo("solo");
    JsonArray members = cluster.getJsonArray("members");
    assertThat(members).hasSize(1);
    JsonObject self = members.getJsonObject(0);
    assertThat(self.getString("node")).isEqualTo("solo");
    assertThat(self.getString("incarnation")).isNotBlank();
    assertThat(self.getString("http")).as("the port it bound").isEqualTo("127.0.0.1:" + node.httpPort());
    assertThat(self.getString("amqp")).isEqualTo("127.0.0.1:" + node.amqpPort());

    List<JsonObject> partitions = rows(cluster, "partitions", "topic", "placed");
    assertThat(partitions).extracting(p -> p.getInteger("partition")).containsExactly(0, 1);
    for (JsonObject p : partitions) {
      assertThat(p.getString("leader")).isEqualTo("solo");
      assertThat(p.getString("placedOn")).isEqualTo("solo");
      assertThat(p.getLong("epoch")).isPositive();
      assertThat(p.getLong("leaseExpiresAt")).as("a lease renewed in Postgres").isGreaterThan(before - 60_000);
    }
    JsonObject group = rows(cluster, "groups", "group", "watchers").get(0);
    assertThat(group.getString("owner")).isEqualTo("solo");
    assertThat(group.getLong("epoch")).isPositive();
  }

  @Test
  void twoClusteredNodesListEachOtherAndEveryPartitionIsLedWhereItIsPlaced() throws Exception {
    List<Integer> ports = IntStream.range(0, 6).mapToObj(i -> freePort()).toList();
    String members = "127.0.0.1:" + ports.get(0) + ",127.0.0.1:" + ports.get(1);
    String schema = PG.schema() + "_two";
    for (int i = 0; i < 2; i++) {
      Map<String, String> overrides = external("node-" + i, schema);
      overrides.put("http.port", Integer.toString(ports.get(2 + i)));
      overrides.put("amqp.port", Integer.toString(ports.get(4 + i)));
      overrides.put("cluster.port", Integer.toString(ports.get(i)));
      overrides.put("cluster.members", members);
      RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL",
          ExternalPostgresTest.url(TestPostgres.server()), "RUNNEL_CLUSTER_ENABLED", "true"), overrides);
      nodes.add(new RunnelNode(config).start());
    }
    await("both nodes to see both", () -> nodes.stream().allMatch(n -> {
      try {
        return cluster(n.httpPort()).getJsonArray("members").size() == 2;
      } catch (Exception e) {
        return false;
      }
    }));
    RunnelNode first = nodes.get(0);
    first.broker().createTopic("spread", 8, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
    for (int p = 0; p < 8; p++) {  // a partition is taken up by its first call
      first.broker().read("spread", p, 0, 1, 1024).await(30, TimeUnit.SECONDS);
    }

    JsonObject seenBySecond = cluster(nodes.get(1).httpPort());
    assertThat(seenBySecond.getString("node")).isEqualTo("node-1");
    Map<String, JsonObject> byNode = seenBySecond.getJsonArray("members").stream().map(JsonObject.class::cast)
        .collect(Collectors.toMap(m -> m.getString("node"), m -> m));
    assertThat(byNode.keySet()).containsExactlyInAnyOrder("node-0", "node-1");
    for (int i = 0; i < 2; i++) {
      assertThat(byNode.get("node-" + i).getString("http")).isEqualTo("127.0.0.1:" + ports.get(2 + i));
      assertThat(byNode.get("node-" + i).getString("amqp")).isEqualTo("127.0.0.1:" + ports.get(4 + i));
      assertThat(byNode.get("node-" + i).getString("incarnation")).isNotBlank();
    }
    assertThat(byNode.get("node-0").getString("incarnation"))
        .isNotEqualTo(byNode.get("node-1").getString("incarnation"));
    List<JsonObject> partitions = rows(seenBySecond, "partitions", "topic", "spread");
    assertThat(partitions).hasSize(8);
    for (JsonObject p : partitions) {
      assertThat(p.getString("leader")).as("partition %s", p).isEqualTo(p.getString("placedOn")).isIn("node-0",
          "node-1");
    }
    Set<String> leaders = partitions.stream().map(p -> p.getString("leader")).collect(Collectors.toSet());
    assertThat(leaders).as("HRW spreads 8 partitions over both nodes").hasSize(2);
    JsonObject seenByFirst = cluster(first.httpPort());
    assertThat(rows(seenByFirst, "partitions", "topic", "spread")).as("both nodes read the same leases")
        .extracting(p -> p.getString("leader")).containsExactlyElementsOf(
            partitions.stream().map(p -> p.getString("leader")).toList());
  }

  @Test
  void aClusteredNodeNeedsFixedTransportPorts() throws Exception {
    Map<String, String> overrides = external("node-z", PG.schema() + "_z");
    overrides.put("cluster.port", Integer.toString(freePort()));
    RunnelConfig config = ConfigLoader.load(null, Map.of("RUNNEL_PG_URL",
        ExternalPostgresTest.url(TestPostgres.server()), "RUNNEL_CLUSTER_ENABLED", "true"), overrides);
    RunnelNode node = new RunnelNode(config);
    assertThatThrownBy(node::start).hasMessageContaining("http.port is 0");
    node.stop();
  }

  private static List<JsonObject> rows(JsonObject cluster, String list, String field, String value) {
    return cluster.getJsonArray(list).stream().map(JsonObject.class::cast)
        .filter(o -> value.equals(o.getString(field))).toList();
  }

  private static int freePort() {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime() < deadline).as("waiting for " + what).isTrue();
      Thread.sleep(100);
    }
  }
}
