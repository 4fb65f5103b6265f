package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A group this node owns: each call runs on the group's {@link GroupRuntime}, on its context, once the engine is
 * ready. Any context may call it; futures complete on the caller's context.
 */
final class LocalGroupOwner implements GroupOwner {

  private final DeliveryEngine engine;
  private final LogStore store;
  private final String group;

  LocalGroupOwner(DeliveryEngine engine, LogStore store, String group) {
    this.engine = engine;
    this.store = store;
    this.group = group;
  }

  private <T> Future<T> call(Function<GroupRuntime, Future<T>> action) {
    return engine.ready().compose(v -> engine.group(group).callLive(action));
  }

  /** Outcomes and heartbeats are accepted while the group drains for a hand-over ({@link GroupRuntime#callDraining}). */
  private <T> Future<T> callDraining(Function<GroupRuntime, Future<T>> action) {
    return engine.ready().compose(v -> engine.group(group).callDraining(action));
  }

  @Override
  public Future<Void> own() {
    return call(g -> Future.succeededFuture());
  }

  @Override
  public Future<Membership> join(JoinRequest request) {
    return call(g -> g.join(request));
  }

  @Override
  public Future<Void> leave(String memberId) {
    return call(g -> g.leave(memberId));
  }

  @Override
  public Future<Void> heartbeat(String memberId) {
    return callDraining(g -> g.heartbeat(memberId));
  }

  @Override
  public Future<List<Delivery>> fetch(String memberId, int maxRecords, int maxBytes, long maxWaitMs) {
    return call(g -> g.fetch(memberId, maxRecords, maxBytes, maxWaitMs));
  }

  @Override
  public Future<List<Delivery>> leased(String memberId) {
    return call(g -> g.leased(memberId));
  }

  @Override
  public Future<Integer> inFlight(String memberId) {
    return call(g -> g.inFlight(memberId));
  }

  @Override
  public Future<List<OutcomeResult>> settle(Outcomes outcomes) {
    return callDraining(g -> g.settle(outcomes));
  }

  @Override
  public Future<List<SeekResult>> seek(String topic, List<SeekPosition> positions, boolean dryRun) {
    return call(g -> g.seek(topic, positions, dryRun));
  }

  @Override
  public Future<Void> configure(GroupConfig config) {
    return call(g -> g.configure(config));
  }

  @Override
  public Future<List<String>> topics() {
    return call(GroupRuntime::allTopicNames);
  }

  @Override
  public Future<GroupDescription> describe() {
    GroupRuntime known = engine.existing(group);
    Future<Void> restored = known != null && !known.isEmpty() ? Future.succeededFuture() : restore();
    return restored.compose(v -> call(GroupRuntime::describe));
  }

  /** A group known only from Postgres (after a restart, before a member joins): load its partitions to describe it. */
  private Future<Void> restore() {
    return engine.ready().compose(v -> store.groupState().committedOffsets()).compose(stored -> {
      Map<String, Long> positions = stored.get(group);
      if (positions == null) {
        return Future.failedFuture(new BrokerException(BrokerError.NOT_FOUND, "group " + group + " does not exist"));
      }
      return store.topics().compose(all -> {
        Set<String> topicIds = new HashSet<>();
        positions.keySet().forEach(k -> topicIds.add(k.substring(0, k.indexOf('/'))));
        List<TopicMetadata> ofGroup = all.stream().filter(t -> topicIds.contains(t.id().toString())).toList();
        return call(g -> g.attach(ofGroup));
      });
    });
  }

  @Override
  public Future<Void> delete(boolean force) {
    return call(g -> g.delete(force));
  }

  @Override
  public Future<List<DeadLetter>> deadLetters(String topic, int limit) {
    return call(g -> g.deadLetters(topic, limit));
  }

  @Override
  public Future<Integer> deleteDeadLetters(String topic, Integer partition, List<Long> offsets) {
    return call(g -> g.deleteDeadLetters(topic, partition, offsets));
  }

  @Override
  public Future<Integer> redrive(String topic, boolean toGroup, Integer partition, List<Long> offsets) {
    return call(g -> g.redrive(topic, toGroup, partition, offsets));
  }

  @Override
  public Future<Void> expireParked(TopicMetadata topic, int partition, List<Long> offsets) {
    return call(g -> g.expireParked(topic, partition, offsets));
  }
}
