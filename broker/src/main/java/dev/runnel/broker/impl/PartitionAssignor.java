package dev.runnel.broker.impl;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Who owns which partition in a partitioned group: each partition of a topic goes to one of the members that read
 * it, round robin over those members sorted by id ({@code partition % count}), so every member computes the same
 * answer from the same membership. Pure.
 */
final class PartitionAssignor {

  /** A member and the topics it reads. */
  record Subscription(String memberId, List<String> topics) {
  }

  /** A partition of a topic, by the topic's name. */
  record Slot(String topic, int partition) {
  }

  private PartitionAssignor() {
  }

  /** Each slot's owner; a slot of a topic no member reads has none (absent). */
  static Map<Slot, String> assign(List<Subscription> members, List<Slot> slots) {
    Map<String, List<String>> readers = new HashMap<>();
    members.stream().sorted((a, b) -> a.memberId().compareTo(b.memberId()))
        .forEach(m -> m.topics().stream().distinct()
            .forEach(t -> readers.computeIfAbsent(t, k -> new ArrayList<>()).add(m.memberId())));
    Map<Slot, String> owners = new TreeMap<>((a, b) -> a.topic().equals(b.topic())
        ? Integer.compare(a.partition(), b.partition()) : a.topic().compareTo(b.topic()));
    for (Slot slot : slots) {
      List<String> candidates = readers.getOrDefault(slot.topic(), List.of());
      if (!candidates.isEmpty()) {
        owners.put(slot, candidates.get(slot.partition() % candidates.size()));
      }
    }
    return owners;
  }
}
