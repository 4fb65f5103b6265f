package dev.runnel.durability;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Storage of consumer-group state: committed offsets, parked records, dead-letter origins, group configs. It stores
 * what the broker decides; the rules live in the broker.
 */
public interface GroupStateStore {

  /**
   * Takes the group's lease for this store's incarnation (DESIGN.md section 6: the group's owner), or fails
   * UNAVAILABLE naming the node that holds it. Every write below takes the lease's epoch and stores nothing once it is
   * no longer current.
   */
  Future<GroupLease> acquireGroup(String group);

  /** The group leases this store holds and renews now, by group. */
  Map<String, GroupLease> heldGroups();

  Future<GroupPartitionState> load(String group, UUID topicId, int partition);

  /**
   * Saves one group's position in one partition in one statement: the committed offset, the parked rows to write
   * (insert or replace) and the parked offsets to delete. Fenced by the group's epoch: fails with UNAVAILABLE when
   * {@code groupEpoch} is no longer current.
   */
  default Future<Void> save(String group, UUID topicId, int partition, long groupEpoch, long committedOffset,
                            long skipped, List<ParkedRecord> upserts, List<Long> deletes) {
    return save(group, topicId, partition, groupEpoch, committedOffset, skipped, upserts, deletes, List.of());
  }

  /**
   * As {@link #save(String, UUID, int, long, long, long, List, List)}, and in the same statement deletes the
   * dead-letter origin rows of the partition at {@code deadLetterOriginDeletes} (a redrive to the group: the records
   * come back as parked rows, and their origins go with the same commit, so a crash cannot keep one without the other).
   */
  Future<Void> save(String group, UUID topicId, int partition, long groupEpoch, long committedOffset, long skipped,
                    List<ParkedRecord> upserts, List<Long> deletes, List<Long> deadLetterOriginDeletes);

  /** Every group's parked offsets in a partition below {@code offset}: group name → offsets. */
  Future<Map<String, List<Long>>> parkedBelow(UUID topicId, int partition, long offset);

  /** The dead-letter origin of a record, or null. */
  Future<DeadLetterOrigin> deadLetterOrigin(String group, UUID topicId, int partition, long offset);

  /** The group's dead letters of a topic that are not dismissed, oldest first, at most {@code limit}. */
  Future<List<DeadLetterOrigin>> deadLetterOrigins(String group, UUID topicId, int limit);

  /**
   * Dismisses dead letters of a group in a topic, in one statement: those of {@code partition} (null: every
   * partition) at {@code offsets} (null: all), not dismissed before. A dismissed dead letter is no longer listed by
   * {@link #deadLetterOrigins}; its row is deleted when nothing needs it (its record is below the group's committed
   * offset and has no parked row), else kept and marked, since {@link #load} and {@link #deadLetterOrigin} still read
   * it as the record's being done. Answers how many were dismissed. Fenced by the group's epoch.
   */
  Future<Integer> dismissDeadLetterOrigins(String group, long groupEpoch, UUID topicId, Integer partition,
                                           List<Long> offsets, long now);

  /**
   * Deletes everything stored of a group, in one statement: its positions, parked rows, dead-letter origins and
   * config (not its dead-letter topics, which are topics, nor its lease row, so its epochs never go back). False when
   * nothing was stored. Fenced by the group's epoch.
   */
  Future<Boolean> deleteGroup(String group, long groupEpoch);

  /** The topics a group has state in: positions, parked rows or dead-letter origins. */
  Future<Set<UUID>> topicsOfGroup(String group);

  /** The groups that have a position in some partition of a topic. */
  Future<List<String>> groupsOfTopic(UUID topicId);

  /** Group name → its committed offsets, as "topicId/partition" → offset. */
  Future<Map<String, Map<String, Long>>> committedOffsets();

  /** The group's config, or null. */
  Future<JsonObject> groupConfig(String group);

  /** Fenced by the group's epoch. */
  Future<Void> saveGroupConfig(String group, long groupEpoch, JsonObject config);

  /** A secret shared by every node, created at first use. */
  Future<byte[]> secret(String name, int bytes);
}
