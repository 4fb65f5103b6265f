package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.ClusterState;
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
import dev.runnel.cluster.ClusterNode;
import dev.runnel.cluster.ClusterView;
import dev.runnel.cluster.Rendezvous;
import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.HeldElsewhere;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.internal.ContextInternal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The routes of a clustered node (DESIGN.md section 6). Who should lead a partition or own a group is rendezvous
 * hashing of {@code <topic id>/<partition>} or {@code group/<name>} over the stable node names of this node's view;
 * this node's share is served by its {@link LocalRoutes}, the rest goes to the node that should hold it through the
 * {@link Forwarder}. Postgres leases decide who does hold: a node that no longer should hands what it holds over at
 * once when its view changes (and checks again every second, for a unit taken up by a call that raced the change),
 * and the new owner acquires when first called. A call that meets a node that does not hold the unit ({@link
 * NotHere}) is routed again a bounded number of times, as views settle. A view with fewer than {@code minMembers}
 * members serves nothing: the node steps down. Thread-safe.
 */
final class ClusteredRoutes implements Routes {

  private static final Logger LOG = LoggerFactory.getLogger(ClusteredRoutes.class);
  /** Routing again after a NotHere: delays of 20, 40, 80 ... ms, about 5 s over all, longer than a view settles. */
  private static final int ATTEMPTS = 9;
  private static final long FIRST_RETRY_MS = 20;
  private static final long SETTLE_EVERY_MS = 1000;
  /** A forwarded call's timeout (a long poll's wait comes on top). */
  private static final long FORWARD_TIMEOUT_MS = 15_000;
  /** Calls outstanding to one node at most; past it, OVERLOADED. */
  private static final int MAX_OUTSTANDING_PER_NODE = 10_000;
  /** Where a node announces its graceful leave (its node name; its member id in {@link #MEMBER_ID}). */
  static final String LEAVING = "runnel.leaving";
  private static final String MEMBER_ID = "runnel-member-id";

  private final Vertx vertx;
  private final ClusterNode cluster;
  private final String self;
  private final int minMembers;
  private final LogStore store;
  private final DeliveryEngine engine;
  private final LocalRoutes local;
  private final Forwarder forwarder;
  private final ForwardedCalls receiver;
  private final ForwardedDeliveries handed;
  private final Future<Void> started;
  private final long timer;
  /** Calls routed, by unit (leader, owner) and where they went (this node's unit, or forwarded): [unit][forwarded]. */
  private final Counter[][] calls = new Counter[2][2];
  /** Who should hold what under the current view, computed once per key and view. */
  private volatile Placement placement;
  /** Members (by Hazelcast member id: a restart under the same name is a new one) that announced a graceful leave. */
  private final Set<String> leaving = ConcurrentHashMap.newKeySet();

  /** The view's nodes and the owners computed under it. */
  private record Placement(List<String> nodes, boolean serving, Map<String, String> owners) {
    String owner(String key) {
      return owners.computeIfAbsent(key, k -> Rendezvous.owner(k, nodes));
    }
  }

  ClusteredRoutes(ClusterNode cluster, LogStore store, DeliveryEngine engine, LocalRoutes local) {
    this.vertx = cluster.vertx();
    this.cluster = cluster;
    this.self = cluster.nodeName();
    this.minMembers = cluster.minMembers();
    this.store = store;
    this.engine = engine;
    this.local = local;
    this.forwarder = new Forwarder(vertx, self, FORWARD_TIMEOUT_MS, MAX_OUTSTANDING_PER_NODE);
    this.handed = new ForwardedDeliveries(() -> engine.options().getClock().millis());
    this.placement = placementOf(cluster.view());
    MeterRegistry meters = engine.options().getMeterRegistry();
    for (int unit = 0; unit < 2; unit++) {
      for (int forwarded = 0; forwarded < 2; forwarded++) {
        calls[unit][forwarded] = Counter.builder("runnel.cluster.calls")
            .description("Calls to partition leaders and group owners by where they were served: on this node, or"
                + " forwarded to the node that holds the unit (a retry after NOT_HERE is not counted again)")
            .tag("unit", unit == 0 ? "leader" : "owner").tag("route", forwarded == 0 ? "local" : "forwarded")
            .register(meters);
      }
    }
    cluster.onViewChange(this::viewChanged);
    vertx.eventBus().<String>consumer(LEAVING, message -> {
      if (!self.equals(message.body())) {
        LOG.info("node {} leaves the cluster gracefully: its share is placed on the others", message.body());
        leaving.add(message.headers().get(MEMBER_ID));
        placement = placementOf(cluster.view());
      }
    });
    this.receiver = new ForwardedCalls(vertx, self, this, handed);
    this.started = receiver.start();
    this.timer = vertx.setPeriodic(SETTLE_EVERY_MS, id -> handOver());
  }

  /** Placement over the view's members, but for those leaving gracefully (they still count as members). */
  private Placement placementOf(ClusterView view) {
    List<String> nodes = view.members().stream().filter(m -> !leaving.contains(m.id())).map(ClusterView.Member::node)
        .toList();
    return new Placement(nodes, view.size() >= minMembers && !nodes.isEmpty(), new ConcurrentHashMap<>());
  }

  private void viewChanged(ClusterView view) {
    leaving.retainAll(view.members().stream().map(ClusterView.Member::id).toList());
    Placement previous = placement;
    Placement next = placementOf(view);
    placement = next;
    for (String node : previous.nodes) {
      if (!next.nodes.contains(node)) {
        releaseHandedThrough(node);
      }
    }
    if (!next.serving) {
      LOG.warn("node {} sees {} of the {} members it needs ({}): it steps down and serves nothing until it sees more",
          self, view.size(), minMembers, view.nodes());
    }
    forwarder.keepOnly(next.nodes);
    handOver();
  }

  /** Deliveries that went out through a node that left may never have arrived: they come back now, no attempt counted. */
  private void releaseHandedThrough(String node) {
    handed.nodeLeft(node).forEach((group, tokens) -> {
      if (!ownsHere(group)) {
        return;  // handed over meanwhile: its tokens are void here, and its next owner redelivers what they held
      }
      LOG.info("node {} left: {} deliveries of group {} handed out through it are released", node, tokens.size(),
          group);
      local.owner(group).settle(new Outcomes(List.of(), List.of(), List.of(), List.of(), tokens))
          .onFailure(err -> LOG.warn("could not release the deliveries of group {} handed out through node {}: {}",
              group, node, err.getMessage()));
    });
  }

  /**
   * A graceful stop (DESIGN.md section 6): this node tells the others it leaves, so they place its share on
   * themselves, and hands over everything it holds: each group drains and passes its member sessions on, each
   * partition's queued writes commit before its lease is released. Completes once all is handed over (each step is
   * bounded). A node alone in its view keeps what it holds: there is no one to hand it to.
   */
  Future<Void> leave() {
    ClusterView view = cluster.view();
    String id = view.members().stream().filter(m -> m.node().equals(self)).map(ClusterView.Member::id).findFirst()
        .orElse(null);
    if (id == null || view.size() < 2) {
      return Future.succeededFuture();
    }
    LOG.info("node {} leaves the cluster: it hands over what it leads and owns", self);
    vertx.eventBus().publish(LEAVING, self, new DeliveryOptions().addHeader(MEMBER_ID, id));
    leaving.add(id);
    placement = placementOf(view);
    List<Future<?>> all = new ArrayList<>();
    for (TopicPartition partition : store.writing()) {
      all.add(local.release(partition));
    }
    for (GroupRuntime group : engine.groups()) {
      all.add(group.call(group::handOver));
    }
    return Future.join(all).mapEmpty();
  }

  /** Gives back every partition and group this node holds but should not (another node should, or it steps down). */
  private void handOver() {
    for (TopicPartition partition : store.writing()) {
      if (!leadsHere(partition.topicId(), partition.partition())) {
        LOG.info("node {} hands partition {}/{} over", self, partition.topicId(), partition.partition());
        local.release(partition);
      }
    }
    Set<String> running = new HashSet<>();
    for (GroupRuntime group : engine.groups()) {
      running.add(group.name);
      if (!ownsHere(group.name)) {
        group.call(group::handOver);
      }
    }
    // A lease held with no runtime to hand over (a leak) would keep the group from the node it is placed on for ever.
    store.groupState().heldGroups().forEach((group, lease) -> {
      if (!running.contains(group) && !ownsHere(group)) {
        LOG.warn("node {} holds the lease of group {} with nothing serving it: given back", self, group);
        lease.release();
      }
    });
  }

  /**
   * Runs an outcome or heartbeat {@code call} on {@code owner}; when that is this node's and it cannot take the group
   * because another live node still holds it, which drains for a hand-over and accepts outcomes meanwhile, on that
   * node (DESIGN.md section 6). Otherwise the drain would wait in vain for outcomes that cannot reach it.
   */
  <T> Future<T> viaDrainingHolder(String group, GroupOwner owner, Function<GroupOwner, Future<T>> call) {
    return call.apply(owner).recover(err -> {
      String holder = err instanceof HeldElsewhere held ? held.holder() : null;
      if (holder == null || holder.equals(self) || !cluster.view().nodes().contains(holder)) {
        return Future.failedFuture(err);
      }
      return call.apply(new RemoteGroupOwner(forwarder, holder, group));
    });
  }

  /** Whether this node drains the group for a hand-over: it takes outcomes and heartbeats, though it no longer owns it. */
  boolean drainsHere(String group) {
    GroupRuntime runtime = engine.existing(group);
    return runtime != null && runtime.draining();
  }

  /** Completes once other nodes can reach this one's leaders and owners, and while its view lets it serve. */
  @Override
  public Future<Void> ready() {
    return started.compose(v -> placement.serving ? Future.succeededFuture()
        : Future.failedFuture(new BrokerException(BrokerError.UNAVAILABLE, "node " + self + " sees " + placement.nodes
            + ", fewer than the " + minMembers + " members it needs to serve")));
  }

  LocalRoutes local() {
    return local;
  }

  boolean leadsHere(UUID topicId, int partition) {
    return self.equals(leaderOf(topicId, partition));
  }

  @Override
  public boolean ownsHere(String group) {
    return self.equals(ownerOf(group));
  }

  @Override
  public String leaderOf(UUID topicId, int partition) {
    Placement p = placement;
    return p.serving ? p.owner(topicId + "/" + partition) : null;
  }

  @Override
  public String ownerOf(String group) {
    Placement p = placement;
    return p.serving ? p.owner("group/" + group) : null;
  }

  /** The members of this node's view, each as its card tells it. */
  List<ClusterState.Member> members() {
    return cluster.view().members().stream().map(m -> new ClusterState.Member(m.node(), m.card().get("incarnation"),
        m.card().get("http"), m.card().get("amqp"))).toList();
  }

  @Override
  public boolean leadsHere(TopicMetadata topic, int partition) {
    return leadsHere(topic.id(), partition);
  }

  @Override
  public PartitionLeader leader(TopicMetadata topic, int partition) {
    return new RoutedLeader(topic, partition);
  }

  @Override
  public GroupOwner owner(String group) {
    return new RoutedOwner(group);
  }

  void close() {
    vertx.cancelTimer(timer);
    receiver.stop();
  }

  /**
   * Runs {@code call} on the unit that should serve {@code key} now ({@code unitOn} the node that should: this node's
   * own unit, or a route to another).
   * A NotHere routes it again after a pause, a bounded number of times; then the call fails UNAVAILABLE.
   */
  private <U, T> Future<T> route(String key, Function<String, U> unitOn, Function<U, Future<T>> call, int attempt) {
    Placement p = placement;
    if (!p.serving) {
      return Future.failedFuture(new BrokerException(BrokerError.UNAVAILABLE, "node " + self + " sees fewer than "
          + minMembers + " cluster members and serves nothing; retry on another node"));
    }
    String owner = p.owner(key);
    if (attempt == 1) {
      calls[key.startsWith("group/") ? 1 : 0][self.equals(owner) ? 0 : 1].increment();
    }
    Future<T> result;
    try {
      result = call.apply(unitOn.apply(owner));
    } catch (RuntimeException e) {
      result = Future.failedFuture(e);
    }
    return result.recover(err -> {
      if (!(err instanceof NotHere)) {
        return Future.failedFuture(err);
      }
      if (attempt >= ATTEMPTS) {
        return Future.failedFuture(new BrokerException(BrokerError.UNAVAILABLE, "no node serves it yet ("
            + err.getMessage() + "); retry"));
      }
      ContextInternal caller = ContextInternal.current();
      Promise<T> again = caller != null ? caller.promise() : Promise.promise();
      vertx.setTimer(FIRST_RETRY_MS << (attempt - 1),
          id -> route(key, unitOn, call, attempt + 1).onComplete(again));
      return again.future();
    });
  }

  /** A partition's leader wherever it is now, chosen again at every call. */
  private final class RoutedLeader implements PartitionLeader {
    private final TopicMetadata topic;
    private final int partition;
    private final String key;

    RoutedLeader(TopicMetadata topic, int partition) {
      this.topic = topic;
      this.partition = partition;
      this.key = topic.id() + "/" + partition;
    }

    private <T> Future<T> route(Function<PartitionLeader, Future<T>> call) {
      return ClusteredRoutes.this.route(key, node -> self.equals(node) ? local.leader(topic, partition)
          : new RemotePartitionLeader(forwarder, node, topic, partition), call, 1);
    }

    @Override
    public Future<AppendResult> append(List<LogRecord> records, boolean deduplicate) {
      return route(l -> l.append(records, deduplicate));
    }

    @Override
    public Future<AppendResult> appendDeadLetters(List<LogRecord> records, List<DeadLetterOrigin> origins,
                                                  long groupEpoch) {
      return route(l -> l.appendDeadLetters(records, origins, groupEpoch));
    }

    @Override
    public Future<ReadResult> read(long offset, int maxRecords, int maxBytes) {
      return route(l -> l.read(offset, maxRecords, maxBytes));
    }

    @Override
    public Future<PartitionOffsets> offsets() {
      return route(PartitionLeader::offsets);
    }

    @Override
    public Future<Long> offsetForTimestamp(long timestamp) {
      return route(l -> l.offsetForTimestamp(timestamp));
    }
  }

  /** A group's owner wherever it is now, chosen again at every call. */
  private final class RoutedOwner implements GroupOwner {
    private final String group;
    private final String key;

    RoutedOwner(String group) {
      this.group = group;
      this.key = "group/" + group;
    }

    private <T> Future<T> route(Function<GroupOwner, Future<T>> call) {
      return ClusteredRoutes.this.route(key, node -> self.equals(node) ? local.owner(group)
          : new RemoteGroupOwner(forwarder, node, group), call, 1);
    }

    @Override
    public Future<Void> own() {
      return route(GroupOwner::own);
    }

    @Override
    public Future<Membership> join(JoinRequest request) {
      return route(o -> o.join(request));
    }

    @Override
    public Future<Void> leave(String memberId) {
      return route(o -> o.leave(memberId));
    }

    @Override
    public Future<Void> heartbeat(String memberId) {
      return route(o -> viaDrainingHolder(group, o, x -> x.heartbeat(memberId)));
    }

    @Override
    public Future<List<Delivery>> fetch(String memberId, int maxRecords, int maxBytes, long maxWaitMs) {
      return route(o -> o.fetch(memberId, maxRecords, maxBytes, maxWaitMs));
    }

    @Override
    public Future<List<Delivery>> leased(String memberId) {
      return route(o -> o.leased(memberId));
    }

    @Override
    public Future<Integer> inFlight(String memberId) {
      return route(o -> o.inFlight(memberId));
    }

    @Override
    public Future<List<OutcomeResult>> settle(Outcomes outcomes) {
      return route(o -> viaDrainingHolder(group, o, x -> x.settle(outcomes)));
    }

    @Override
    public Future<List<SeekResult>> seek(String topic, List<SeekPosition> positions, boolean dryRun) {
      return route(o -> o.seek(topic, positions, dryRun));
    }

    @Override
    public Future<Void> configure(GroupConfig config) {
      return route(o -> o.configure(config));
    }

    @Override
    public Future<List<String>> topics() {
      return route(GroupOwner::topics);
    }

    @Override
    public Future<GroupDescription> describe() {
      return route(GroupOwner::describe);
    }

    @Override
    public Future<Void> delete(boolean force) {
      return route(o -> o.delete(force));
    }

    @Override
    public Future<List<DeadLetter>> deadLetters(String topic, int limit) {
      return route(o -> o.deadLetters(topic, limit));
    }

    @Override
    public Future<Integer> deleteDeadLetters(String topic, Integer partition, List<Long> offsets) {
      return route(o -> o.deleteDeadLetters(topic, partition, offsets));
    }

    @Override
    public Future<Integer> redrive(String topic, boolean toGroup, Integer partition, List<Long> offsets) {
      return route(o -> o.redrive(topic, toGroup, partition, offsets));
    }

    @Override
    public Future<Void> expireParked(TopicMetadata topic, int partition, List<Long> offsets) {
      return route(o -> o.expireParked(topic, partition, offsets));
    }
  }
}
