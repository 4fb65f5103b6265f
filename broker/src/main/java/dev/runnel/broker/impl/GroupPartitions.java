package dev.runnel.broker.impl;

import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.RetryPolicy;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;
import io.vertx.core.Future;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A group's delivery state machines on this node, one per partition of the topics it works on, each made at first use
 * with its topic's metadata, the group's meters on the topic and the group's retry policy for it; and the topics they
 * run on (their latest metadata, and the topics the group has state of in storage). What concerns several state
 * machines goes to each from here: a hand-out across partitions, a member's leases (listed, released, revoked), an
 * assignment, a new config or topic metadata, a lag sample, a retention expiry, a redrive to the group, whether
 * storage work is in flight. Confined to the group's context.
 */
final class GroupPartitions {

  private final String group;
  private final DeliveryEngine engine;
  private final PartitionDelivery.Host host;
  /** The group's retry policy on a topic (its own config over the topic's). */
  private final Function<TopicMetadata, RetryPolicy> policies;
  /** By name: the latest metadata this group knows. */
  private final Map<String, TopicMetadata> topics = new TreeMap<>();
  private final Map<TopicPartition, PartitionDelivery> partitions = new LinkedHashMap<>();
  /** Topic id → this group's meters on it (by id: a topic deleted and created again gets new meters). */
  private final Map<UUID, GroupMeters> meters = new HashMap<>();
  /** The names of the topics this group has state of in storage, read once (later state comes through memory). */
  private List<String> storedTopics;

  GroupPartitions(String group, DeliveryEngine engine, PartitionDelivery.Host host,
                  Function<TopicMetadata, RetryPolicy> policies) {
    this.group = group;
    this.engine = engine;
    this.host = host;
    this.policies = policies;
  }

  /** The state machine of the topic's partition, made (not loaded) if there is none. */
  PartitionDelivery delivery(TopicMetadata topic, int partition) {
    return partitions.computeIfAbsent(new TopicPartition(topic.id(), partition), k -> new PartitionDelivery(group,
        topic, partition, engine.broker().leader(topic, partition), engine.store().groupState(), host,
        policies.apply(topic), meters.computeIfAbsent(topic.id(), id -> engine.newMeters(group, topic.name()))));
  }

  /** The state machine of the partition; null when there is none. */
  PartitionDelivery get(UUID topicId, int partition) {
    return partitions.get(new TopicPartition(topicId, partition));
  }

  /** Every state machine, in the order they were made (a live view: the caller does not make any meanwhile). */
  Collection<PartitionDelivery> all() {
    return partitions.values();
  }

  boolean isEmpty() {
    return partitions.isEmpty();
  }

  /** This group works on the topic: its latest metadata, as the caller has it. */
  void uses(TopicMetadata topic) {
    topics.put(topic.name(), topic);
  }

  /** Uses the topic and starts loading a state machine for each of its partitions; adds the loads to {@code loads}. */
  void loadEvery(TopicMetadata topic, boolean startAtLatest, List<Future<Void>> loads) {
    uses(topic);
    for (int p = 0; p < topic.partitions(); p++) {
      loads.add(delivery(topic, p).load(startAtLatest));
    }
  }

  /**
   * The topic's config changed or it grew: its state machines take the new metadata and policy, and each new
   * partition gets one, loaded from its start once {@code config} is (its loads are answered; empty when it did not
   * grow). Null when this group does not use that topic.
   */
  List<Future<Void>> changed(TopicMetadata topic, Supplier<Future<Void>> config) {
    TopicMetadata known = topics.get(topic.name());
    if (known == null || !known.id().equals(topic.id())) {
      return null;
    }
    uses(topic);
    for (PartitionDelivery pd : partitions.values()) {
      if (pd.topic.id().equals(topic.id())) {
        pd.topic(topic);
        pd.policy(policies.apply(topic));
      }
    }
    List<Future<Void>> loads = new ArrayList<>();
    for (int p = known.partitions(); p < topic.partitions(); p++) {
      PartitionDelivery pd = delivery(topic, p);
      loads.add(config.get().compose(v -> pd.load(false)));
    }
    return loads;
  }

  /**
   * Dead-letters parked records whose segment retention is about to drop, through their state machine (loaded once
   * {@code config} is). Retention listed the parked rows before asking: with no state machine there, this checks they
   * are still stored (the group may have been deleted since), rather than make one that would save a fresh position.
   */
  Future<Void> expire(TopicMetadata topic, int partition, List<Long> offsets, Supplier<Future<Void>> config) {
    Future<Boolean> stored = partitions.containsKey(new TopicPartition(topic.id(), partition))
        ? Future.succeededFuture(true)
        : engine.store().groupState().load(group, topic.id(), partition).map(state -> !state.parked().isEmpty());
    return stored.compose(parked -> !parked ? Future.<Void>succeededFuture() : config.get().compose(v -> {
      TopicMetadata latest = engine.broker().latest(topic);
      uses(latest);
      PartitionDelivery pd = delivery(latest, partition);
      return pd.load(false).compose(x -> pd.expire(offsets));
    }));
  }

  /** The state machines of the topic take dead-lettered records back (a redrive to the group); answers how many. */
  Future<Integer> redrive(TopicMetadata topic, List<DeadLetterOrigin> origins) {
    Map<Integer, List<DeadLetterOrigin>> byPartition = new TreeMap<>();
    origins.forEach(o -> byPartition.computeIfAbsent(o.partition(), p -> new ArrayList<>()).add(o));
    uses(topic);
    List<Future<Integer>> all = new ArrayList<>();
    byPartition.forEach((p, list) -> {
      PartitionDelivery pd = delivery(topic, p);
      all.add(pd.load(false).compose(v -> pd.redrive(list)));
    });
    return Future.all(all).map(cf -> cf.<Integer>list().stream().mapToInt(Integer::intValue).sum());
  }

  /** The group's config changed: every state machine takes its new retry policy. */
  void policiesChanged() {
    for (PartitionDelivery pd : partitions.values()) {
      pd.policy(policies.apply(pd.topic));
    }
  }

  /** The topics this group reads here (members' and restored ones), sorted. */
  List<String> topicNames() {
    return List.copyOf(topics.keySet());
  }

  /** The topics this group reads here and those it has state of in storage (positions, parked rows, dead letters). */
  Future<List<String>> allTopicNames() {
    Future<List<String>> stored = storedTopics != null ? Future.succeededFuture(storedTopics)
        : engine.store().groupState().topicsOfGroup(group).compose(ids -> engine.broker().topicNames(ids))
            .map(names -> {
              storedTopics = List.copyOf(names.values());
              return storedTopics;
            });
    return stored.map(names -> {
      TreeSet<String> all = new TreeSet<>(names);
      all.addAll(topics.keySet());
      return List.copyOf(all);
    });
  }

  /** Every state machine's partition, to be assigned. */
  List<PartitionAssignor.Slot> slots() {
    return partitions.values().stream().map(pd -> new PartitionAssignor.Slot(pd.topic.name(), pd.partition)).toList();
  }

  /**
   * Tells each state machine its partition's owner (none when absent); an old owner's leases end with its ownership,
   * so its outcomes are stale from now (no attempt counted).
   */
  void assign(Map<PartitionAssignor.Slot, String> owners) {
    for (PartitionDelivery pd : partitions.values()) {
      String owner = owners.get(new PartitionAssignor.Slot(pd.topic.name(), pd.partition));
      if (pd.owner != null && !pd.owner.equals(owner)) {
        pd.release(pd.owner, false);
      }
      pd.owner = owner;
    }
  }

  /** The partitions the member owns, by topic name, as the state machines were last told. */
  Map<String, List<Integer>> ownedBy(String memberId) {
    Map<String, List<Integer>> assignment = new TreeMap<>();
    for (PartitionDelivery pd : partitions.values()) {
      if (memberId.equals(pd.owner)) {
        assignment.computeIfAbsent(pd.topic.name(), t -> new ArrayList<>()).add(pd.partition);
      }
    }
    return assignment;
  }

  /**
   * Hands out to the member what it may take now, at most {@code maxRecords} and about {@code maxBytes}: from the
   * partitions of its topics (in partitioned mode only those it owns), starting at a rotating one so that no partition
   * is always served first.
   */
  List<Delivery> handOut(GroupMembership.Member member, boolean shared, int maxRecords, long maxBytes) {
    List<PartitionDelivery> candidates = new ArrayList<>();
    for (PartitionDelivery pd : partitions.values()) {
      if (member.topics.contains(pd.topic.name()) && (shared || member.id.equals(pd.owner))) {
        candidates.add(pd);
      }
    }
    List<Delivery> out = new ArrayList<>();
    if (candidates.isEmpty()) {
      return out;
    }
    int start = member.rotate() % candidates.size();
    long[] bytes = {0};
    for (int i = 0; i < candidates.size() && out.size() < maxRecords && bytes[0] < maxBytes; i++) {
      PartitionDelivery pd = candidates.get((start + i) % candidates.size());
      out.addAll(pd.handOut(member.id, maxRecords - out.size(), maxBytes - bytes[0], member.leaseMs, out.isEmpty(),
          bytes));
    }
    return out;
  }

  /** The member's deliveries still under lease, with their tokens. */
  List<Delivery> leasedTo(String memberId) {
    List<Delivery> out = new ArrayList<>();
    for (PartitionDelivery pd : partitions.values()) {
      out.addAll(pd.leasedTo(memberId));
    }
    return out;
  }

  /** How many deliveries the member holds under lease. */
  int countLeasedTo(String memberId) {
    int n = 0;
    for (PartitionDelivery pd : partitions.values()) {
      n += pd.countLeasedTo(memberId);
    }
    return n;
  }

  /** The member left: its leases end, a record going back for free at most {@code maxFreeReleases} times. */
  void releaseOnLeave(String memberId, int maxFreeReleases) {
    for (PartitionDelivery pd : partitions.values()) {
      pd.releaseOnLeave(memberId, maxFreeReleases);
    }
  }

  /** The member's session expired: its leases are revoked, each counting an attempt. */
  void revoke(String memberId) {
    for (PartitionDelivery pd : partitions.values()) {
      pd.release(memberId, true);
    }
  }

  /** Each state machine's lag, in the order they were made. */
  Future<List<GroupDescription.PartitionLag>> lags() {
    List<Future<GroupDescription.PartitionLag>> lags = new ArrayList<>();
    for (PartitionDelivery pd : partitions.values()) {
      lags.add(pd.lag());
    }
    return Future.all(lags).map(all -> all.<GroupDescription.PartitionLag>list());
  }

  /** Publishes the lag of each topic to its gauges: a sum over partitions, O(1) each. */
  void sampleLag() {
    for (GroupMeters m : meters.values()) {
      m.startLag();
    }
    for (PartitionDelivery pd : partitions.values()) {
      pd.sampleLag();
    }
    for (GroupMeters m : meters.values()) {
      m.publishLag();
    }
  }

  /**
   * Whether no state machine has storage work in flight; with {@code save}, whether everything is saved too (starting
   * the saves the pacing held back).
   */
  boolean idle(boolean save) {
    boolean idle = true;
    for (PartitionDelivery pd : partitions.values()) {
      if (save && pd.idle() && pd.unsaved()) {
        pd.saveNow();
      }
      idle &= pd.idle() && !(save && pd.unsaved());
    }
    return idle;
  }

  /** Deliveries handed out and not settled, over every partition. */
  int inFlight() {
    int n = 0;
    for (PartitionDelivery pd : partitions.values()) {
      n += pd.inFlight();
    }
    return n;
  }

  /** Every state machine stops reading records (a hand-over: the saves then catch up while records keep arriving). */
  void stopReading() {
    for (PartitionDelivery pd : partitions.values()) {
      pd.stopReading();
    }
  }

  /** Every state machine stops: no hand-out, outcome, read, save or dead letter more. */
  void close() {
    for (PartitionDelivery pd : partitions.values()) {
      pd.close();
    }
  }
}
