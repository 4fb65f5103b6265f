package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.RetryPolicy;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.broker.TopicNames;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.GroupLease;
import io.vertx.core.eventbus.MessageConsumer;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
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
 * One consumer group on this node: its coordinator (members, generations, assignment) and the delivery state
 * machines of every partition of its topics, all on one Vert.x context, so a fetch across partitions and the
 * coordinator's decisions need no locks and no messages between threads. Groups are spread over the event loops.
 */
final class GroupRuntime implements PartitionDelivery.Host, DeadLetterAdmin.Group {

  private static final Logger LOG = LoggerFactory.getLogger(GroupRuntime.class);

  private static final class Member {
    final String id;
    final List<String> topics;
    final long sessionTimeoutMs;
    final long leaseMs;
    /** How often a record it held may go back for free when it leaves (a link's disconnect); MAX_VALUE: always. */
    final int maxFreeReleases;
    long lastSeen;
    int rotation;

    Member(String id, List<String> topics, long sessionTimeoutMs, long leaseMs, int maxFreeReleases, long now) {
      this.id = id;
      this.topics = topics;
      this.sessionTimeoutMs = sessionTimeoutMs;
      this.leaseMs = leaseMs;
      this.maxFreeReleases = maxFreeReleases;
      this.lastSeen = now;
    }
  }

  final String name;
  private final DeliveryEngine engine;
  private final ContextInternal context;
  private final int groupHash;
  private GroupMode mode;
  private int generation;
  private final Map<String, Member> members = new LinkedHashMap<>();
  private final Map<String, TopicMetadata> topics = new TreeMap<>();
  private final Map<TopicPartition, PartitionDelivery> partitions = new LinkedHashMap<>();
  private final LongPolls<Member> polls;
  private final DeadLetterAdmin deadLetterAdmin;
  /** Topic id → this group's meters on it (by id: a topic deleted and created again gets new meters). */
  private final Map<UUID, GroupMeters> meters = new HashMap<>();
  /** Null until loaded. */
  private GroupConfig config;
  /** The names of the topics this group has state of in storage, read once (later state comes through memory). */
  private List<String> storedTopics;
  /** Set when this group is being deleted (or lost its lease); completes once it is no longer the engine's. */
  private Future<Void> deletion;
  /** This node's lease on the group, taken at its first call; its epoch fences every write of the group's state. */
  private GroupLease lease;
  private Future<Void> leasing;

  GroupRuntime(String name, DeliveryEngine engine, ContextInternal context) {
    this.name = name;
    this.engine = engine;
    this.context = context;
    this.groupHash = DeliveryToken.groupHash(name);
    this.polls = new LongPolls<>(engine.vertx(), context, this::collect);
    this.deadLetterAdmin = new DeadLetterAdmin(this, engine);
  }

  /** Runs {@code action} on this group's context; the future completes on the caller's. */
  <T> Future<T> call(Supplier<Future<T>> action) {
    ContextInternal caller = ContextInternal.current();
    Promise<T> promise = caller != null ? caller.promise() : Promise.promise();
    // emit, not execute: the action runs with the group's context as the current one (even inline, from another
    // context or none on this thread), so every future it starts completes back here, never on a writer's thread.
    context.emit(v -> {
      try {
        action.get().onComplete(promise);
      } catch (RuntimeException e) {
        promise.fail(e);
      }
    });
    return promise.future();
  }

  /**
   * Runs {@code action} on this group's context, on the group as it is then: once this group has been deleted, on
   * the group of that name that replaced it (a call that comes during the deletion waits for its end).
   */
  <T> Future<T> callLive(Function<GroupRuntime, Future<T>> action) {
    return call(() -> deletion != null ? deletion.transform(v -> engine.group(name).callLive(action))
        : owned().compose(v -> deletion != null ? engine.group(name).callLive(action) : action.apply(this)));
  }

  /**
   * Holds the group's lease: takes it at the first call (failing UNAVAILABLE while another node owns the group). A
   * lease found lost stops this runtime ({@link #lose}): the call goes to a new one, which takes the lease again and
   * loads the group's state from storage.
   */
  private Future<Void> owned() {
    if (lease != null && lease.isCurrent()) {
      return Future.succeededFuture();
    }
    if (lease != null) {
      lose();
      return Future.succeededFuture();
    }
    if (leasing == null) {
      Promise<Void> taken = context.promise();
      leasing = taken.future();
      engine.store().groupState().acquireGroup(name).onComplete(ar -> context.emit(v -> {
        leasing = null;
        if (ar.succeeded()) {
          lease = ar.result();
          taken.complete();
        } else {
          taken.fail(ar.cause());
        }
      }));
    }
    return leasing;
  }

  /**
   * The lease ran out unrenewed or was taken: stop handing out and accepting outcomes at once. Members are removed
   * (their long polls fail UNKNOWN_MEMBER, they join again), the state machines stop, and the engine forgets this
   * runtime; what was saved under the lease is what the next owner loads.
   */
  private void lose() {
    LOG.warn("group {} lost its lease ({}): its members must join again", name, lease);
    deletion = Future.succeededFuture();
    stopServing();
    engine.forget(this);
  }

  /** Members removed (their long polls fail UNKNOWN_MEMBER), state machines closed: it serves nothing more. */
  private void stopServing() {
    List<Member> removed = new ArrayList<>(members.values());
    members.clear();
    for (Member m : removed) {
      polls.remove(m).forEach(p -> p.tryFail(unknownMember(m.id)));
    }
    for (PartitionDelivery pd : partitions.values()) {
      pd.close();
    }
  }

  /** False when a lease is held no longer: the caller must hand out nothing. */
  private boolean stillOwned() {
    if (lease != null && !lease.isCurrent() && deletion == null) {
      lose();
    }
    return deletion == null;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long groupEpoch() {
    return lease == null ? -1 : lease.epoch();
  }

  // ---- membership ------------------------------------------------------------------------------------------------

  Future<Membership> join(JoinRequest request) {
    if (request.topics().isEmpty()) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "a member must name at least one topic"));
    }
    GroupMode asked = request.mode() != null ? request.mode()
        : mode != null && !members.isEmpty() ? mode : GroupMode.SHARED;
    if (mode != null && !members.isEmpty() && mode != asked) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "group " + name + " is "
          + mode.name().toLowerCase() + "; a member cannot join it as " + asked.name().toLowerCase()));
    }
    return loadConfig().compose(v -> {
      List<Future<TopicMetadata>> lookups = new ArrayList<>();
      for (String topic : request.topics()) {
        lookups.add(engine.broker().topicMetadata(topic));
      }
      return Future.all(lookups);
    }).compose(all -> {
      List<Future<Void>> loads = new ArrayList<>();
      for (int i = 0; i < request.topics().size(); i++) {
        TopicMetadata topic = engine.broker().latest(all.resultAt(i));
        checkDeadLetterName(topic);
        // The group's dead-letter topic exists from its first join, so it can be read and consumed before a dead letter.
        loads.add(engine.broker().deadLetterLeader(deadLetterTopicName(topic), topic, 0).mapEmpty());
        topics.put(topic.name(), topic);
        for (int p = 0; p < topic.partitions(); p++) {
          loads.add(delivery(topic, p).load(request.startAtLatest()));
        }
      }
      return Future.all(loads);
    }).map(v -> {
      mode = asked;
      JoinRequest.LinkBound link = request.linkBound();
      Member member = new Member(engine.memberId(), request.topics().stream().distinct().toList(),
          request.sessionTimeoutMs(), link != null ? request.leaseMs() : Math.min(request.leaseMs(), JoinRequest.MAX_LEASE_MS),
          link != null ? link.maxFreeReleases() : Integer.MAX_VALUE, now());
      members.put(member.id, member);
      rebalance();
      return membership(member);
    });
  }

  private PartitionDelivery delivery(TopicMetadata topic, int partition) {
    return partitions.computeIfAbsent(new TopicPartition(topic.id(), partition), k -> new PartitionDelivery(name,
        topic, partition, engine.broker().leader(topic, partition), engine.store().groupState(), this,
        policyFor(topic), meters.computeIfAbsent(topic.id(), id -> engine.newMeters(name, topic.name()))));
  }

  private RetryPolicy policyFor(TopicMetadata topic) {
    RetryPolicy topicPolicy = RetryPolicy.fromJson(topic.config().retryPolicy(), RetryPolicy.DEFAULT);
    return ownConfig().retryPolicyOver(topicPolicy);
  }

  /** The group's own config; none before it is loaded. */
  private GroupConfig ownConfig() {
    return config == null ? GroupConfig.NONE : config;
  }

  @Override
  public String deadLetterTopicName(TopicMetadata topic) {
    return ownConfig().deadLetterTopicName(topic.config().deadLetterTopic(), topic.name(), name);
  }

  private void checkDeadLetterName(TopicMetadata topic) {
    String dlq = deadLetterTopicName(topic);
    if (!TopicNames.isValid(dlq)) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "the dead-letter topic name '" + dlq + "' of group "
          + name + " on topic " + topic.name() + " is not a valid topic name; configure deadLetterTopic");
    }
  }

  @Override
  public Future<Void> loadConfig() {
    if (config != null) {
      return Future.succeededFuture();
    }
    return engine.store().groupState().groupConfig(name).map(c -> {
      config = GroupConfig.fromJson(c);
      return null;
    });
  }

  Future<Void> configure(GroupConfig newConfig) {
    return engine.store().groupState().saveGroupConfig(name, groupEpoch(), newConfig.toJson()).map(v -> {
      config = newConfig;
      for (PartitionDelivery pd : partitions.values()) {
        pd.policy(policyFor(pd.topic));
      }
      return null;
    });
  }

  private Membership membership(Member member) {
    return new Membership(member.id, generation, assignmentOf(member.id));
  }

  private Map<String, List<Integer>> assignmentOf(String memberId) {
    Map<String, List<Integer>> assignment = new TreeMap<>();
    if (mode != GroupMode.PARTITIONED) {
      return assignment;
    }
    for (PartitionDelivery pd : partitions.values()) {
      if (memberId.equals(pd.owner)) {
        assignment.computeIfAbsent(pd.topic.name(), t -> new ArrayList<>()).add(pd.partition);
      }
    }
    return assignment;
  }

  Future<Void> leave(String memberId) {
    Member member = members.remove(memberId);
    if (member == null) {
      return Future.failedFuture(unknownMember(memberId));
    }
    for (PartitionDelivery pd : partitions.values()) {
      pd.releaseOnLeave(memberId, member.maxFreeReleases);
    }
    polls.answer(member, List.of());
    rebalance();
    return Future.succeededFuture();
  }

  Future<Void> heartbeat(String memberId) {
    Member member = members.get(memberId);
    if (member == null) {
      return Future.failedFuture(unknownMember(memberId));
    }
    member.lastSeen = now();
    return Future.succeededFuture();
  }

  private BrokerException unknownMember(String memberId) {
    return new BrokerException(BrokerError.UNKNOWN_MEMBER, "member " + memberId + " is not in group " + name
        + " (it left, or its session expired): join again");
  }

  /** A new generation: in partitioned mode each partition goes to one member, round robin over the sorted members. */
  private void rebalance() {
    generation++;
    if (mode != GroupMode.PARTITIONED) {
      return;
    }
    List<PartitionAssignor.Subscription> subscriptions = members.values().stream()
        .map(m -> new PartitionAssignor.Subscription(m.id, m.topics)).toList();
    List<PartitionAssignor.Slot> slots = partitions.values().stream()
        .map(pd -> new PartitionAssignor.Slot(pd.topic.name(), pd.partition)).toList();
    Map<PartitionAssignor.Slot, String> owners = PartitionAssignor.assign(subscriptions, slots);
    for (PartitionDelivery pd : partitions.values()) {
      String owner = owners.get(new PartitionAssignor.Slot(pd.topic.name(), pd.partition));
      if (pd.owner != null && !pd.owner.equals(owner)) {
        // The old owner's leases end with its ownership: its outcomes are now stale (no attempt counted).
        pd.release(pd.owner, false);
      }
      pd.owner = owner;
    }
    deliverable();
  }

  // ---- fetch -----------------------------------------------------------------------------------------------------

  Future<List<Delivery>> fetch(String memberId, int maxRecords, long maxBytes, long maxWaitMs) {
    Member member = members.get(memberId);
    if (member == null) {
      return Future.failedFuture(unknownMember(memberId));
    }
    member.lastSeen = now();
    List<Delivery> deliveries = collect(member, maxRecords, maxBytes);
    if (!deliveries.isEmpty() || maxWaitMs <= 0) {
      return Future.succeededFuture(deliveries);
    }
    return polls.await(member, maxRecords, maxBytes, Math.min(maxWaitMs, engine.options().getMaxFetchWaitMs()));
  }

  /** The member's deliveries still under lease, with their tokens; does not count as the member being seen. */
  Future<List<Delivery>> leased(String memberId) {
    if (!members.containsKey(memberId)) {
      return Future.failedFuture(unknownMember(memberId));
    }
    List<Delivery> out = new ArrayList<>();
    for (PartitionDelivery pd : partitions.values()) {
      out.addAll(pd.leasedTo(memberId));
    }
    return Future.succeededFuture(out);
  }

  /** How many deliveries the member holds under lease; counts as the member being seen (a stream waiting on acks). */
  Future<Integer> inFlight(String memberId) {
    Member member = members.get(memberId);
    if (member == null) {
      return Future.failedFuture(unknownMember(memberId));
    }
    member.lastSeen = now();
    int n = 0;
    for (PartitionDelivery pd : partitions.values()) {
      n += pd.countLeasedTo(memberId);
    }
    return Future.succeededFuture(n);
  }

  private List<Delivery> collect(Member member, int maxRecords, long maxBytes) {
    List<PartitionDelivery> candidates = new ArrayList<>();
    for (PartitionDelivery pd : partitions.values()) {
      if (member.topics.contains(pd.topic.name()) && (mode == GroupMode.SHARED || member.id.equals(pd.owner))) {
        candidates.add(pd);
      }
    }
    List<Delivery> out = new ArrayList<>();
    if (candidates.isEmpty()) {
      return out;
    }
    // Start at a rotating partition so no partition is always served first.
    int start = member.rotation++ % candidates.size();
    long[] bytes = {0};
    for (int i = 0; i < candidates.size() && out.size() < maxRecords && bytes[0] < maxBytes; i++) {
      PartitionDelivery pd = candidates.get((start + i) % candidates.size());
      out.addAll(pd.handOut(member.id, maxRecords - out.size(), maxBytes - bytes[0], member.leaseMs, out.isEmpty(),
          bytes));
    }
    return out;
  }

  /** Wakes the long polls ({@link LongPolls#wake}); they are served only while this node still owns the group. */
  @Override
  public void deliverable() {
    polls.wake(this::stillOwned);
  }

  // ---- outcomes --------------------------------------------------------------------------------------------------

  /** Applies outcomes in order; answers when each took effect (a dead letter stored, for instance). */
  Future<List<OutcomeResult>> settle(Outcomes outcomes) {
    List<Future<OutcomeResult>> results = new ArrayList<>();
    for (String token : outcomes.acks()) {
      results.add(apply(token, (pd, t) -> Future.succeededFuture(pd.ack(t))));
    }
    for (Outcomes.Nack nack : outcomes.nacks()) {
      results.add(apply(nack.token(), (pd, t) -> pd.nack(t, nack.delayMs(), nack.error())));
    }
    for (Outcomes.Reject reject : outcomes.rejects()) {
      results.add(apply(reject.token(), (pd, t) -> pd.reject(t, reject.error())));
    }
    for (Outcomes.Extend extend : outcomes.extensions()) {
      results.add(apply(extend.token(), (pd, t) -> Future.succeededFuture(pd.extend(t, extend.leaseMs()))));
    }
    for (String token : outcomes.releases()) {
      results.add(apply(token, (pd, t) -> Future.succeededFuture(pd.release(t))));
    }
    return Future.all(results).map(all -> all.<OutcomeResult>list());
  }

  private interface Outcome {
    Future<OutcomeResult.Status> apply(PartitionDelivery pd, DeliveryToken token);
  }

  private Future<OutcomeResult> apply(String token, Outcome outcome) {
    DeliveryToken t = DeliveryToken.decode(token, engine.tokenKey());
    if (t == null || t.groupHash() != groupHash) {
      return Future.succeededFuture(new OutcomeResult(token, OutcomeResult.Status.UNKNOWN_TOKEN));
    }
    PartitionDelivery pd = partitions.get(new TopicPartition(t.topicId(), t.partition()));
    if (pd == null) {
      // Ours, but issued before a restart: that lease is gone.
      return Future.succeededFuture(new OutcomeResult(token, OutcomeResult.Status.LEASE_EXPIRED));
    }
    return outcome.apply(pd, t).map(status -> new OutcomeResult(token, status));
  }

  // ---- seek, describe, dead letters ------------------------------------------------------------------------------

  /**
   * Resolves every partition's target first, and moves them all only when every one resolved (and every state machine
   * loaded), so a failure moves none; a dry run changes nothing (no state machine is created for it).
   */
  Future<List<SeekResult>> seek(String topicName, List<SeekPosition> positions, boolean dryRun) {
    return engine.broker().topicMetadata(topicName).compose(topic -> {
      for (SeekPosition pos : positions) {
        if (pos.partition() < 0 || pos.partition() >= topic.partitions()) {
          return Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "partition "
              + pos.partition() + " does not exist; topic " + topicName + " has " + topic.partitions() + " partitions"));
        }
      }
      List<Future<Long>> targets = new ArrayList<>();
      for (SeekPosition pos : positions) {
        targets.add(PartitionDelivery.target(engine.broker().leader(topic, pos.partition()), topic.name(), pos));
      }
      return Future.all(targets).compose(resolved -> dryRun ? wouldMove(topic, positions, resolved.list())
          : move(topic, positions, resolved.list()));
    });
  }

  private Future<List<SeekResult>> wouldMove(TopicMetadata topic, List<SeekPosition> positions, List<Long> targets) {
    List<Future<Long>> current = new ArrayList<>();
    for (SeekPosition pos : positions) {
      PartitionDelivery pd = partitions.get(new TopicPartition(topic.id(), pos.partition()));
      current.add(pd != null && pd.isLoaded() ? Future.succeededFuture(pd.committed())
          : engine.store().groupState().load(name, topic.id(), pos.partition())
              .map(state -> state.committedOffset() >= 0 ? state.committedOffset() : null));
    }
    return Future.all(current).map(all -> {
      List<SeekResult> results = new ArrayList<>();
      for (int i = 0; i < positions.size(); i++) {
        results.add(new SeekResult(positions.get(i).partition(), all.resultAt(i), targets.get(i)));
      }
      return results;
    });
  }

  private Future<List<SeekResult>> move(TopicMetadata looked, List<SeekPosition> positions, List<Long> targets) {
    TopicMetadata topic = engine.broker().latest(looked);
    topics.put(topic.name(), topic);
    List<PartitionDelivery> pds = new ArrayList<>();
    List<Future<Void>> loads = new ArrayList<>();
    for (SeekPosition pos : positions) {
      PartitionDelivery pd = delivery(topic, pos.partition());
      pds.add(pd);
      loads.add(loadConfig().compose(v -> pd.load(false)));
    }
    return Future.all(loads).map(v -> {
      List<SeekResult> results = new ArrayList<>();
      for (int i = 0; i < pds.size(); i++) {
        PartitionDelivery pd = pds.get(i);
        long before = pd.committed();
        pd.moveTo(targets.get(i));
        results.add(new SeekResult(pd.partition, before, targets.get(i)));
      }
      return results;
    });
  }

  /** The topics this group reads here (members' and restored ones), sorted. */
  List<String> topicNames() {
    return List.copyOf(topics.keySet());
  }

  /** The topics this group reads here and those it has state of in storage (positions, parked rows, dead letters). */
  Future<List<String>> allTopicNames() {
    Future<List<String>> stored = storedTopics != null ? Future.succeededFuture(storedTopics)
        : engine.store().groupState().topicsOfGroup(name).compose(ids -> engine.broker().topicNames(ids))
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

  /**
   * The topic's config changed or it grew: its state machines use the new config (the retry policy, the dead-letter
   * topic), and a new partition gets a state machine that reads it from its start (DESIGN.md section 2: what is
   * produced there after the growth is never skipped), assigned by a rebalance in partitioned mode.
   */
  Future<Void> topicChanged(TopicMetadata topic) {
    TopicMetadata known = topics.get(topic.name());
    if (known == null || !known.id().equals(topic.id()) || deletion != null) {
      return Future.succeededFuture();
    }
    topics.put(topic.name(), topic);
    for (PartitionDelivery pd : partitions.values()) {
      if (pd.topic.id().equals(topic.id())) {
        pd.topic(topic);
        pd.policy(policyFor(topic));
      }
    }
    if (topic.partitions() <= known.partitions()) {
      return Future.succeededFuture();
    }
    List<Future<Void>> loads = new ArrayList<>();
    for (int p = known.partitions(); p < topic.partitions(); p++) {
      PartitionDelivery pd = delivery(topic, p);
      loads.add(loadConfig().compose(v -> pd.load(false)));
    }
    rebalance();
    return Future.all(loads).mapEmpty();
  }

  Future<GroupDescription> describe() {
    List<Future<GroupDescription.PartitionLag>> lags = new ArrayList<>();
    for (PartitionDelivery pd : partitions.values()) {
      lags.add(pd.lag());
    }
    return Future.all(lags).map(all -> {
      List<GroupDescription.Member> list = new ArrayList<>();
      for (Member m : members.values()) {
        list.add(new GroupDescription.Member(m.id, m.topics, assignmentOf(m.id)));
      }
      return new GroupDescription(name, mode == null ? GroupMode.PARTITIONED : mode, generation, list, all.list());
    });
  }

  /** Loads the state machines of these topics (a group restored from Postgres, to be described). */
  Future<Void> attach(List<TopicMetadata> list) {
    return loadConfig().compose(v -> {
      List<Future<Void>> loads = new ArrayList<>();
      for (TopicMetadata stored : list) {
        TopicMetadata topic = engine.broker().latest(stored);
        topics.put(topic.name(), topic);
        for (int p = 0; p < topic.partitions(); p++) {
          loads.add(delivery(topic, p).load(false));
        }
      }
      return Future.all(loads).mapEmpty();
    });
  }

  /** Dead-letters parked records whose segment retention is about to drop. */
  Future<Void> expireParked(TopicMetadata topic, int partition, List<Long> offsets) {
    // Retention listed the parked rows before asking: if this group has no state machine there, check they are still
    // stored (the group may have been deleted since), rather than creating one that would save a fresh position.
    Future<Boolean> stored = partitions.containsKey(new TopicPartition(topic.id(), partition))
        ? Future.succeededFuture(true)
        : engine.store().groupState().load(name, topic.id(), partition).map(state -> !state.parked().isEmpty());
    return stored.compose(parked -> !parked ? Future.<Void>succeededFuture() : loadConfig().compose(v -> {
      TopicMetadata latest = engine.broker().latest(topic);
      topics.put(latest.name(), latest);
      PartitionDelivery pd = delivery(latest, partition);
      return pd.load(false).compose(x -> pd.expire(offsets));
    }));
  }

  int memberCount() {
    return members.size();
  }

  GroupMode mode() {
    return mode;
  }

  Future<List<DeadLetter>> deadLetters(String topicName, int limit) {
    return deadLetterAdmin.list(topicName, limit);
  }

  Future<Integer> redrive(String topicName, boolean toGroup, Integer partition, List<Long> offsets) {
    return deadLetterAdmin.redrive(topicName, toGroup, partition, offsets);
  }

  Future<Integer> deleteDeadLetters(String topicName, Integer partition, List<Long> offsets) {
    return deadLetterAdmin.delete(topicName, partition, offsets);
  }

  /** The state machines take dead-lettered records back (a redrive to the group; {@link DeadLetterAdmin}). */
  @Override
  public Future<Integer> redriveToGroup(TopicMetadata topic, List<DeadLetterOrigin> origins) {
    Map<Integer, List<DeadLetterOrigin>> byPartition = new TreeMap<>();
    origins.forEach(o -> byPartition.computeIfAbsent(o.partition(), p -> new ArrayList<>()).add(o));
    topics.put(topic.name(), topic);
    List<Future<Integer>> all = new ArrayList<>();
    byPartition.forEach((p, list) -> {
      PartitionDelivery pd = delivery(topic, p);
      all.add(pd.load(false).compose(v -> pd.redrive(list)));
    });
    return Future.all(all).map(cf -> cf.<Integer>list().stream().mapToInt(Integer::intValue).sum());
  }

  // ---- deletion --------------------------------------------------------------------------------------------------

  private static final long DELETE_DRAIN_MS = 30_000;

  /**
   * Deletes this group: refused while it has members unless forced (they are removed: leases end without an attempt,
   * long polls fail UNKNOWN_MEMBER). Its state machines stop, the storage work they have in flight finishes (so no
   * save or dead letter lands after), then every stored row of the group goes in one statement. Whatever the
   * outcome, this runtime then leaves the engine: the next call on the group gets a new one, loaded from storage.
   */
  Future<Void> delete(boolean force) {
    if (!members.isEmpty() && !force) {
      return Future.failedFuture(new BrokerException(BrokerError.GROUP_NOT_EMPTY, "group " + name + " has "
          + members.size() + " member(s) " + members.keySet() + ": they must leave first, or delete with force"));
    }
    boolean known = !isEmpty();
    Promise<Void> gone = context.promise();
    deletion = gone.future();
    stopServing();
    return drained(System.nanoTime() + DELETE_DRAIN_MS * 1_000_000)
        .compose(v -> engine.store().groupState().deleteGroup(name, groupEpoch()))
        .transform(ar -> {
          engine.forget(this);
          if (lease != null) {
            lease.release();  // the next runtime of this name takes it again
          }
          gone.complete();
          if (ar.failed()) {
            return Future.failedFuture(ar.cause());
          }
          return ar.result() || known ? Future.<Void>succeededFuture()
              : Future.failedFuture(new BrokerException(BrokerError.NOT_FOUND, "group " + name + " does not exist"));
        });
  }

  /** Completes once no state machine has storage work in flight. */
  private Future<Void> drained(long giveUpAt) {
    if (partitions.values().stream().allMatch(PartitionDelivery::idle)) {
      return Future.succeededFuture();
    }
    if (System.nanoTime() - giveUpAt > 0) {
      return Future.failedFuture(new BrokerException(BrokerError.UNAVAILABLE, "group " + name + " still had storage"
          + " work in flight after " + DELETE_DRAIN_MS + " ms; nothing was deleted: try again"));
    }
    Promise<Void> later = context.promise();
    context.setTimer(2, id -> drained(giveUpAt).onComplete(later));
    return later.future();
  }

  // ---- time ------------------------------------------------------------------------------------------------------

  Future<Void> tick() {
    if (!stillOwned()) {
      return Future.succeededFuture();
    }
    long now = now();
    List<Future<Boolean>> ticks = new ArrayList<>();
    for (PartitionDelivery pd : partitions.values()) {
      ticks.add(pd.tick(now));
    }
    List<Member> expired = new ArrayList<>();
    for (Member m : members.values()) {
      // A member waiting in a long poll is alive.
      if (polls.isWaiting(m)) {
        m.lastSeen = now;
      } else if (now - m.lastSeen > m.sessionTimeoutMs) {
        expired.add(m);
      }
    }
    for (Member m : expired) {
      members.remove(m.id);
      for (PartitionDelivery pd : partitions.values()) {
        pd.release(m.id, true);
      }
      polls.remove(m).forEach(p -> p.tryFail(unknownMember(m.id)));
    }
    if (!expired.isEmpty()) {
      rebalance();
    }
    sampleLag();
    return Future.join(ticks).map(all -> {
      if (all.<Boolean>list().stream().anyMatch(Boolean.TRUE::equals)) {
        deliverable();
      }
      return null;
    });
  }

  /** Publishes the lag of each topic to its gauges: a sum over partitions, O(1) each, on this group's context. */
  private void sampleLag() {
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

  // ---- Host ------------------------------------------------------------------------------------------------------

  @Override
  public long now() {
    return engine.options().getClock().millis();
  }

  @Override
  public double random() {
    return engine.random();
  }

  @Override
  public int windowRecords() {
    return engine.options().getWindowRecords();
  }

  @Override
  public int maxParked() {
    return engine.options().getWindowRecords() * engine.options().getMaxParkedFactor();
  }

  @Override
  public byte[] tokenKey() {
    return engine.tokenKey();
  }

  @Override
  public int groupHash() {
    return groupHash;
  }

  @Override
  public Future<PartitionLeader> deadLetterLeader(TopicMetadata topic, int partition) {
    return engine.broker().deadLetterLeader(deadLetterTopicName(topic), topic, partition);
  }

  @Override
  public MessageConsumer<Long> commitNotices(TopicPartition partition, java.util.function.LongConsumer onHighWatermark) {
    // Callers run on the group's thread but may be inside another context's callback there (a future of another
    // context on the same event loop completes inline): bind the subscription to the group's own context, so its
    // notices run there and nothing else's life (a verticle's undeployment) ends it.
    if (!context.inThread()) {
      throw new IllegalStateException("commit notices of " + partition + " subscribed off group " + name + "'s thread");
    }
    List<MessageConsumer<Long>> subscribed = new ArrayList<>(1);
    context.dispatch(() -> subscribed.add(engine.commitNotices().subscribe(partition, onHighWatermark)));
    return subscribed.get(0);
  }


  @Override
  public long leaseMs(String member) {
    Member m = member == null ? null : members.get(member);
    return m != null ? m.leaseMs : JoinRequest.DEFAULT_LEASE_MS;
  }

  /**
   * Whether no state machine of this group has storage work in flight and no wake-up pass is pending; with
   * {@code save}, whether everything is saved too (starting the saves the pacing held back).
   */
  boolean idle(boolean save) {
    boolean idle = polls.idle();
    for (PartitionDelivery pd : partitions.values()) {
      if (save && pd.idle() && pd.unsaved()) {
        pd.saveNow();
      }
      idle &= pd.idle() && !(save && pd.unsaved());
    }
    return idle;
  }

  /** Whether anything of this group exists on this node: members, or partitions it has worked on. */
  boolean isEmpty() {
    return members.isEmpty() && partitions.isEmpty();
  }
}
