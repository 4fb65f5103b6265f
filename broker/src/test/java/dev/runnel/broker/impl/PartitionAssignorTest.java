package dev.runnel.broker.impl;

import dev.runnel.broker.impl.PartitionAssignor.Slot;
import dev.runnel.broker.impl.PartitionAssignor.Subscription;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Partitioned mode's assignment ({@link PartitionAssignor}), without Postgres. */
class PartitionAssignorTest {

  private static List<Slot> slots(String topic, int partitions) {
    List<Slot> out = new ArrayList<>();
    for (int p = 0; p < partitions; p++) {
      out.add(new Slot(topic, p));
    }
    return out;
  }

  @Test
  void partitionsGoRoundRobinOverTheSortedReadersOfTheirTopic() {
    Map<Slot, String> owners = PartitionAssignor.assign(
        List.of(new Subscription("b", List.of("t")), new Subscription("a", List.of("t")),
            new Subscription("c", List.of("t"))),
        slots("t", 5));
    assertThat(owners.values()).containsExactly("a", "b", "c", "a", "b");
  }

  @Test
  void aTopicNobodyReadsHasNoOwnerAndEachTopicCountsItsOwnReaders() {
    List<Slot> all = new ArrayList<>(slots("orders", 2));
    all.addAll(slots("audit", 2));
    all.addAll(slots("unread", 1));
    Map<Slot, String> owners = PartitionAssignor.assign(
        List.of(new Subscription("m1", List.of("orders", "audit")), new Subscription("m2", List.of("orders"))), all);
    assertThat(owners).containsEntry(new Slot("orders", 0), "m1").containsEntry(new Slot("orders", 1), "m2")
        .containsEntry(new Slot("audit", 0), "m1").containsEntry(new Slot("audit", 1), "m1")
        .doesNotContainKey(new Slot("unread", 0));
  }

  @Test
  void theSameMembershipGivesTheSameAnswerWhateverItsOrder() {
    List<Subscription> one = List.of(new Subscription("x", List.of("t", "t")), new Subscription("y", List.of("t")));
    List<Subscription> other = List.of(one.get(1), one.get(0));
    assertThat(PartitionAssignor.assign(one, slots("t", 4))).isEqualTo(PartitionAssignor.assign(other, slots("t", 4)))
        .as("a topic named twice counts once").containsValues("x", "y");
  }
}
