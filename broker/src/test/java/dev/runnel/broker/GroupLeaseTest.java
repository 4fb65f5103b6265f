package dev.runnel.broker;

import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.ManualClock;
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
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A group's owner holds the group's lease (DESIGN.md section 6). When another node takes it, this node's owner stops:
 * its members are gone, an outcome for what it handed out is refused and stores nothing, and while the other holds
 * the lease every call fails UNAVAILABLE naming it. Once the lease is free again the group is taken back and loaded
 * from storage, and what was never acknowledged is delivered again.
 */
class GroupLeaseTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private final ManualClock clock = new ManualClock(1_800_000_000_000L);
  private Vertx vertx;
  private LogStore store;
  private Broker broker;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    // Short leases, renewed every half second of real time, so the renewal finds the takeover soon.
    store = LogStore.open(vertx, PG.options().setClock(clock).setLeaseMs(1500)).await();
    broker = Broker.create(vertx, store, new BrokerOptions().setClock(clock).setTickMs(0));
  }

  @AfterEach
  void close() {
    broker.close();
    store.close().await();
    vertx.close().await();
  }

  @Test
  void anOwnerWhoseGroupLeaseWasTakenStopsAndTheGroupComesBackFromStorage() throws Exception {
    broker.createTopic("leased", 1, TopicConfig.DEFAULT).await();
    List<ProduceRecord> records = new ArrayList<>();
    for (String v : List.of("a", "b", "c")) {
      records.add(new ProduceRecord(null, v.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), 0, null));
    }
    broker.produce("leased", records).await();
    Membership member = join();
    Delivery first = broker.fetch("g", member.memberId(), 1, 1 << 20, 0).await().get(0);
    assertThat(value(first)).isEqualTo("a");

    takeGroupAsAnotherNode(true);
    // Bounded in count and time; no timing is asserted: the renewal finds the takeover within a few of its periods.
    Throwable refusal = null;
    for (int i = 0; i < 600 && refusal == null; i++) {
      try {
        broker.heartbeat("g", member.memberId()).await();
        Thread.sleep(50);
      } catch (BrokerException e) {
        refusal = e;
      }
    }
    assertThat(refusal).as("a call once the lease was taken").isInstanceOfSatisfying(BrokerException.class, e -> {
      assertThat(e.error()).isEqualTo(BrokerError.UNAVAILABLE);
      assertThat(e.getMessage()).contains("owned by other-node");
    });
    assertThatThrownBy(() -> broker.settle("g", new Outcomes(List.of(first.token()), List.of(), List.of(), List.of()))
        .await()).isInstanceOfSatisfying(BrokerException.class,
            e -> assertThat(e.error()).isEqualTo(BrokerError.UNAVAILABLE));
    assertThat(committedOffset()).as("nothing saved after the takeover").isLessThanOrEqualTo(0);

    takeGroupAsAnotherNode(false);  // the other node's lease ran out
    Membership again = join();
    List<String> delivered = new ArrayList<>();
    for (int i = 0; i < 10 && delivered.size() < 3; i++) {
      for (Delivery d : broker.fetch("g", again.memberId(), 10, 1 << 20, 0).await()) {
        delivered.add(value(d));
        broker.settle("g", new Outcomes(List.of(d.token()), List.of(), List.of(), List.of())).await();
      }
    }
    assertThat(delivered).as("the unacknowledged record comes again").containsExactly("a", "b", "c");
  }

  private Membership join() {
    return broker.join("g", new JoinRequest(List.of("leased"), GroupMode.SHARED, 3_600_000, 30_000, false)).await();
  }

  private static String value(Delivery d) {
    return new String(d.record().value(), StandardCharsets.UTF_8);
  }

  /** Another node holds the group's lease (for an hour), or held it until a moment ago. */
  private static void takeGroupAsAnotherNode(boolean current) throws Exception {
    try (Connection c = PG.jdbc()) {
      c.createStatement().executeUpdate("UPDATE group_leases SET epoch = epoch + " + (current ? 1 : 0)
          + ", owner = 'other-node', incarnation = 'other', lease_until = now() "
          + (current ? "+ interval '1 hour'" : "- interval '1 second'") + " WHERE group_name = 'g'");
    }
  }

  private static long committedOffset() throws Exception {
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT coalesce(max(committed_offset), -1) FROM group_offsets WHERE group_name = 'g'")) {
      rs.next();
      return rs.getLong(1);
    }
  }
}
