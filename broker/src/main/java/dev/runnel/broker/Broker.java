package dev.runnel.broker;

import dev.runnel.broker.impl.LocalBroker;
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
    return new LocalBroker(vertx, store, options);
  }

  /** Creates a topic; an identical existing topic answers {@code created == false}, a different one TOPIC_EXISTS. */
  Future<TopicCreated> createTopic(String name, int partitions, TopicConfig config);

  Future<List<TopicDescription>> listTopics();

  Future<TopicDescription> describeTopic(String name);

  Future<Void> deleteTopic(String name);

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
  Future<Void> seek(String group, String topic, List<SeekPosition> positions);

  /** Per-group settings: {@code retryPolicy} (overrides the topics'), {@code deadLetterTopic} (a name pattern). */
  Future<Void> configureGroup(String group, JsonObject config);

  Future<List<GroupDescription>> listGroups();

  /**
   * The names of the topics a group reads: its members' and those it keeps state for on this node; empty for a group
   * nobody has joined here. What access checks of a group's routes are made against.
   */
  Future<List<String>> groupTopics(String group);

  Future<GroupDescription> describeGroup(String group);

  /** The group's dead letters of a topic, oldest first. */
  Future<List<DeadLetter>> deadLetters(String group, String topic, int limit);

  /**
   * Sends dead letters back, to this group only ({@code toGroup}) or to the original topic for every group;
   * {@code offsets} null means all of the topic's. Answers how many went.
   */
  Future<Integer> redrive(String group, String topic, boolean toGroup, List<Long> offsets);

  /** Stops the group timers. */
  void close();
}
