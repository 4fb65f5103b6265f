package dev.runnel.durability;

import java.time.Instant;
import java.util.List;
import java.util.UUID;

/**
 * Every lease row as Postgres holds it (the only authority on who leads and owns what): a holder's stable node name and
 * incarnation are null when the lease is free, {@code leaseUntil} null when released.
 */
public record LeaseTable(List<Partition> partitions, List<Group> groups) {

  public record Partition(UUID topicId, String topic, int partition, String leader, String incarnation, long epoch,
                          Instant leaseUntil) {
  }

  public record Group(String group, String owner, String incarnation, long epoch, Instant leaseUntil) {
  }

  public LeaseTable {
    partitions = List.copyOf(partitions);
    groups = List.copyOf(groups);
  }
}
