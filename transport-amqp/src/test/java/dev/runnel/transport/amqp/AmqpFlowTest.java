package dev.runnel.transport.amqp;

import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.StoredRecord;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.transport.amqp.ProtonTestClient.Arrival;
import dev.runnel.transport.amqp.ProtonTestClient.Receiver;
import dev.runnel.transport.amqp.ProtonTestClient.Sender;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import org.apache.qpid.proton.amqp.messaging.Accepted;
import org.apache.qpid.proton.amqp.messaging.Released;
import org.apache.qpid.proton.amqp.transport.DeliveryState;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.runnel.transport.amqp.ProtonTestClient.await;
import static dev.runnel.transport.amqp.ProtonTestClient.eventually;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Pacing and order (DESIGN.md section 7): a consumer link never has more than {@code maxUnsettled} deliveries
 * outstanding whatever its credit; a drain is answered with what is eligible, then drained; a producer is settled only
 * after its commit, and its credit plus its unsettled transfers never exceed {@code linkCredit}; several receivers of
 * a shared group see each key's records one at a time, in offset order.
 */
class AmqpFlowTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final int MAX_UNSETTLED = 10;
  private static final int LINK_CREDIT = 5;
  private static AmqpNode node;
  private static Vertx clientVertx;
  private static ProtonTestClient client;

  @BeforeAll
  static void start() {
    node = new AmqpNode(PG, null, o -> o.setMaxUnsettled(MAX_UNSETTLED).setLinkCredit(LINK_CREDIT));
    clientVertx = Vertx.vertx();
    client = ProtonTestClient.connect(clientVertx.getOrCreateContext(), node.amqp.actualPort());
  }

  @AfterAll
  static void stop() {
    if (client != null) {
      client.close();
    }
    if (clientVertx != null) {
      clientVertx.close().await();
    }
    if (node != null) {
      node.close();
    }
  }

  // ---- consumer pacing and drain ------------------------------------------------------------------------------------

  @Test
  void aConsumerGrantingMuchCreditHasAtMostMaxUnsettledOutstanding() {
    String topic = node.topic(1);
    String group = AmqpNode.unique("g");
    for (int i = 0; i < 30; i++) {
      produce(topic, null, "v" + i);  // unkeyed: nothing blocks them
    }
    Receiver r = client.openReceiver("topics/" + topic + "/groups/" + group);
    r.flow(1_000);
    List<Arrival> first = r.next(MAX_UNSETTLED);
    // A drain is answered once everything the server would send now has gone: nothing beyond maxUnsettled did.
    await(r.flowAndDrain(0), "the drain to be answered");
    assertThat(r.received.get()).isEqualTo(MAX_UNSETTLED);
    assertThat(inFlight(group)).as("leased in the broker").isEqualTo(MAX_UNSETTLED);

    first.subList(0, 4).forEach(Arrival::accept);
    r.flow(1_000);
    List<Arrival> more = r.next(4);
    await(r.flowAndDrain(0), "the drain to be answered");
    assertThat(r.received.get()).as("one more per settled delivery").isEqualTo(MAX_UNSETTLED + 4);
    assertThat(inFlight(group)).isEqualTo(MAX_UNSETTLED);

    // Settle as they come until all 30 are through.
    List<Arrival> open = new ArrayList<>(first.subList(4, MAX_UNSETTLED));
    open.addAll(more);
    r.flow(1_000);
    Set<Long> seen = new HashSet<>();
    first.forEach(a -> seen.add(a.offset()));
    more.forEach(a -> seen.add(a.offset()));
    for (int i = 0; i < 30 && seen.size() < 30; i++) {
      open.forEach(Arrival::accept);
      open = new ArrayList<>();
      Arrival a = r.next();
      seen.add(a.offset());
      open.add(a);
      open.addAll(r.pending());
      open.forEach(x -> seen.add(x.offset()));
    }
    open.forEach(Arrival::accept);
    assertThat(seen).hasSize(30);
    eventually("the acks to be applied (lag 0)", () -> lag(group) == 0);
    r.close();
  }

  /**
   * Credit and a drain together (as Qpid JMS's receiveNoWait sends them) while records wait: the records come first,
   * then drained. The records are made eligible first (delivered once and released), since a record just committed
   * reaches its group's window a moment later; repeated, since whether the server reads the two flows in one go or
   * apart varies from run to run, with gaps between the two flows.
   */
  @Test
  void aDrainIsAnsweredWithTheWaitingRecordsFirst() {
    String topic = node.topic(1);
    String group = AmqpNode.unique("g");
    Receiver r = client.openReceiver("topics/" + topic + "/groups/" + group);
    for (int round = 0; round < 40; round++) {
      long base = 3L * round;
      for (int i = 0; i < 3; i++) {
        produce(topic, null, "v" + (base + i));
      }
      r.flow(3);
      r.next(3).forEach(a -> a.settle(Released.getInstance(), true));
      eventually("the releases to be applied", () -> inFlight(group) == 0);

      r.events.clear();
      await(r.flowAndDrain(5, (round % 4) * 10_000L), "the drain to be answered");  // gaps of 0 to 30 µs
      assertThat(r.events).as("round " + round)
          .containsExactly("delivery " + base, "delivery " + (base + 1), "delivery " + (base + 2), "drained");
      assertThat(r.credit()).isZero();
      r.next(3).forEach(Arrival::accept);
    }
    eventually("the acks to be applied (lag 0)", () -> lag(group) == 0);
    r.close();
  }

  @Test
  void aDrainWithNothingWaitingIsAnsweredAtOnceAndHoldsNothingBack() {
    String topic = node.topic(1);
    String group = AmqpNode.unique("g");
    Receiver r = client.openReceiver("topics/" + topic + "/groups/" + group);
    await(r.flowAndDrain(5), "the drain to be answered");
    assertThat(r.events).containsExactly("drained");

    // A drain during a long poll: answered at once; what the poll brings afterwards finds no credit and goes back
    // with no attempt counted.
    r.flow(5);
    produce(topic, null, "v0");
    Arrival a = r.next();  // answered the long poll; the server polls again for the 4 credits left
    await(r.flowAndDrain(0), "the drain to be answered");
    assertThat(r.credit()).isZero();
    produce(topic, null, "v1");
    a.accept();
    r.flow(1);
    Arrival b = r.next();
    assertThat(b.body()).isEqualTo("v1");
    assertThat(b.deliveryCount()).isZero();
    b.accept();
    eventually("the acks to be applied (lag 0)", () -> lag(group) == 0);
    r.close();
  }

  // ---- producer pacing --------------------------------------------------------------------------------------------

  /**
   * Writes to the topic's segment are held by a table lock, so no commit can happen: no transfer is settled and no
   * credit is granted meanwhile; once the lock goes, each transfer is accepted, and its record is readable at the
   * moment its outcome arrives.
   */
  @Test
  void aProducerIsSettledOnlyAfterTheCommitAndItsCreditNeverExceedsTheWindow() throws Exception {
    String topic = node.topic(1);
    Sender s = client.openSender("topics/" + topic);
    eventually("the link's credit", () -> s.credit() == LINK_CREDIT);
    assertThat(s.sendAndAwait(ProtonTestClient.message(null, "first"))).isInstanceOf(Accepted.class);

    List<String> notReadableAtOutcome = Collections.synchronizedList(new ArrayList<>());
    List<CompletableFuture<DeliveryState>> outcomes = new ArrayList<>();
    try (Connection lock = PG.jdbc(); Connection watch = PG.jdbc()) {
      String table = segmentTable(watch, topic);
      lock.setAutoCommit(false);
      lock.createStatement().execute("LOCK TABLE " + table + " IN SHARE MODE");  // blocks inserts, not reads
      try {
        for (int i = 0; i < LINK_CREDIT; i++) {
          String body = "m" + i;
          outcomes.add(s.send(ProtonTestClient.message(null, body), d -> {
            if (!readableNow(topic, body)) {
              notReadableAtOutcome.add(body);
            }
          }));
        }
        eventually("a write to wait for the lock", () -> waitingForLock(watch, table));
        assertThat(outcomes).as("outcomes before any commit").noneMatch(CompletableFuture::isDone);
        assertThat(s.credit()).as("credit while all " + LINK_CREDIT + " are uncommitted").isZero();
        assertThat(node.broker.read(topic, 0, 0, 100, 1 << 20).await().highWatermark()).isEqualTo(1);
      } finally {
        lock.rollback();
      }
    }
    for (CompletableFuture<DeliveryState> o : outcomes) {
      assertThat(await(o, "an outcome")).isInstanceOf(Accepted.class);
    }
    assertThat(notReadableAtOutcome).as("accepted before its record was readable").isEmpty();
    eventually("the credit to be topped up", () -> s.credit() == LINK_CREDIT);
    assertThat(s.maxCreditPlusUnsettled()).as("credit + unsettled").isLessThanOrEqualTo(LINK_CREDIT);
    s.close();
  }

  /** Many transfers in a row: credit + unsettled stay within the window, and every one is accepted and stored. */
  @Test
  void aProducerSendingAsFastAsItsCreditAllowsStaysWithinTheWindow() {
    String topic = node.topic(2);
    Sender s = client.openSender("topics/" + topic);
    eventually("the link's credit", () -> s.credit() == LINK_CREDIT);
    int total = 200;
    List<CompletableFuture<DeliveryState>> outcomes = Collections.synchronizedList(new ArrayList<>());
    AtomicInteger sent = new AtomicInteger();
    // Sends whenever there is credit, from the client's context, until all are sent.
    CompletableFuture<Void> allSent = new CompletableFuture<>();
    client.run(() -> {
      Runnable[] pump = new Runnable[1];
      pump[0] = () -> {
        while (sent.get() < total && s.link.getCredit() > 0) {
          int i = sent.getAndIncrement();
          CompletableFuture<DeliveryState> o = new CompletableFuture<>();
          outcomes.add(o);
          s.send(ProtonTestClient.message("k" + (i % 7), "m" + i)).whenComplete((st, e) -> o.complete(st));
        }
        if (sent.get() >= total) {
          allSent.complete(null);
        }
      };
      s.link.sendQueueDrainHandler(x -> {
        s.noteFlow();
        pump[0].run();
      });
    });
    await(allSent, "all transfers to be sent");
    for (CompletableFuture<DeliveryState> o : new ArrayList<>(outcomes)) {
      assertThat(await(o, "an outcome")).isInstanceOf(Accepted.class);
    }
    assertThat(s.maxCreditPlusUnsettled()).as("credit + unsettled").isLessThanOrEqualTo(LINK_CREDIT);
    long stored = node.broker.describeTopic(topic).await().partitions().stream()
        .mapToLong(p -> p.highWatermark() - p.logStartOffset()).sum();
    assertThat(stored).isEqualTo(total);
    s.close();
  }

  // ---- order ------------------------------------------------------------------------------------------------------

  /**
   * Three receiver links on one shared group, five keys, 200 records over two partitions; each delivery is accepted
   * after a short random time. Each key's records arrive in offset order, and a key is never in flight on two links.
   */
  @Test
  void sharedReceiversSeeEachKeyInOrderAndOneAtATime() {
    String topic = node.topic(2);
    String group = AmqpNode.unique("g");
    String address = "topics/" + topic + "/groups/" + group;
    int total = 200;
    List<ProduceRecord> records = new ArrayList<>();
    for (int i = 0; i < total; i++) {
      records.add(record("k" + (i % 5), "v" + i));
    }
    node.broker.produce(topic, records).await();

    Context context = clientVertx.getOrCreateContext();  // all three connections on one context: one thread
    List<ProtonTestClient> clients = new ArrayList<>();
    List<Receiver> receivers = new ArrayList<>();
    Map<Object, String> inFlightOn = new HashMap<>();
    Map<Object, Long> lastOffset = new HashMap<>();
    Map<String, Integer> perLink = new HashMap<>();
    List<String> violations = Collections.synchronizedList(new ArrayList<>());
    AtomicInteger accepted = new AtomicInteger();
    Random random = new Random(11);
    try {
      for (int i = 0; i < 3; i++) {
        ProtonTestClient c = ProtonTestClient.connect(context, node.amqp.actualPort());
        clients.add(c);
        Receiver r = c.openReceiver(address);
        String name = "link" + i;
        r.onArrival = a -> {
          Object key = a.key();
          String other = inFlightOn.put(key, name);
          if (other != null) {
            violations.add("key " + key + " at offset " + a.offset() + " came on " + name + " while still in flight (on " + other + ")");
          }
          Long last = lastOffset.put(key, a.offset());
          if (last != null && a.offset() <= last) {
            violations.add("key " + key + ": offset " + a.offset() + " after " + last);
          }
          perLink.merge(name, 1, Integer::sum);
          context.owner().setTimer(1 + random.nextInt(3), id -> {
            inFlightOn.remove(key);  // before the outcome leaves: the server may hand the key out right after
            a.delivery().disposition(Accepted.getInstance(), true);
            accepted.incrementAndGet();
            a.from().link.flow(1);
          });
        };
        receivers.add(r);
      }
      receivers.forEach(r -> r.flow(MAX_UNSETTLED));
      eventually("all " + total + " accepted", () -> accepted.get() >= total || !violations.isEmpty());
      assertThat(violations).isEmpty();
      assertThat(accepted.get()).isEqualTo(total);
      assertThat(clients.get(0).call(() -> new HashMap<>(perLink)).size()).as("links that received").isGreaterThan(1);
      eventually("the acks to be applied (lag 0)", () -> lag(group) == 0);
    } finally {
      clients.forEach(ProtonTestClient::close);
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  private static ProduceRecord record(String key, String value) {
    return new ProduceRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
        value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null, null);
  }

  private static void produce(String topic, String key, String value) {
    node.broker.produce(topic, List.of(record(key, value))).await();
  }

  private static long lag(String group) {
    return node.broker.describeGroup(group).await().partitions().stream().mapToLong(GroupDescription.PartitionLag::records)
        .sum();
  }

  private static int inFlight(String group) {
    int n = 0;
    for (GroupDescription.Member m : node.broker.describeGroup(group).await().members()) {
      n += node.broker.inFlight(group, m.memberId()).await();
    }
    return n;
  }

  /** Reads the partition from another thread while the client's context waits: is a record with this body there? */
  private static boolean readableNow(String topic, String body) {
    try {
      List<StoredRecord> stored = CompletableFuture.supplyAsync(() -> node.broker.read(topic, 0, 0, 100, 1 << 20).await()
          .records()).get(ProtonTestClient.WAIT_MS, TimeUnit.MILLISECONDS);
      return stored.stream().anyMatch(r -> new String(r.value(), StandardCharsets.UTF_8).equals(body));
    } catch (Exception e) {
      throw new AssertionError("reading " + topic, e);
    }
  }

  private static String segmentTable(Connection c, String topic) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(
        "SELECT s.table_name FROM segments s JOIN topics t ON t.topic_id = s.topic_id WHERE t.name = ?")) {
      ps.setString(1, topic);
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).as("a segment of " + topic).isTrue();
        String table = rs.getString(1);
        assertThat(rs.next()).as("one segment of " + topic).isFalse();
        return table;
      }
    }
  }

  private static boolean waitingForLock(Connection c, String table) {
    try (PreparedStatement ps = c.prepareStatement(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = ?::regclass")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getInt(1) > 0;
      }
    } catch (SQLException e) {
      throw new AssertionError(e);
    }
  }
}
