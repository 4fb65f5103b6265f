package dev.runnel.broker;

import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.cluster.ClusterNode;
import dev.runnel.durability.LogStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.util.List;

/**
 * The broker's public API, what every transport talks to. Failures are {@link BrokerException}s carrying a
 * {@link BrokerError}; futures complete on the caller's context.
 */
public interface Broker {

  static Broker create(Vertx vertx, LogStore store) {
    return new LocalBroker(vertx, store, new BrokerOptions());
  }

  static Broker create(Vertx vertx, LogStore store, BrokerOptions options) {
    return new LocalBroker(vertx, store, options, null);
  }

  /**
   * A broker that is one node of {@code cluster} (DESIGN.md section 6): it serves the partitions and groups the view
   * places on it and forwards the rest to the nodes that hold them. Runs on the cluster's Vert.x.
   */
  static Broker create(ClusterNode cluster, LogStore store, BrokerOptions options) {
    return new LocalBroker(cluster.vertx(), store, options, cluster);
  }

  /** Creates a topic; an identical existing topic answers {@code created == false}, a different one TOPIC_EXISTS. */
  Future<TopicCreated> createTopic(String name, int partitions, TopicConfig config);

  Future<List<TopicDescription>> listTopics();

  Future<TopicDescription> describeTopic(String name);

  Future<Void> deleteTopic(String name);

  /**
   * Changes some of a topic's config, as a JSON merge patch (RFC 7396) over the stored config: the keys given change,
   * the others stay, a key given as null goes back to its default, and {@code retryPolicy} merges key by key the same
   * way. All or nothing: an unknown key, a value out of range, or a change of {@code segmentMs} (segments are
   * numbered by it, so it is fixed at creation) fails INVALID_CONFIG and changes nothing. What changes applies at
   * once, to running partitions and groups: {@code retentionMs} and {@code retentionBytes} from the next retention
   * pass; {@code maxRecordBytes} to the next produce (records stored stay); {@code retryPolicy} to the next failure
   * (scheduled retries keep their time; with fewer {@code maxRetries}, records past them are dead-lettered at the next
   * tick), unless a group's own policy overrides it; {@code deadLetterTopic} to the next dead letter (earlier ones stay
   * in the topic they went to, and are still listed and redriven from there); {@code dedup} to records produced from
   * now on; {@code dedupWindowMs} to every remembered idempotency key (a key is a duplicate while its record is
   * younger than the window in force; keys already forgotten do not come back). Answers the topic as it is after.
   */
  Future<TopicDescription> updateTopicConfig(String topic, JsonObject patch);

  /**
   * Grows a topic to {@code partitions} partitions (Kafka's CreatePartitions). Records stored stay where they are and
   * readable; a keyed record produced from now on goes to {@code murmur2(key) mod partitions}, so a key's new records
   * may land in another partition than its old ones: per-key order holds within each partition, not across the
   * change, and produce dedup (scoped per partition) does not see a retry that lands elsewhere. Groups that read the
   * topic get the new partitions at once and read them from their start (offset 0), whatever their members' {@code
   * startFrom}: nothing produced to a new partition is skipped. A group's dead-letter topic grows with it when a
   * dead letter of a new partition first goes there. Fails INVALID_REQUEST when {@code partitions} is not more than
   * the topic has (partitions never shrink) or above the maximum.
   */
  Future<TopicDescription> growPartitions(String topic, int partitions);

  /** Records, bytes, segments and the oldest and newest append time of each partition of a topic, and in total. */
  Future<TopicStats> topicStats(String topic);

  /**
   * The first offset of the partition whose record's append time is at or after {@code timestamp} (Kafka's
   * offsetsForTimes), the log start when every retained record is that young, and the high watermark when none is.
   */
  Future<Long> offsetForTimestamp(String topic, int partition, long timestamp);

  /**
   * Stores records and answers, in request order, where each went, once all are committed. Validation is
   * all-or-nothing: a bad record fails the call and stores nothing.
   */
  default Future<List<ProduceResult>> produce(String topic, List<ProduceRecord> records) {
    return produce(topic, records, false);
  }

  /**
   * {@link #produce(String, List)}; with {@code deduplicate}, by idempotency key even when the topic has {@code dedup}
   * off, within its {@code dedupWindowMs} (signed webhook deliveries, which their senders retry): every record then
   * needs an idempotency key, and a duplicate answers its original position with {@code duplicate} set.
   */
  Future<List<ProduceResult>> produce(String topic, List<ProduceRecord> records, boolean deduplicate);

  /**
   * Reads committed records of one partition from {@code offset}: at most {@code maxRecords}, and no more than
   * {@code maxBytes} except that one record is returned when there is one; an offset outside [log start, high
   * watermark] fails OFFSET_OUT_OF_RANGE.
   */
  Future<ReadResult> read(String topic, int partition, long offset, int maxRecords, int maxBytes);

  /**
   * The cluster as this node sees it ({@code GET /cluster}): its members, and the leases of every partition and group
   * read from Postgres now. A single node answers with itself as the only member.
   */
  Future<ClusterState> clusterState();

  /** Succeeds when storage answers. */
  Future<Void> checkReady();

  /**
   * Fails when this node cannot recover by itself (its embedded Postgres died and could not be started again): a
   * supervisor should restart it. Storage that is down but coming back fails {@link #checkReady()} only.
   */
  Future<Void> checkLive();

  // ---- consumer groups

  /** Joins a group (created by its first member); the answer names the member and its partitions. */
  Future<Membership> join(String group, JoinRequest request);

  /** Leaves at once: the member's leases are released without counting an attempt. */
  Future<Void> leave(String group, String memberId);

  /** Keeps the member's session alive (a fetch does too). */
  Future<Void> heartbeat(String group, String memberId);

  /** Long poll: eligible records for the member, or an empty list after {@code maxWaitMs}. */
  Future<List<Delivery>> fetch(String group, String memberId, int maxRecords, int maxBytes, long maxWaitMs);

  /**
   * The member's deliveries still under lease (handed out, not settled, not expired), each with the token it was
   * handed out with: what a member that lost its connection may still settle (an SSE stream resumed with
   * {@code Last-Event-ID} sends them again). Fails UNKNOWN_MEMBER for a member that is gone.
   */
  Future<List<Delivery>> leased(String group, String memberId);

  /**
   * How many deliveries the member holds under lease now (what an SSE stream's {@code maxInFlight} bounds); like a
   * heartbeat, it keeps the member's session alive.
   */
  Future<Integer> inFlight(String group, String memberId);

  /** Applies outcomes; each answers OK, LEASE_EXPIRED (nothing changed) or UNKNOWN_TOKEN. */
  Future<List<OutcomeResult>> settle(String group, Outcomes outcomes);

  /** Moves the group's position in partitions of a topic; outstanding tokens of those partitions become invalid. */
  default Future<Void> seek(String group, String topic, List<SeekPosition> positions) {
    return seek(group, topic, positions, false).mapEmpty();
  }

  /**
   * Moves the group's position in partitions of a topic, and answers, per partition in the order asked, its position
   * before and after. Every target is resolved first (an offset outside the retained log fails OFFSET_OUT_OF_RANGE, a
   * partition the topic lacks PARTITION_OUT_OF_RANGE) and only then are all partitions moved, so a failure moves none.
   * Moving invalidates the outstanding tokens of those partitions, drops parked records at or above the new position
   * and keeps those below (DESIGN.md section 4). With {@code dryRun} nothing changes: the answer says where each
   * partition would move.
   */
  Future<List<SeekResult>> seek(String group, String topic, List<SeekPosition> positions, boolean dryRun);

  /** Per-group settings: {@code retryPolicy} (overrides the topics'), {@code deadLetterTopic} (a name pattern). */
  Future<Void> configureGroup(String group, GroupConfig config);

  Future<List<GroupDescription>> listGroups();

  /**
   * The names of the topics a group reads: its members', those it works on here, and those it has stored state in
   * (positions, parked records, dead letters); empty for a group nothing is known of. What access checks of a group's
   * routes are made against.
   */
  Future<List<String>> groupTopics(String group);

  Future<GroupDescription> describeGroup(String group);

  /**
   * Deletes a group: its committed offsets, parked records, dead-letter origins and config (its dead-letter topics
   * stay: they are topics). A group that has members fails GROUP_NOT_EMPTY unless {@code force}, which first removes
   * them: their leases end without an attempt counted, and their next call answers UNKNOWN_MEMBER. A member that joins
   * afterwards starts a new group, from its {@code startFrom}. Fails NOT_FOUND for a group nothing is known of.
   */
  Future<Void> deleteGroup(String group, boolean force);

  /** The group's dead letters of a topic, oldest first. */
  Future<List<DeadLetter>> deadLetters(String group, String topic, int limit);

  /**
   * Deletes dead letters of a group: those of the topic's {@code partition} (null: every partition) at
   * {@code offsets} (null: all of them; offsets need a partition). They are no longer listed nor redriven, and their
   * records stay done for the group; the dead-letter records themselves stay in the dead-letter topic's log until its
   * retention removes them. Answers how many were deleted (dead letters that are not there count nothing).
   */
  Future<Integer> deleteDeadLetters(String group, String topic, Integer partition, List<Long> offsets);

  /**
   * Sends dead letters back, to this group only ({@code toGroup}) or to the original topic for every group: those of
   * the topic's {@code partition} (null: every partition) at {@code offsets} (null: all of them). Answers how many
   * went; a redrive to the group is answered once its records and the removal of their dead letters are saved together.
   */
  Future<Integer> redrive(String group, String topic, boolean toGroup, Integer partition, List<Long> offsets);

  /**
   * Before a graceful stop in a cluster: hands everything this node leads and owns to the other nodes (DESIGN.md
   * section 6: each group drains its deliveries in flight for up to {@code drainMs} and passes its member sessions on).
   * Completes once it is handed over; at once on a single node or a node alone in its view.
   */
  Future<Void> leaveCluster();

  /** Stops the group timers. */
  void close();
}
