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

  @Test
  void aLinkBoundMembersLeaveIsFreeOnlyMaxFreeReleasesTimesPerRecord() {
    Leases<String> leases = new Leases<>();
    Leases.Lease<String> lease = leases.lease("r", "link-1", 100, null);
    assertThat(lease.member()).isEqualTo("link-1");
    assertThat(lease.leaveCountsAttempt(2)).as("never given back yet").isFalse();
    Leases.Lease<String> ended = leases.releasedFree(lease);
    assertThat(leases.pollDue(Long.MAX_VALUE)).as("a free release ends the lease").isNull();
    lease = leases.lease("r", "link-2", 200, ended);  // the record's next lease
    assertThat(lease.id()).isNotEqualTo(ended.id());
    assertThat(lease.leaveCountsAttempt(2)).as("once given back for free").isFalse();
    lease = leases.lease("r", "link-3", 300, leases.releasedFree(lease));
    assertThat(lease.freeReleases()).isEqualTo(2);
    assertThat(lease.leaveCountsAttempt(2)).as("given back for free twice: this leave counts").isTrue();
    assertThat(lease.leaveCountsAttempt(3)).as("a member allowed three").isFalse();
    assertThat(leases.lease("other", "link-3", 300, null).leaveCountsAttempt(2)).as("another record's count")
        .isFalse();
  }

  @Test
  void aLeaveOfAMemberOfItsOwnNeverCountsAnAttempt() {
    Leases<String> leases = new Leases<>();
    Leases.Lease<String> lease = leases.lease("r", "http-member", 100, null);
    for (int i = 0; i < 1000; i++) {
      assertThat(lease.leaveCountsAttempt(Leases.OWN_MEMBER)).isFalse();
      lease = leases.lease("r", "http-member", 100, leases.releasedFree(lease));
    }
    assertThat(lease.leaveCountsAttempt(0)).as("a link-bound member allowed none").isTrue();
  }

  @Test
  void anExtensionKeepsTheLeaseItsMemberAndItsRecordsFreeReleases() {
    Leases<String> leases = new Leases<>();
    Leases.Lease<String> lease = leases.lease("r", "m", 100, leases.releasedFree(leases.lease("r", "m", 50, null)));
    Leases.Lease<String> extended = leases.extend(lease, 500);
    assertThat(extended.id()).isEqualTo(lease.id());
    assertThat(extended.member()).isEqualTo("m");
    assertThat(extended.freeReleases()).isEqualTo(1);
    assertThat(leases.pollDue(400)).as("not due at its old deadline").isNull();
    assertThat(leases.pollDue(500)).isEqualTo("r");
    assertThat(leases.inQueue()).isZero();
  }
}
