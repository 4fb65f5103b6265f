package dev.runnel.broker;

import dev.runnel.durability.Incarnation;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A node is not ready until it holds what it leads and owns (DESIGN.md section 6): a new incarnation of a node name
 * that could not prove its predecessor dead stays unready while the predecessor holds the leases, and is ready once
 * they are released, holding every partition and group under its own incarnation.
 */
class ReadinessTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final String NODE = "ready-node";

  private Vertx vertx;
  private final List<Runnable> closing = new ArrayList<>();

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void close() {
    closing.forEach(Runnable::run);
    vertx.close().await();
  }

  private record Node(LogStore store, Broker broker, Incarnation incarnation) {
  }

  private Node start() {
    Incarnation incarnation = Incarnation.start(NODE);
    LogStore store = LogStore.open(vertx, PG.options().setLeaseMs(60_000).setIncarnation(incarnation)).await();
    Broker broker = Broker.create(vertx, store, new BrokerOptions().setTickMs(0));
    closing.add(() -> {
      broker.close();
      store.close().await();
    });
    return new Node(store, broker, incarnation);
  }

  @Test
  void aNewIncarnationIsReadyOnlyOnceItHoldsEveryPartitionAndGroup() throws Exception {
    Node first = start();
    first.broker().createTopic("served", 3, TopicConfig.DEFAULT).await();
    assertThat(becomesReady(first.broker())).as("the first takes what it serves").isTrue();
    first.broker().produce("served", List.of(new ProduceRecord(null, "v".getBytes(StandardCharsets.UTF_8),
        "text/plain", List.of(), 0, null))).await();
    first.broker().join("g", new JoinRequest(List.of("served"), GroupMode.SHARED, 3_600_000, 30_000, false)).await();
    ((dev.runnel.broker.impl.LocalBroker) first.broker()).saveAll().await();

    Node second = start();  // the first is "paused": it holds its leases
    Throwable notReady = null;
    for (int i = 0; i < 20; i++) {
      try {
        second.broker().checkReady().await();
        notReady = null;
        break;
      } catch (BrokerException e) {
        notReady = e;
        Thread.sleep(20);
      }
    }
    assertThat(notReady).as("never ready while another incarnation holds the leases")
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.UNAVAILABLE));

    first.broker().close();
    first.store().close().await();  // a graceful stop releases
    assertThat(becomesReady(second.broker())).isTrue();
    assertThat(holders("SELECT p.incarnation FROM partitions p JOIN topics t USING (topic_id) WHERE t.name = 'served'"))
        .containsExactly(second.incarnation().id(), second.incarnation().id(), second.incarnation().id());
    assertThat(holders("SELECT incarnation FROM group_leases WHERE group_name = 'g'"))
        .containsExactly(second.incarnation().id());
  }

  /** Asks as a readiness probe does, a bounded number of times; each check tries the leases again. */
  private static boolean becomesReady(Broker broker) throws InterruptedException {
    for (int i = 0; i < 200; i++) {
      try {
        broker.checkReady().await();
        return true;
      } catch (BrokerException e) {
        Thread.sleep(50);
      }
    }
    return false;
  }

  private static List<String> holders(String query) throws Exception {
    List<String> out = new ArrayList<>();
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(query)) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }
}
