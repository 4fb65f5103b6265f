package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.impl.GroupMembership.Member;
import dev.runnel.broker.impl.PartitionAssignor.Slot;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The coordinator of a group ({@link GroupMembership}) with an injected clock and member ids, without Postgres. */
class GroupMembershipTest {

  private long now = 1_000_000;
  private int nextId;
  private final GroupMembership membership = new GroupMembership("g", () -> now, () -> "m" + nextId++);

  private static JoinRequest request(GroupMode mode, long sessionMs, String... topics) {
    return new JoinRequest(List.of(topics), mode, sessionMs, 30_000, false);
  }

  private Member join(GroupMode mode, long sessionMs, String... topics) {
    JoinRequest request = request(mode, sessionMs, topics);
    return membership.join(request, membership.modeOf(request));
  }

  private List<String> expire(List<Member> alive) {
    List<String> expired = new ArrayList<>();
    membership.expire(now, alive::contains, m -> {
      assertThat(membership.member(m.id)).as("removed before it is handed over").isNull();
      expired.add(m.id);
    });
    return expired;
  }

  @Test
  void aSessionEndsOnlyWhenItsTimeoutHasPassedSinceTheMemberWasLastSeen() {
    Member a = join(null, 10_000, "t");
    Member b = join(null, 20_000, "t");
    now += 10_000;
    assertThat(expire(List.of())).as("exactly the timeout is still alive").isEmpty();
    now += 1;
    assertThat(expire(List.of())).containsExactly(a.id);
    assertThat(membership.member(a.id)).isNull();
    assertThat(membership.member(b.id)).isSameAs(b);
    assertThat(membership.ids()).containsExactly(b.id);
    assertThat(membership.expire(now, m -> false, m -> { })).as("nothing more expired").isFalse();
  }

  @Test
  void beingSeenOrWaitingInALongPollStartsTheSessionAgain() {
    Member heartbeats = join(null, 10_000, "t");
    Member polls = join(null, 10_000, "t");
    now += 8_000;
    assertThat(membership.seen(heartbeats.id)).isSameAs(heartbeats);
    assertThat(expire(List.of(polls))).isEmpty();
    now += 10_000;
    assertThat(expire(List.of())).as("each seen 10 s ago").isEmpty();
    now += 1;
    assertThat(expire(List.of())).containsExactly(heartbeats.id, polls.id);
    assertThat(membership.isEmpty()).isTrue();
    assertThat(membership.seen(heartbeats.id)).as("an expired member is not seen again").isNull();
  }

  @Test
  void expiredMembersAreRemovedOneAfterAnotherInTheOrderTheyJoined() {
    Member first = join(null, 5_000, "t");
    Member second = join(null, 5_000, "t");
    now += 5_001;
    List<String> stillThere = new ArrayList<>();
    boolean any = membership.expire(now, m -> false, m -> stillThere.add(String.join(",", membership.ids())));
    assertThat(any).isTrue();
    assertThat(stillThere).as("the later member is still in the group while the first is handed over")
        .containsExactly(second.id, "");
    assertThat(first.id).isEqualTo("m0");
  }

  @Test
  void theFirstJoinSetsTheModeWhichHoldsWhileTheGroupHasMembers() {
    assertThat(membership.mode()).isNull();
    assertThat(membership.modeOf(request(null, 10_000, "t"))).as("default").isEqualTo(GroupMode.SHARED);
    Member p = join(GroupMode.PARTITIONED, 10_000, "t");
    assertThat(membership.modeOf(request(null, 10_000, "t"))).as("the group's").isEqualTo(GroupMode.PARTITIONED);
    assertThatThrownBy(() -> membership.modeOf(request(GroupMode.SHARED, 10_000, "t")))
        .isInstanceOfSatisfying(BrokerException.class, e -> {
          assertThat(e.error()).isEqualTo(BrokerError.INVALID_REQUEST);
          assertThat(e.getMessage()).contains("group g is partitioned; a member cannot join it as shared");
        });
    assertThat(membership.leave(p.id)).isSameAs(p);
    assertThat(membership.leave(p.id)).as("left already").isNull();
    assertThat(membership.modeOf(request(GroupMode.SHARED, 10_000, "t"))).as("no members: any mode")
        .isEqualTo(GroupMode.SHARED);
    assertThatThrownBy(() -> membership.modeOf(request(null, 10_000)))
        .isInstanceOfSatisfying(BrokerException.class, e -> assertThat(e.error()).isEqualTo(BrokerError.INVALID_REQUEST));
  }

  @Test
  void aMemberReadsEachTopicOnceAndOnlyALinkBoundOneKeepsALeaseOverTenMinutes() {
    JoinRequest own = new JoinRequest(List.of("a", "b", "a"), null, 10_000, 3_600_000, false);
    Member m = membership.join(own, membership.modeOf(own));
    assertThat(m.topics).containsExactly("a", "b");
    assertThat(m.leaseMs).isEqualTo(JoinRequest.MAX_LEASE_MS);
    assertThat(m.maxFreeReleases).isEqualTo(Integer.MAX_VALUE);
    JoinRequest link = new JoinRequest(List.of("a"), null, 10_000, 3_600_000, false, new JoinRequest.LinkBound(2));
    Member l = membership.join(link, membership.modeOf(link));
    assertThat(l.leaseMs).isEqualTo(3_600_000);
    assertThat(l.maxFreeReleases).isEqualTo(2);
    assertThat(membership.leaseMs(l.id)).isEqualTo(3_600_000);
    assertThat(membership.leaseMs("gone")).isEqualTo(JoinRequest.DEFAULT_LEASE_MS);
    assertThat(membership.leaseMs(null)).isEqualTo(JoinRequest.DEFAULT_LEASE_MS);
  }

  @Test
  void everyGenerationCountsAndOnlyPartitionedModeAssigns() {
    Supplier<List<Slot>> noSlots = () -> {
      throw new AssertionError("only partitioned mode asks for the slots");
    };
    assertThat(membership.newGeneration(noSlots)).as("no mode before the first join: a grown topic").isNull();
    join(GroupMode.SHARED, 10_000, "t");
    assertThat(membership.newGeneration(noSlots)).isNull();
    assertThat(membership.generation()).isEqualTo(2);
    membership.removeAll();

    Member b = membership.join(request(GroupMode.PARTITIONED, 10_000, "t"), GroupMode.PARTITIONED);
    Member c = membership.join(request(GroupMode.PARTITIONED, 10_000, "t", "u"), GroupMode.PARTITIONED);
    List<Slot> slots = List.of(new Slot("t", 0), new Slot("t", 1), new Slot("u", 0), new Slot("v", 0));
    Map<Slot, String> owners = membership.newGeneration(() -> slots);
    assertThat(membership.generation()).isEqualTo(3);
    assertThat(owners).containsEntry(new Slot("t", 0), b.id).containsEntry(new Slot("t", 1), c.id)
        .containsEntry(new Slot("u", 0), c.id).doesNotContainKey(new Slot("v", 0));
    assertThat(membership.partitioned()).isTrue();

    membership.leave(b.id);
    assertThat(membership.newGeneration(() -> slots)).containsEntry(new Slot("t", 0), c.id)
        .containsEntry(new Slot("t", 1), c.id);
    assertThat(membership.generation()).isEqualTo(4);
  }

  @Test
  void theDescriptionListsMembersInTheOrderTheyJoinedWithTheirAssignment() {
    Member x = join(null, 10_000, "t");
    Member y = join(null, 10_000, "u", "t");
    assertThat(membership.describe(id -> Map.of("t", List.of(id.equals(x.id) ? 0 : 1))))
        .extracting(d -> d.memberId() + " " + d.topics() + " " + d.assignment())
        .containsExactly(x.id + " [t] {t=[0]}", y.id + " [u, t] {t=[1]}");
    assertThat(membership.size()).isEqualTo(2);
    assertThat(membership.removeAll()).containsExactly(x, y);
    assertThat(membership.isEmpty()).isTrue();
    assertThat(membership.unknownMember(x.id).error()).isEqualTo(BrokerError.UNKNOWN_MEMBER);
  }

  @Test
  void aMembersFetchesStartAtARotatingPartition() {
    Member m = join(null, 10_000, "t");
    assertThat(List.of(m.rotate(), m.rotate(), m.rotate())).containsExactly(0, 1, 2);
  }
}
