package dev.runnel.broker;

import dev.runnel.cluster.ClusterNode;
import dev.runnel.cluster.ClusterOptions;
import dev.runnel.cluster.Rendezvous;
import dev.runnel.durability.Incarnation;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.VertxOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Brokers clustered through real Hazelcast members in this JVM, on one Postgres (DESIGN.md section 6): every call
 * reaches the node that should serve it from any node, the leases in Postgres follow rendezvous placement over the
 * view, and when a node leaves or joins, what moves is handed over and served again with nothing acknowledged lost.
 * Bounds are generous and nothing asserts a time.
 */
class ClusteredBrokerTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final int PARTITIONS = 12;

  private final List<Node> nodes = new ArrayList<>();
  private List<String> members;
  private List<Integer> ports;

  /** One node: its cluster membership, its store under its own incarnation, and its broker. */
  private record Node(String name, ClusterNode cluster, LogStore store, Broker broker) {
    void close() throws Exception {
      broker.close();
      store.close().await(30, TimeUnit.SECONDS);
      cluster.close().await(30, TimeUnit.SECONDS);
    }
  }

  @AfterEach
  void closeAll() throws Exception {
    for (Node node : nodes) {
      node.close();
    }
  }

  private void plan(int count) throws IOException {
    ports = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      try (ServerSocket socket = new ServerSocket(0)) {
        ports.add(socket.getLocalPort());
      }
    }
    members = ports.stream().map(p -> "127.0.0.1:" + p).toList();
  }

  private Node start(int index) throws Exception {
    return start(index, new BrokerOptions());
  }

  private Node start(int index, BrokerOptions brokerOptions) throws Exception {
    String name = "node-" + (char) ('a' + index);
    ClusterOptions options = new ClusterOptions().setNodeName(name).setHost("127.0.0.1").setPort(ports.get(index))
        .setMembers(members).setMinMembers(1);
    ClusterNode cluster = ClusterNode.start(options, new VertxOptions()).await(60, TimeUnit.SECONDS);
    LogStore store = LogStore.open(cluster.vertx(), PG.options().setIncarnation(Incarnation.start(name)))
        .await(60, TimeUnit.SECONDS);
    Node node = new Node(name, cluster, store, Broker.create(cluster, store, brokerOptions));
    nodes.add(node);
    return node;
  }

  private void awaitViews(int size) throws InterruptedException {
    for (Node node : nodes) {
      await(node.name + " to see " + size + " members", () -> node.cluster.view().size() == size);
    }
  }

  @Test
  void everyCallReachesTheNodeThatShouldServeItFromAnyNode() throws Exception {
    plan(3);
    for (int i = 0; i < 3; i++) {
      start(i);
    }
    awaitViews(3);
    Broker a = nodes.get(0).broker;
    a.createTopic("spread", PARTITIONS, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
    UUID topicId = topicId("spread");
    for (Node node : nodes) {
      await(node.name + " to be ready", () -> succeeds(node.broker::checkReady));
    }

    // Through every node to every partition: each batch is forwarded whole to the partition's leader.
    for (Node node : nodes) {
      for (int p = 0; p < PARTITIONS; p++) {
        List<ProduceResult> results = node.broker.produce("spread", List.of(record(node.name + "/" + p, p),
            record(node.name + "/" + p + "/second", p)), false).await(30, TimeUnit.SECONDS);
        assertThat(results).extracting(ProduceResult::partition).containsOnly(p);
      }
    }
    for (int p = 0; p < PARTITIONS; p++) {
      Broker reader = nodes.get(p % 3).broker;
      assertThat(values(reader.read("spread", p, 0, 100, 1 << 20).await(30, TimeUnit.SECONDS)))
          .containsExactly("node-a/" + p, "node-a/" + p + "/second", "node-b/" + p, "node-b/" + p + "/second",
              "node-c/" + p, "node-c/" + p + "/second");
    }
    Map<Integer, String> leaders = leaders(topicId);
    List<String> names = nodes.stream().map(Node::name).toList();
    for (int p = 0; p < PARTITIONS; p++) {
      assertThat(leaders.get(p)).as("the leader of partition %d", p)
          .isEqualTo(Rendezvous.owner(topicId + "/" + p, names));
    }
    assertThat(new HashSet<>(leaders.values())).as("leaders spread over the nodes").hasSizeGreaterThan(1);

    // A member joined through one node fetches through another and acknowledges through a third.
    Membership member = nodes.get(1).broker.join("spread-readers", new JoinRequest(List.of("spread"),
        GroupMode.SHARED, 30_000, 30_000, false)).await(30, TimeUnit.SECONDS);
    for (Node node : nodes) {  // before it has stored anything: listed through any node, with its member
      assertThat(node.broker.listGroups().await(30, TimeUnit.SECONDS)).as("groups listed through %s", node.name)
          .filteredOn(g -> g.name().equals("spread-readers")).singleElement()
          .satisfies(g -> assertThat(g.members()).extracting(GroupDescription.Member::memberId)
              .containsExactly(member.memberId()));
    }
    Set<String> consumed = new HashSet<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (consumed.size() < 6 * PARTITIONS && System.nanoTime() < deadline) {
      List<Delivery> batch = nodes.get(2).broker.fetch("spread-readers", member.memberId(), 50, 1 << 20, 1000)
          .await(30, TimeUnit.SECONDS);
      List<OutcomeResult> acked = a.settle("spread-readers", new Outcomes(batch.stream().map(Delivery::token).toList(),
          List.of(), List.of(), List.of())).await(30, TimeUnit.SECONDS);
      assertThat(acked).extracting(OutcomeResult::status).containsOnly(OutcomeResult.Status.OK);
      batch.forEach(d -> consumed.add(new String(d.record().value(), StandardCharsets.UTF_8)));
    }
    assertThat(consumed).hasSize(6 * PARTITIONS);
    assertThat(groupOwner("spread-readers")).isEqualTo(Rendezvous.owner("group/spread-readers", names));
    GroupDescription described = nodes.get(0).broker.describeGroup("spread-readers").await(30, TimeUnit.SECONDS);
    assertThat(described.members()).extracting(GroupDescription.Member::memberId).containsExactly(member.memberId());

    // A group lease a node holds with nothing serving it (a leak) is given back, so its placed owner can take it.
    String placedOn = Rendezvous.owner("group/stray", names);
    Node holder = nodes.stream().filter(n -> !n.name.equals(placedOn)).findFirst().orElseThrow();
    holder.store.groupState().acquireGroup("stray").await(30, TimeUnit.SECONDS);
    assertThat(groupOwner("stray")).isEqualTo(holder.name);
    await("the stray lease to be given back", () -> {
      try {
        return groupOwner("stray") == null;
      } catch (Exception e) {
        return false;
      }
    });
    nodes.get(0).broker.join("stray", new JoinRequest(List.of("spread"), GroupMode.SHARED, 30_000, 30_000, false))
        .await(30, TimeUnit.SECONDS);
    assertThat(groupOwner("stray")).isEqualTo(placedOn);
  }

  @Test
  void whatALeavingNodeHeldIsServedByTheOthersAndAJoiningNodeTakesItsShare() throws Exception {
    plan(3);
    start(0);
    start(1);
    awaitViews(2);
    Broker a = nodes.get(0).broker;
    a.createTopic("moving", PARTITIONS, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
    UUID topicId = topicId("moving");
    List<List<String>> acknowledged = new ArrayList<>();
    for (int p = 0; p < PARTITIONS; p++) {
      acknowledged.add(new ArrayList<>());
    }
    produceToAll("before", acknowledged);

    // A third node joins: the two hand over its share at once, and it takes it when first called.
    start(2);
    awaitViews(3);
    produceToAll("joined", acknowledged);
    List<String> three = nodes.stream().map(Node::name).toList();
    assertThat(leaders(topicId)).as("leases follow placement over three nodes")
        .isEqualTo(placement(topicId, three));

    // The node that leads the most leaves (a graceful stop): the others serve its partitions.
    String busiest = busiest(leaders(topicId));
    Node leaving = nodes.stream().filter(n -> n.name.equals(busiest)).findFirst().orElseThrow();
    nodes.remove(leaving);
    leaving.close();
    awaitViews(2);
    produceToAll("left", acknowledged);
    List<String> two = nodes.stream().map(Node::name).toList();
    assertThat(leaders(topicId)).isEqualTo(placement(topicId, two));
    for (int p = 0; p < PARTITIONS; p++) {
      assertThat(values(nodes.get(p % 2).broker.read("moving", p, 0, 100, 1 << 20).await(30, TimeUnit.SECONDS)))
          .as("partition %d holds every acknowledged record, in order", p).isEqualTo(acknowledged.get(p));
    }
  }

  /**
   * A group handed to a joining node drains: outcomes for its deliveries in flight are accepted by the old owner,
   * whichever node they come through, and then its member sessions pass to the new owner, so the member goes on
   * without joining again and what it acknowledged is not delivered again.
   */
  @Test
  void aGroupHandedToAJoiningNodeTakesOutcomesWhileItDrainsAndPassesItsMembersOn() throws Exception {
    plan(2);
    BrokerOptions drainLong = new BrokerOptions().setDrainMs(60_000);  // the drain ends by the outcomes, not by time
    Node a = start(0, drainLong);
    awaitViews(1);
    String group = placedOnOfTwo("handed-", "node-b");
    Membership member = fourRecordsAndAMember(a.broker, "handed", group);
    List<Delivery> inFlight = a.broker.fetch(group, member.memberId(), 2, 1 << 20, 0).await(30, TimeUnit.SECONDS);
    assertThat(inFlight).extracting(d -> new String(d.record().value(), StandardCharsets.UTF_8))
        .containsExactly("r1", "r2");

    Node b = start(1, drainLong);
    awaitViews(2);
    // node-a drains: an outcome through the new owner is passed to it, and one through node-a too.
    assertThat(b.broker.settle(group, acks(inFlight.get(0))).await(30, TimeUnit.SECONDS))
        .extracting(OutcomeResult::status).containsExactly(OutcomeResult.Status.OK);
    assertThat(a.broker.settle(group, acks(inFlight.get(1))).await(30, TimeUnit.SECONDS))
        .extracting(OutcomeResult::status).containsExactly(OutcomeResult.Status.OK);

    // Nothing in flight: node-a saves and releases, passing the session on. The member fetches on, unknown to no one.
    List<String> rest = new ArrayList<>();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (rest.size() < 2) {
      assertThat(System.nanoTime()).as("waited for the rest through the new owner").isLessThan(deadline);
      try {
        List<Delivery> batch = b.broker.fetch(group, member.memberId(), 10, 1 << 20, 500).await(30, TimeUnit.SECONDS);
        batch.forEach(d -> rest.add(new String(d.record().value(), StandardCharsets.UTF_8)));
        b.broker.settle(group, new Outcomes(batch.stream().map(Delivery::token).toList(), List.of(), List.of(),
            List.of())).await(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        Throwable cause = e instanceof BrokerException ? e : e.getCause();
        assertThat(cause).as("only a hand-over still under way").isInstanceOfSatisfying(BrokerException.class,
            x -> assertThat(x.error()).isEqualTo(BrokerError.UNAVAILABLE));
        Thread.sleep(50);
      }
    }
    assertThat(rest).as("what was acknowledged in the drain is not delivered again").containsExactly("r3", "r4");
    assertThat(groupOwner(group)).isEqualTo("node-b");
    assertThat(b.broker.describeGroup(group).await(30, TimeUnit.SECONDS).members())
        .extracting(GroupDescription.Member::memberId).containsExactly(member.memberId());
  }

  /**
   * A node stopped gracefully (SIGTERM) first leaves the cluster: its group drains, taking outcomes that come through
   * the other node, and passes its member on; its partitions move. Nothing acknowledged is delivered again.
   */
  @Test
  void aNodeThatLeavesGracefullyDrainsItsGroupsAndPassesTheirMembersOn() throws Exception {
    plan(2);
    BrokerOptions drainLong = new BrokerOptions().setDrainMs(60_000);
    Node a = start(0, drainLong);
    Node b = start(1, drainLong);
    awaitViews(2);
    String group = placedOnOfTwo("leaving-", "node-a");
    Membership member = fourRecordsAndAMember(b.broker, "left", group);
    List<Delivery> inFlight = b.broker.fetch(group, member.memberId(), 2, 1 << 20, 0).await(30, TimeUnit.SECONDS);
    assertThat(inFlight).hasSize(2);
    assertThat(groupOwner(group)).isEqualTo("node-a");

    Future<Void> left = a.broker.leaveCluster();
    for (Delivery d : inFlight) {
      assertThat(b.broker.settle(group, acks(d)).await(30, TimeUnit.SECONDS)).extracting(OutcomeResult::status)
          .containsExactly(OutcomeResult.Status.OK);
    }
    left.await(60, TimeUnit.SECONDS);
    assertThat(groupOwner(group)).as("released").isNull();
    nodes.remove(a);
    a.close();
    awaitViews(1);

    List<Delivery> rest = b.broker.fetch(group, member.memberId(), 10, 1 << 20, 5_000).await(30, TimeUnit.SECONDS);
    assertThat(rest).extracting(d -> new String(d.record().value(), StandardCharsets.UTF_8))
        .as("the member goes on; what it acknowledged in the drain is not delivered again").containsExactly("r3", "r4");
    assertThat(groupOwner(group)).isEqualTo("node-b");
  }

  /** A group name (of {@code prefix} and a number) that node-a and node-b place on {@code node}. */
  private static String placedOnOfTwo(String prefix, String node) {
    return IntStream.range(0, 100).mapToObj(i -> prefix + i)
        .filter(g -> Rendezvous.owner("group/" + g, List.of("node-a", "node-b")).equals(node)).findFirst()
        .orElseThrow();
  }

  /** A one-partition topic holding r1..r4, and a shared member of {@code group} reading it, joined through broker. */
  private static Membership fourRecordsAndAMember(Broker broker, String topic, String group) throws Exception {
    broker.createTopic(topic, 1, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
    for (int i = 1; i <= 4; i++) {
      broker.produce(topic, List.of(record("r" + i, 0)), false).await(30, TimeUnit.SECONDS);
    }
    return broker.join(group, new JoinRequest(List.of(topic), GroupMode.SHARED, 60_000, 60_000, false))
        .await(30, TimeUnit.SECONDS);
  }

  private static Outcomes acks(Delivery delivery) {
    return new Outcomes(List.of(delivery.token()), List.of(), List.of(), List.of());
  }

  /** One record to each partition through the nodes in turn; a call that meets a hand-over is tried again. */
  @Test
  void aTopicChangedThroughOneNodeIsTakenByTheOthers() throws Exception {
    plan(3);
    for (int i = 0; i < 3; i++) {
      start(i);
    }
    awaitViews(3);
    nodes.get(0).broker.createTopic("changing", 2, TopicConfig.DEFAULT).await(30, TimeUnit.SECONDS);
    for (Node node : nodes) {  // each node has the topic in memory
      await(node.name + " to produce", () -> succeeds(() -> node.broker.produce("changing",
          List.of(record(node.name, 0)), false)));
    }

    // A smaller record limit set through node-a: every node refuses what it no longer accepts.
    nodes.get(0).broker.updateTopicConfig("changing", new io.vertx.core.json.JsonObject().put("maxRecordBytes", 100))
        .await(30, TimeUnit.SECONDS);
    String large = "x".repeat(200);
    for (Node node : nodes) {
      await(node.name + " to refuse a record over the new limit", () -> error(() -> node.broker.produce("changing",
          List.of(record(large, 1)), false)) == BrokerError.RECORD_TOO_LARGE);
    }
    // Grown through node-b: every node produces to and reads the new partitions.
    nodes.get(1).broker.growPartitions("changing", 4).await(30, TimeUnit.SECONDS);
    for (Node node : nodes) {
      await(node.name + " to produce to a new partition", () -> succeeds(() -> node.broker.produce("changing",
          List.of(record("grown/" + node.name, 3)), false)));
    }
    assertThat(values(nodes.get(2).broker.read("changing", 3, 0, 10, 1 << 20).await(30, TimeUnit.SECONDS)))
        .containsExactly("grown/node-a", "grown/node-b", "grown/node-c");
    // Deleted through node-c: every node answers that it is gone.
    nodes.get(2).broker.deleteTopic("changing").await(30, TimeUnit.SECONDS);
    for (Node node : nodes) {
      await(node.name + " to know the topic is gone", () -> error(() -> node.broker.describeTopic("changing"))
          == BrokerError.TOPIC_NOT_FOUND);
      assertThat(error(() -> node.broker.produce("changing", List.of(record("after", 0)), false)))
          .isEqualTo(BrokerError.TOPIC_NOT_FOUND);
    }
  }

  /** The broker error a call fails with, or null when it succeeds. */
  private static BrokerError error(Supplier<Future<?>> call) {
    try {
      call.get().await(30, TimeUnit.SECONDS);
      return null;
    } catch (BrokerException e) {
      return e.error();
    } catch (Exception e) {
      return e.getCause() instanceof BrokerException b ? b.error() : null;
    }
  }

  private void produceToAll(String round, List<List<String>> acknowledged) throws InterruptedException {
    for (int p = 0; p < PARTITIONS; p++) {
      Broker through = nodes.get(p % nodes.size()).broker;
      String value = round + "/" + p;
      int partition = p;
      await("a produce to partition " + p + " in round " + round, () -> succeeds(
          () -> through.produce("moving", List.of(record(value, partition)), false)));
      acknowledged.get(p).add(value);
    }
  }

  private Map<Integer, String> placement(UUID topicId, List<String> names) {
    Map<Integer, String> expected = new TreeMap<>();
    for (int p = 0; p < PARTITIONS; p++) {
      expected.put(p, Rendezvous.owner(topicId + "/" + p, names));
    }
    return expected;
  }

  private static String busiest(Map<Integer, String> leaders) {
    Map<String, Integer> counts = new TreeMap<>();
    leaders.values().forEach(n -> counts.merge(n, 1, Integer::sum));
    return counts.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
  }

  private static ProduceRecord record(String value, int partition) {
    return new ProduceRecord(null, value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), partition, null);
  }

  private static List<String> values(ReadResult result) {
    return result.records().stream().map(r -> new String(r.value(), StandardCharsets.UTF_8)).toList();
  }

  private static UUID topicId(String name) throws Exception {
    try (Connection c = PG.jdbc();
         PreparedStatement s = c.prepareStatement("SELECT topic_id FROM topics WHERE name = ?")) {
      s.setString(1, name);
      try (ResultSet rows = s.executeQuery()) {
        assertThat(rows.next()).as("topic %s is stored", name).isTrue();
        return rows.getObject(1, UUID.class);
      }
    }
  }

  /** The leader each partition's lease row names (null when released). */
  private static Map<Integer, String> leaders(UUID topicId) throws Exception {
    Map<Integer, String> leaders = new TreeMap<>();
    try (Connection c = PG.jdbc();
         PreparedStatement s = c.prepareStatement("SELECT partition, leader FROM partitions WHERE topic_id = ?")) {
      s.setObject(1, topicId);
      try (ResultSet rows = s.executeQuery()) {
        while (rows.next()) {
          leaders.put(rows.getInt(1), rows.getString(2));
        }
      }
    }
    return leaders;
  }

  private static String groupOwner(String group) throws Exception {
    try (Connection c = PG.jdbc();
         PreparedStatement s = c.prepareStatement("SELECT owner FROM group_leases WHERE group_name = ?")) {
      s.setString(1, group);
      try (ResultSet rows = s.executeQuery()) {
        return rows.next() ? rows.getString(1) : null;
      }
    }
  }

  private static boolean succeeds(Supplier<Future<?>> call) {
    try {
      call.get().await(30, TimeUnit.SECONDS);
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);  // generous: a loaded 2-core box
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("waited for %s", what).isLessThan(deadline);
      Thread.sleep(50);
    }
  }
}
