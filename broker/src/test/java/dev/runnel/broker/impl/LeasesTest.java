package dev.runnel.broker.impl;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The deadline queue and the recent-ack memory of {@link Leases}, without Postgres or a clock. */
class LeasesTest {

  @Test
  void leasesComeDueInDeadlineOrderAndOnlyOnce() {
    Leases<String> leases = new Leases<>();
    leases.start(leases.nextId(), 300, "c");
    leases.start(leases.nextId(), 100, "a");
    leases.start(leases.nextId(), 100, "b");  // same deadline: by id
    assertThat(leases.pollDue(99)).as("nothing due yet").isNull();
    List<String> due = new ArrayList<>();
    for (String h = leases.pollDue(100); h != null; h = leases.pollDue(100)) {
      due.add(h);
    }
    assertThat(due).containsExactly("a", "b");
    assertThat(leases.pollDue(1000)).isEqualTo("c");
    assertThat(leases.pollDue(1000)).isNull();
    assertThat(leases.inQueue()).isZero();
  }

  @Test
  void anEndedLeaseNeverComesDueAndAnExtendedOneComesAtItsNewDeadline() {
    Leases<String> leases = new Leases<>();
    long id = leases.nextId();
    Leases.Lease<String> first = leases.start(id, 100, "x");
    leases.end(first);
    leases.start(id, 500, "x");  // the same lease, extended
    Leases.Lease<String> other = leases.start(leases.nextId(), 200, "y");
    leases.end(other);  // acked
    assertThat(leases.pollDue(400)).isNull();
    assertThat(leases.pollDue(500)).isEqualTo("x");
  }

  @Test
  void anAckIsRememberedForTheLatestLeasesOnly() {
    Leases<String> leases = new Leases<>();
    long acked = leases.nextId();
    long notAcked = leases.nextId();
    leases.acked(acked);
    assertThat(leases.wasAcked(acked)).isTrue();
    assertThat(leases.wasAcked(notAcked)).isFalse();
    assertThat(leases.wasAcked(notAcked + 1)).as("not handed out yet").isFalse();
    for (int i = 0; i < Leases.RECENT - 2; i++) {
      leases.nextId();
    }
    assertThat(leases.wasAcked(acked)).as("still among the latest").isTrue();
    long reused = leases.nextId();  // takes the acked lease's slot
    assertThat(leases.wasAcked(reused)).isFalse();
    assertThat(leases.wasAcked(acked)).as("too old to tell: not OK").isFalse();
  }

  @Test
  void clearEndsEveryLeaseButKeepsTheAcks() {
    Leases<String> leases = new Leases<>();
    long id = leases.nextId();
    leases.start(id, 100, "x");
    leases.acked(id);
    leases.clear();
    assertThat(leases.pollDue(Long.MAX_VALUE)).isNull();
    assertThat(leases.wasAcked(id)).isTrue();
  }
}
