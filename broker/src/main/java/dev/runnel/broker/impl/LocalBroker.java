package dev.runnel.broker.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.BrokerOptions;
import dev.runnel.broker.ClusterState;
import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.ProduceResult;
import dev.runnel.broker.ReadResult;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.broker.TopicConfig;
import dev.runnel.broker.TopicCreated;
import dev.runnel.broker.TopicDescription;
import dev.runnel.broker.TopicNames;
import dev.runnel.broker.TopicStats;
import dev.runnel.cluster.ClusterNode;
import dev.runnel.durability.LeaseTable;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The broker of this node, in front of the units that do the work: it checks each call's input, then routes it to
 * the partition's leader or the group's owner through {@link Routes} (a single node's routes are all local; the
 * cluster adds routes to other nodes) and turns every failure into a {@link BrokerException}. Any context may call
 * it; futures complete on the caller's context.
 */
public final class LocalBroker implements Broker {

  private static final Logger LOG = LoggerFactory.getLogger(LocalBroker.class);

  private final LogStore store;
  private final DeliveryEngine engine;
  private final Topics topics;
  private final Routes routes;
  /** This node's routes in a cluster; null on a single node. */
  private final ClusteredRoutes clustered;
  private final TopicAdmin admin;
  private final ProduceRouter producer;
  private final Readiness readiness;
  private final Supplier<Map<String, String>> endpoints;

  /** A single node's broker. */
  public LocalBroker(Vertx vertx, LogStore store, BrokerOptions options) {
    this(vertx, store, options, null);
  }

  /** @param cluster the cluster this node is one of, or null for a single node */
  public LocalBroker(Vertx vertx, LogStore store, BrokerOptions options, ClusterNode cluster) {
    this.store = store;
    CommitNotices notices = new CommitNotices(vertx);
    this.engine = new DeliveryEngine(vertx, store, this, options, notices);
    TopicNotices topicNotices = cluster == null ? null : new TopicNotices(vertx, cluster.nodeName());
    this.topics = new Topics(store, engine::topicChanged, topicNotices == null ? name -> { } : topicNotices::publish);
    LocalRoutes local = new LocalRoutes(store, engine, notices);
    this.clustered = cluster == null ? null : new ClusteredRoutes(cluster, store, engine, local);
    this.routes = clustered != null ? clustered : local;
    this.admin = new TopicAdmin(store, topics, routes, engine);
    this.producer = new ProduceRouter(topics, routes, options.getMeterRegistry());
    this.readiness = new Readiness(store, routes, engine);
    this.endpoints = options.getEndpoints();
    store.setRetentionGuard(this::beforeRetentionDrops);
    if (topicNotices != null) {
      topicNotices.subscribe(this::topicChangedElsewhere);
    }
  }

  /**
   * Another node changed, grew or deleted a topic: this node reads it again (only if it uses it: a topic not in
   * memory is read when next used) and its caches, writers and groups take the change.
   */
  private void topicChangedElsewhere(String name) {
    TopicMetadata held = topics.cached(name);
    if (held == null) {
      return;
    }
    store.refresh(held).onComplete(ar -> {
      if (ar.failed()) {
        LOG.warn("could not read topic {} again after another node changed it: {}", name, ar.cause().getMessage());
        topics.forget(name);  // read afresh when next used
        return;
      }
      TopicMetadata now = ar.result();
      if (now != null && now.id().equals(held.id())) {
        topics.take(now);
      } else {
        topics.forget(name);
        producer.topicDeleted(name);
        engine.topicDeleted(name);
      }
    });
  }

  /** Runs {@code call}, turning a thrown BrokerException (a refused input) and every failure into a failed future. */
  private static <T> Future<T> checked(Supplier<Future<T>> call) {
    try {
      return call.get().recover(LocalBroker::fail);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
  }

  // ---- the cluster -------------------------------------------------------------------------------------------------

  @Override
  public Future<ClusterState> clusterState() {
    return checked(() -> store.leases().map(leases -> {
      List<ClusterState.Member> members;
      if (clustered != null) {
        members = clustered.members();
      } else {
        Map<String, String> here = endpoints.get();
        members = List.of(new ClusterState.Member(store.incarnation().node(), store.incarnation().id(),
            here.get("http"), here.get("amqp")));
      }
      List<ClusterState.Partition> partitions = leases.partitions().stream()
          .map(p -> new ClusterState.Partition(p.topic(), p.partition(), p.leader(), p.epoch(), p.leaseUntil(),
              routes.leaderOf(p.topicId(), p.partition())))
          .toList();
      List<ClusterState.Group> groups = leases.groups().stream()
          .map(g -> new ClusterState.Group(g.group(), g.owner(), g.epoch(), g.leaseUntil(), routes.ownerOf(g.group())))
          .toList();
      return new ClusterState(store.incarnation().node(), members, partitions, groups);
    }));
  }

  // ---- topics ------------------------------------------------------------------------------------------------------

  @Override
  public Future<TopicCreated> createTopic(String name, int partitions, TopicConfig config) {
    return checked(() -> admin.create(name, partitions, config));
  }

  @Override
  public Future<List<TopicDescription>> listTopics() {
    return checked(admin::list);
  }

  @Override
  public Future<TopicDescription> describeTopic(String name) {
    return checked(() -> topics.get(name).compose(admin::describe));
  }

  @Override
  public Future<Void> deleteTopic(String name) {
    return checked(() -> {
      TopicNames.check(name);
      producer.topicDeleted(name);
      return admin.delete(name);
    });
  }

  @Override
  public Future<TopicDescription> updateTopicConfig(String name, JsonObject patch) {
    return checked(() -> admin.updateConfig(name, patch));
  }

  @Override
  public Future<TopicDescription> growPartitions(String name, int partitions) {
    return checked(() -> admin.grow(name, partitions));
  }

  @Override
  public Future<TopicStats> topicStats(String name) {
    return checked(() -> admin.stats(name));
  }

  @Override
  public Future<Long> offsetForTimestamp(String name, int partition, long timestamp) {
    if (timestamp < 0) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "a timestamp is 0 or more (epoch ms), "
          + "not " + timestamp));
    }
    return checked(() -> leader(name, partition).compose(leader -> leader.offsetForTimestamp(timestamp)));
  }

  @Override
  public Future<List<ProduceResult>> produce(String topic, List<ProduceRecord> records, boolean deduplicate) {
    return checked(() -> producer.produce(topic, records, deduplicate));
  }

  @Override
  public Future<ReadResult> read(String topic, int partition, long offset, int maxRecords, int maxBytes) {
    return checked(() -> leader(topic, partition)
        .compose(leader -> leader.read(offset, maxRecords, maxBytes)).map(Values::read));
  }

  /** The leader of an existing partition (PARTITION_OUT_OF_RANGE for one the topic does not have). */
  private Future<PartitionLeader> leader(String name, int partition) {
    return topics.get(name).compose(topic -> {
      if (partition < 0 || partition >= topic.partitions()) {
        return Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "partition " + partition
            + " does not exist; topic " + name + " has " + topic.partitions() + " partitions"));
      }
      return Future.succeededFuture(routes.leader(topic, partition));
    });
  }

  @Override
  public Future<Void> checkReady() {
    return checked(readiness::check);
  }

  @Override
  public Future<Void> checkLive() {
    return checked(store::checkLive);
  }

  // ---- for the groups this node owns -------------------------------------------------------------------------------

  /** See {@link Topics#latest}. */
  TopicMetadata latest(TopicMetadata topic) {
    return topics.latest(topic);
  }

  /** The topic's metadata, from memory after the first lookup. */
  Future<TopicMetadata> topicMetadata(String name) {
    return checked(() -> topics.get(name));
  }

  Future<Map<UUID, String>> topicNames(Collection<UUID> ids) {
    return topics.names(ids);
  }

  Future<String> topicName(UUID id) {
    return topics.name(id);
  }

  /** A group's dead-letter topic partition's leader: the topic is created on first use. */
  Future<PartitionLeader> deadLetterLeader(String name, TopicMetadata origin, int partition) {
    return admin.deadLetterLeader(name, origin, partition);
  }

  /** The leader of a partition of a topic known to exist. */
  PartitionLeader leader(TopicMetadata topic, int partition) {
    return routes.leader(topic, partition);
  }

  /**
   * Retention is about to drop a segment: every group's parked records below the new log starts are dead-lettered
   * (reason {@code expired}) first, each by its group's owner.
   */
  private Future<Void> beforeRetentionDrops(TopicMetadata topic, Map<Integer, Long> newLogStarts) {
    return engine.ready().compose(v -> {
      List<Future<Void>> all = new ArrayList<>();
      newLogStarts.forEach((partition, start) -> all.add(store.groupState().parkedBelow(topic.id(), partition, start)
          .compose(byGroup -> {
            List<Future<Void>> groups = new ArrayList<>();
            byGroup.forEach((name, offsets) -> groups.add(routes.owner(name).expireParked(topic, partition, offsets)));
            return Future.all(groups).mapEmpty();
          })));
      return Future.all(all).mapEmpty();
    });
  }

  // ---- consumer groups ---------------------------------------------------------------------------------------------

  /** Routes a call to the group's owner once the group's name is checked. */
  private <T> Future<T> toOwner(String group, Function<GroupOwner, Future<T>> call) {
    return checked(() -> {
      if (!TopicNames.isValid(group)) {
        throw new BrokerException(BrokerError.INVALID_REQUEST, "invalid group name '" + group
            + "': use 1 to 249 of the characters A-Z a-z 0-9 . _ -");
      }
      return call.apply(routes.owner(group));
    });
  }

  @Override
  public Future<Membership> join(String group, JoinRequest request) {
    for (String topic : request.topics()) {
      if (!TopicNames.isValid(topic)) {
        return Future.failedFuture(new BrokerException(BrokerError.INVALID_TOPIC_NAME, "invalid topic name '" + topic
            + "'"));
      }
    }
    return toOwner(group, g -> g.join(request));
  }

  @Override
  public Future<Void> leave(String group, String memberId) {
    return toOwner(group, g -> g.leave(memberId));
  }

  @Override
  public Future<Void> heartbeat(String group, String memberId) {
    return toOwner(group, g -> g.heartbeat(memberId));
  }

  @Override
  public Future<List<Delivery>> fetch(String group, String memberId, int maxRecords, int maxBytes, long maxWaitMs) {
    return toOwner(group, g -> g.fetch(memberId, maxRecords, maxBytes, maxWaitMs));
  }

  @Override
  public Future<List<OutcomeResult>> settle(String group, Outcomes outcomes) {
    return toOwner(group, g -> g.settle(outcomes));
  }

  @Override
  public Future<List<SeekResult>> seek(String group, String topic, List<SeekPosition> positions, boolean dryRun) {
    return toOwner(group, g -> g.seek(topic, positions, dryRun));
  }

  @Override
  public Future<Void> configureGroup(String group, GroupConfig config) {
    return toOwner(group, g -> g.configure(config));
  }

  @Override
  public Future<List<Delivery>> leased(String group, String memberId) {
    return toOwner(group, g -> g.leased(memberId));
  }

  @Override
  public Future<Integer> inFlight(String group, String memberId) {
    return toOwner(group, g -> g.inFlight(memberId));
  }

  @Override
  public Future<List<String>> groupTopics(String group) {
    return toOwner(group, GroupOwner::topics);
  }

  @Override
  public Future<Void> deleteGroup(String group, boolean force) {
    return toOwner(group, g -> g.delete(force));
  }

  @Override
  public Future<Integer> deleteDeadLetters(String group, String topic, Integer partition, List<Long> offsets) {
    if (offsets != null && partition == null) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "dead letters chosen by offset need "
          + "their partition"));
    }
    return toOwner(group, g -> g.deleteDeadLetters(topic, partition, offsets));
  }

  @Override
  public Future<GroupDescription> describeGroup(String group) {
    return toOwner(group, GroupOwner::describe);
  }

  @Override
  public Future<List<GroupDescription>> listGroups() {
    return checked(() -> engine.ready().compose(v -> ownedInCluster()).compose(owned -> store.groupState()
        .committedOffsets().map(stored -> {
          Set<String> names = new TreeSet<>(stored.keySet());
          names.addAll(owned);
          return names;
        })).compose(names -> {
      for (GroupRuntime g : engine.groups()) {
        if (!g.isEmpty()) {
          names.add(g.name);
        }
      }
      List<Future<GroupDescription>> all = new ArrayList<>();
      for (String name : names) {
        all.add(describeGroup(name));
      }
      return Future.all(all).map(cf -> cf.<GroupDescription>list());
    }));
  }

  /** In a cluster, the groups some node owns now (their lease rows): their members may all be on other nodes. */
  private Future<List<String>> ownedInCluster() {
    if (clustered == null) {
      return Future.succeededFuture(List.of());
    }
    return store.leases().map(leases -> leases.groups().stream().filter(g -> g.owner() != null)
        .map(LeaseTable.Group::group).toList());
  }

  @Override
  public Future<List<DeadLetter>> deadLetters(String group, String topic, int limit) {
    return toOwner(group, g -> g.deadLetters(topic, limit));
  }

  @Override
  public Future<Integer> redrive(String group, String topic, boolean toGroup, Integer partition, List<Long> offsets) {
    return toOwner(group, g -> g.redrive(topic, toGroup, partition, offsets));
  }

  @Override
  public Future<Void> leaveCluster() {
    return clustered == null ? Future.succeededFuture() : clustered.leave();
  }

  @Override
  public void close() {
    if (clustered != null) {
      clustered.close();
    }
    engine.close();
    producer.close();
  }

  /** Completes when no consumer group has storage work in flight (saves held back by the pacing may be pending). */
  public Future<Void> idle() {
    return engine.idle(false);
  }

  /** Saves every group's pending position and parked-record changes now; completes when they are stored. */
  public Future<Void> saveAll() {
    return engine.idle(true);
  }

  /** Runs the group timers now (tests drive time with an injected clock). */
  public Future<Void> tick() {
    return engine.tick();
  }

  private static <T> Future<T> fail(Throwable err) {
    return Future.failedFuture(BrokerException.from(err));
  }
}
