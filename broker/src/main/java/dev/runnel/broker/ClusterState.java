package dev.runnel.broker;

import java.time.Instant;
import java.util.List;

/**
 * What {@code GET /cluster} reports (DESIGN.md section 6): the members this node sees, and every partition's leader
 * and group's owner with their epochs and lease expiry as Postgres holds them. {@code placedOn} is where the answering
 * node's view places the unit: a unit whose leader differs from it is wanted by another node and not yet handed over
 * (or not yet taken up: a unit is acquired on its first call). Names are stable node names; null where nobody holds.
 */
public record ClusterState(String node, List<Member> members, List<Partition> partitions, List<Group> groups) {

  /** A member: its stable node name, this start's incarnation id, and where its transports listen (null if off). */
  public record Member(String node, String incarnation, String http, String amqp) {
  }

  public record Partition(String topic, int partition, String leader, long epoch, Instant leaseExpiresAt,
                          String placedOn) {
  }

  public record Group(String group, String owner, long epoch, Instant leaseExpiresAt, String placedOn) {
  }

  public ClusterState {
    members = List.copyOf(members);
    partitions = List.copyOf(partitions);
    groups = List.copyOf(groups);
  }
}
