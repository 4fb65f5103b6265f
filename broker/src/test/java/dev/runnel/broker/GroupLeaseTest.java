package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;

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

  private BrokerFixture f;

  @BeforeEach
  void open() {
    // Short leases, renewed every half second of real time, so the renewal finds the takeover soon.
    f = new BrokerFixture(PG, o -> { }, o -> o.setLeaseMs(1500));
  }

  @AfterEach
  void close() {
    f.close();
  }

  @Test
  void anOwnerWhoseGroupLeaseWasTakenStopsAndTheGroupComesBackFromStorage() throws Exception {
    String topic = f.topic(1, TopicConfig.DEFAULT);
    f.produce(topic, "=a", "=b", "=c");
    Membership member = f.join("g", topic);
    Delivery first = f.fetch("g", member, 1).get(0);
    assertThat(BrokerFixture.value(first)).isEqualTo("a");

    takeGroupAsAnotherNode(true);
    // Bounded in count and time; no timing is asserted: the renewal finds the takeover within a few of its periods.
    Throwable refusal = null;
    for (int i = 0; i < 600 && refusal == null; i++) {
      try {
        f.broker.heartbeat("g", member.memberId()).await();
        Thread.sleep(50);
      } catch (BrokerException e) {
        refusal = e;
      }
    }
    assertThat(refusal).as("a call once the lease was taken").isInstanceOfSatisfying(BrokerException.class, e -> {
      assertThat(e.error()).isEqualTo(BrokerError.UNAVAILABLE);
      assertThat(e.getMessage()).contains("owned by other-node");
    });
    assertThatThrownBy(() -> f.ack("g", first)).isInstanceOfSatisfying(BrokerException.class,
        e -> assertThat(e.error()).isEqualTo(BrokerError.UNAVAILABLE));
    assertThat(f.storedCommitted("g", 0)).as("nothing saved after the takeover").isLessThanOrEqualTo(0);

    takeGroupAsAnotherNode(false);  // the other node's lease ran out
    Membership again = f.join("g", topic);
    List<String> delivered = new ArrayList<>();
    for (int i = 0; i < 10 && delivered.size() < 3; i++) {
      for (Delivery d : f.fetch("g", again, 10)) {
        delivered.add(BrokerFixture.value(d));
        f.ack("g", d);
      }
    }
    assertThat(delivered).as("the unacknowledged record comes again").containsExactly("a", "b", "c");
  }

  /** Another node holds the group's lease (for an hour), or held it until a moment ago. */
  private static void takeGroupAsAnotherNode(boolean current) throws Exception {
    try (Connection c = PG.jdbc()) {
      c.createStatement().executeUpdate("UPDATE group_leases SET epoch = epoch + " + (current ? 1 : 0)
          + ", owner = 'other-node', incarnation = 'other', lease_until = now() "
          + (current ? "+ interval '1 hour'" : "- interval '1 second'") + " WHERE group_name = 'g'");
    }
  }
}
