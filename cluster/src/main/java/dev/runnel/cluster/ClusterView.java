package dev.runnel.cluster;

import java.util.List;

/**
 * The live members as one node sees them, in Hazelcast's join order (oldest first), one per stable node name.
 * Immutable.
 */
public record ClusterView(List<Member> members) {
  /** A member: its stable node name, its Hazelcast member id (new each start) and its Hazelcast address. */
  public record Member(String node, String id, String address) {
  }

  public ClusterView {
    members = List.copyOf(members);
  }

  /** The stable node names, oldest member first. */
  public List<String> nodes() {
    return members.stream().map(Member::node).toList();
  }

  public boolean contains(String node) {
    return members.stream().anyMatch(m -> m.node().equals(node));
  }

  public int size() {
    return members.size();
  }
}
