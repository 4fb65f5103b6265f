package dev.runnel.cluster;

import java.util.List;
import java.util.Map;

/**
 * The live members as one node sees them, in Hazelcast's join order (oldest first), one per stable node name.
 * Immutable.
 */
public record ClusterView(List<Member> members) {
  /**
   * A member: its stable node name, its Hazelcast member id (new each start), its Hazelcast address and the card it
   * joined with ({@link ClusterOptions#getCard()}).
   */
  public record Member(String node, String id, String address, Map<String, String> card) {
    public Member {
      card = Map.copyOf(card);
    }
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
