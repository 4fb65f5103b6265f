package dev.runnel.broker.impl;

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
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.broker.impl.GroupMembership.Member;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.GroupLease;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * One consumer group on this node: it takes the group's calls on the group's Vert.x context and carries each out over
 * its parts, the coordinator ({@link GroupMembership}), the delivery state machines of every partition of its topics
 * ({@link GroupPartitions}, hosted by {@link GroupHost}), its long polls, its lease ({@link GroupOwnership}), its config,
 * outcomes, seek, dead letters and deletion; it applies the coordinator's decisions to the state machines (a member's
 * leases released or revoked, partitions' owners). All on one context, so a fetch across partitions and the
 * coordinator's decisions need no locks and no messages between threads; groups are spread over the event loops.
 * Every method runs on the group's context except {@link #call} and {@link #callLive}, which any thread may call.
 */
final class GroupRuntime implements DeadLetterAdmin.Group {

  private static final Logger LOG = LoggerFactory.getLogger(GroupRuntime.class);

  final String name;
  private final DeliveryEngine engine;
  private final ContextInternal context;
  private final GroupHost host;
  private final GroupMembership membership;
  private final GroupOwnership ownership;
  private final GroupPartitions partitions;
  private final GroupSeek seeks;
  private final LongPolls<Member> polls;
  private final DeadLetterAdmin deadLetterAdmin;
  private final GroupSettings settings;
  private final Settlement settlement;
  private final GroupDeletion deletion;
  private final GroupHandOver handOver;

  GroupRuntime(String name, DeliveryEngine engine, ContextInternal context) {
    this.name = name;
    this.engine = engine;
    this.context = context;
    this.membership = new GroupMembership(name, this::now, engine::memberId);
    this.ownership = new GroupOwnership(name, context, () -> engine.store().groupState().acquireGroup(name),
        this::takeOver, () -> {
          stopServing();
          engine.forget(this);
        });
    this.settings = new GroupSettings(name, engine.store().groupState(), ownership::epoch);
    this.polls = new LongPolls<>(engine.vertx(), context, this::collect);
    this.host = new GroupHost(name, engine, context, settings, membership, ownership, polls);
    this.partitions = new GroupPartitions(name, engine, host, settings::policyFor);
    this.settlement = new Settlement(engine::tokenKey, host.groupHash(), partitions);
    this.seeks = new GroupSeek(name, engine, partitions, this::loadConfig);
    this.deadLetterAdmin = new DeadLetterAdmin(this, engine);
    this.deletion = new GroupDeletion(name, context, engine.store().groupState(), membership, partitions, ownership,
        this::stopServing, () -> engine.forget(this));
    this.handOver = new GroupHandOver(name, context, engine.options().getDrainMs(), membership, partitions, ownership,
        polls, this::stopServing, () -> engine.forget(this));
  }

  /** Runs {@code action} on this group's context; the future completes on the caller's. */
  <T> Future<T> call(Supplier<Future<T>> action) {
    ContextInternal caller = ContextInternal.current();
    Promise<T> promise = caller != null ? caller.promise() : Promise.promise();
    // emit, not execute: the action runs with the group's context as the current one (even inline, from another
    // context or none on this thread), so every future it starts completes back here, never on a writer's thread.
    context.emit(v -> {
      Future<T> result;
      try {
        result = action.get();
      } catch (RuntimeException e) {
        result = Future.failedFuture(e);
      }
      result.onComplete(promise);  // outside the try: a failure to deliver the result is not the action's failure
    });
    return promise.future();
  }

  /**
   * Runs {@code action} on this group's context, on the group as it is then, holding its lease (taken at the first
   * call): once this runtime has ended (the group deleted, or its lease lost), on the runtime of that name that
   * replaced it (a call that comes during a deletion waits for its end).
   */
  <T> Future<T> callLive(Function<GroupRuntime, Future<T>> action) {
    return call(() -> live(action));
  }

  /**
   * As {@link #callLive}, except that while the group drains for a hand-over ({@link GroupHandOver}) it runs on this
   * runtime: outcomes for the deliveries in flight, and heartbeats.
   */
  <T> Future<T> callDraining(Function<GroupRuntime, Future<T>> action) {
    return call(() -> handOver.acceptsOutcomes() ? action.apply(this) : live(action));
  }

  private <T> Future<T> live(Function<GroupRuntime, Future<T>> action) {
    return ownership.ended() ? next(action)
        : ownership.owned().compose(v -> ownership.ended() ? next(action) : action.apply(this));
  }

  /** Once this runtime has ended, the call goes to the next one; a group handed to another node fails NotHere. */
  private <T> Future<T> next(Function<GroupRuntime, Future<T>> action) {
    return ownership.end().transform(ar -> ar.failed() ? Future.failedFuture(ar.cause())
        : engine.group(name).callLive(action));
  }

  /** Whether it drains for a hand-over ({@link GroupHandOver}); any thread. */
  boolean draining() {
    return handOver.draining();
  }

  /** {@link GroupHandOver#handOver}. */
  Future<Void> handOver() {
    return handOver.handOver();
  }

  /**
   * The lease is taken: the member sessions its previous owner passed on are taken over (their topics loaded, a new
   * generation), so those members go on without joining again. When that fails they are dropped: they join again.
   */
  private Future<Void> takeOver(GroupLease lease) {
    JsonObject sessions = lease.sessions();
    if (sessions == null) {
      return Future.succeededFuture();
    }
    List<String> topics = GroupMembership.topicsOf(sessions);
    return loadConfig().compose(v -> Future.all(topics.stream().map(t -> engine.broker().topicMetadata(t)).toList()))
        .compose(all -> {
          List<Future<Void>> loads = new ArrayList<>();
          for (int i = 0; i < topics.size(); i++) {
            partitions.loadEvery(engine.broker().latest(all.resultAt(i)), false, loads);
          }
          return Future.all(loads);
        }).<Void>map(v -> {
          membership.adopt(sessions);
          rebalance();
          LOG.info("group {} took over {} member sessions from its previous owner", name, membership.size());
          return null;
        }).recover(err -> {
          LOG.warn("group {} could not take over the member sessions passed on ({}): its members join again", name,
              err.getMessage());
          return Future.succeededFuture();
        });
  }

  /** Members removed (their long polls fail UNKNOWN_MEMBER), state machines closed: it serves nothing more. */
  private void stopServing() {
    for (Member m : membership.removeAll()) {
      polls.remove(m).forEach(p -> p.tryFail(membership.unknownMember(m.id)));
    }
    partitions.close();
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public long groupEpoch() {
    return ownership.epoch();
  }

  // ---- membership ------------------------------------------------------------------------------------------------

  Future<Membership> join(JoinRequest request) {
    GroupMode asked;
    try {
      asked = membership.modeOf(request);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
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
        settings.checkDeadLetterName(topic);
        // The group's dead-letter topic exists from its first join, so it can be read and consumed before a dead letter.
        loads.add(engine.broker().deadLetterLeader(deadLetterTopicName(topic), topic, 0).mapEmpty());
        partitions.loadEvery(topic, request.startAtLatest(), loads);
      }
      return Future.all(loads);
    }).map(v -> {
      Member member = membership.join(request, asked);
      rebalance();
      return new Membership(member.id, membership.generation(), assignmentOf(member.id));
    });
  }

  Future<Void> leave(String memberId) {
    Member member = membership.leave(memberId);
    if (member == null) {
      return Future.failedFuture(membership.unknownMember(memberId));
    }
    partitions.releaseOnLeave(memberId, member.maxFreeReleases);
    polls.answer(member, List.of());
    rebalance();
    return Future.succeededFuture();
  }

  Future<Void> heartbeat(String memberId) {
    return membership.seen(memberId) == null ? Future.failedFuture(membership.unknownMember(memberId))
        : Future.succeededFuture();
  }

  /** A new generation; in partitioned mode the state machines are told their partitions' owners. */
  private void rebalance() {
    Map<PartitionAssignor.Slot, String> owners = membership.newGeneration(partitions::slots);
    if (owners == null) {
      return;
    }
    partitions.assign(owners);
    host.deliverable();
  }

  private Map<String, List<Integer>> assignmentOf(String memberId) {
    return membership.partitioned() ? partitions.ownedBy(memberId) : new TreeMap<>();
  }

  // ---- config ----------------------------------------------------------------------------------------------------

  @Override
  public String deadLetterTopicName(TopicMetadata topic) {
    return settings.deadLetterTopicName(topic);
  }

  @Override
  public Future<Void> loadConfig() {
    return settings.load();
  }

  Future<Void> configure(GroupConfig newConfig) {
    return settings.save(newConfig).map(v -> {
      partitions.policiesChanged();
      return null;
    });
  }

  // ---- fetch -----------------------------------------------------------------------------------------------------

  Future<List<Delivery>> fetch(String memberId, int maxRecords, long maxBytes, long maxWaitMs) {
    Member member = membership.seen(memberId);
    if (member == null) {
      return Future.failedFuture(membership.unknownMember(memberId));
    }
    List<Delivery> deliveries = collect(member, maxRecords, maxBytes);
    if (!deliveries.isEmpty() || maxWaitMs <= 0) {
      return Future.succeededFuture(deliveries);
    }
    return polls.await(member, maxRecords, maxBytes, Math.min(maxWaitMs, engine.options().getMaxFetchWaitMs()));
  }

  /** The member's deliveries still under lease, with their tokens; does not count as the member being seen. */
  Future<List<Delivery>> leased(String memberId) {
    if (membership.member(memberId) == null) {
      return Future.failedFuture(membership.unknownMember(memberId));
    }
    return Future.succeededFuture(partitions.leasedTo(memberId));
  }

  /** How many deliveries the member holds under lease; counts as the member being seen (a stream waiting on acks). */
  Future<Integer> inFlight(String memberId) {
    if (membership.seen(memberId) == null) {
      return Future.failedFuture(membership.unknownMember(memberId));
    }
    return Future.succeededFuture(partitions.countLeasedTo(memberId));
  }

  private List<Delivery> collect(Member member, int maxRecords, long maxBytes) {
    return partitions.handOut(member, membership.mode() == GroupMode.SHARED, maxRecords, maxBytes);
  }

  /** {@link Settlement#settle}. */
  Future<List<OutcomeResult>> settle(Outcomes outcomes) {
    return settlement.settle(outcomes);
  }

  // ---- seek, topics, describe, dead letters ----------------------------------------------------------------------

  /** {@link GroupSeek#seek}. */
  Future<List<SeekResult>> seek(String topicName, List<SeekPosition> positions, boolean dryRun) {
    return seeks.seek(topicName, positions, dryRun);
  }

  /** The topics this group reads here (members' and restored ones), sorted. */
  List<String> topicNames() {
    return partitions.topicNames();
  }

  /** The topics this group reads here and those it has state of in storage (positions, parked rows, dead letters). */
  Future<List<String>> allTopicNames() {
    return partitions.allTopicNames();
  }

  /**
   * The topic's config changed or it grew: its state machines use the new config (the retry policy, the dead-letter
   * topic), and a new partition gets a state machine that reads it from its start (DESIGN.md section 2: what is
   * produced there after the growth is never skipped), assigned by a rebalance in partitioned mode.
   */
  Future<Void> topicChanged(TopicMetadata topic) {
    List<Future<Void>> loads = ownership.ended() ? null : partitions.changed(topic, this::loadConfig);
    if (loads == null || loads.isEmpty()) {
      return Future.succeededFuture();
    }
    rebalance();
    return Future.all(loads).mapEmpty();
  }

  Future<GroupDescription> describe() {
    return partitions.lags().map(lags -> new GroupDescription(name,
        membership.mode() == null ? GroupMode.PARTITIONED : membership.mode(), membership.generation(),
        membership.describe(this::assignmentOf), lags));
  }

  /** Loads the state machines of these topics (a group restored from Postgres, to be described). */
  Future<Void> attach(List<TopicMetadata> list) {
    return loadConfig().compose(v -> {
      List<Future<Void>> loads = new ArrayList<>();
      for (TopicMetadata stored : list) {
        partitions.loadEvery(engine.broker().latest(stored), false, loads);
      }
      return Future.all(loads).mapEmpty();
    });
  }

  /** Dead-letters parked records whose segment retention is about to drop ({@link GroupPartitions#expire}). */
  Future<Void> expireParked(TopicMetadata topic, int partition, List<Long> offsets) {
    return partitions.expire(topic, partition, offsets, this::loadConfig);
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
    return partitions.redrive(topic, origins);
  }

  /** {@link GroupDeletion#delete}. */
  Future<Void> delete(boolean force) {
    return deletion.delete(force);
  }

  // ---- time ------------------------------------------------------------------------------------------------------

  /**
   * Expires leases, wakes long polls when a retry is due, ends the sessions that ran out (a member waiting in a long
   * poll is alive; an expired one's leases are revoked with an attempt counted), and samples the lag.
   */
  Future<Void> tick() {
    if (!ownership.stillOwned()) {
      return Future.succeededFuture();
    }
    long now = now();
    List<Future<Boolean>> ticks = new ArrayList<>();
    for (PartitionDelivery pd : partitions.all()) {
      ticks.add(pd.tick(now));
    }
    boolean expired = membership.expire(now, polls::isWaiting, m -> {
      partitions.revoke(m.id);
      polls.remove(m).forEach(p -> p.tryFail(membership.unknownMember(m.id)));
    });
    if (expired) {
      rebalance();
    }
    partitions.sampleLag();
    return Future.join(ticks).map(all -> {
      if (all.<Boolean>list().stream().anyMatch(Boolean.TRUE::equals)) {
        host.deliverable();
      }
      return null;
    });
  }

  @Override
  public long now() {
    return host.now();
  }

  /**
   * Whether no state machine of this group has storage work in flight and no wake-up pass is pending; with
   * {@code save}, whether everything is saved too (starting the saves the pacing held back).
   */
  boolean idle(boolean save) {
    boolean polled = polls.idle();
    return partitions.idle(save) && polled;
  }

  /** Whether anything of this group exists on this node: members, or partitions it has worked on. */
  boolean isEmpty() {
    return membership.isEmpty() && partitions.isEmpty();
  }
}
