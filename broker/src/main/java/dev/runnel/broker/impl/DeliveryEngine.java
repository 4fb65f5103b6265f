package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerOptions;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/** The consumer groups of this node, each on one of a few event-loop contexts, and the timer that drives them. */
final class DeliveryEngine {

  private final Vertx vertx;
  private final LogStore store;
  private final LocalBroker broker;
  private final BrokerOptions options;
  private final CommitNotices commitNotices;
  private final Random random;
  private final Map<String, GroupRuntime> groups = new ConcurrentHashMap<>();
  private final List<ContextInternal> contexts = new ArrayList<>();
  private final AtomicInteger nextContext = new AtomicInteger();
  private final Set<GroupMeters> meters = ConcurrentHashMap.newKeySet();
  private final long timer;
  private volatile Future<byte[]> tokenKey;

  DeliveryEngine(Vertx vertx, LogStore store, LocalBroker broker, BrokerOptions options, CommitNotices commitNotices) {
    this.vertx = vertx;
    this.store = store;
    this.broker = broker;
    this.options = options;
    this.commitNotices = commitNotices;
    this.random = options.getRandomSeed() == null ? new Random() : new Random(options.getRandomSeed());
    int loops = Math.max(2, Runtime.getRuntime().availableProcessors() * 2);
    for (int i = 0; i < loops; i++) {
      contexts.add(((VertxInternal) vertx).createEventLoopContext());
    }
    this.timer = options.getTickMs() > 0 ? vertx.setPeriodic(options.getTickMs(), id -> tick()) : -1;
  }

  /** The token-signing key, shared by every node through Postgres; loaded once. */
  Future<Void> ready() {
    Future<byte[]> key = tokenKey;
    if (key == null || key.failed()) {
      key = store.groupState().secret("delivery-token-key", 32);
      tokenKey = key;
    }
    // Not key.mapEmpty(): that future carries the context the key was loaded on, and a group call composed on it
    // (LocalBroker.inGroup) then completed there instead of on its caller's context, so an AMQP link's callbacks ran
    // on another connection's event loop (CallerContextTest; AmqpFlowTest saw corrupt frames and a record delivered
    // twice). A loaded key answers with a future of no context; a pending one on the caller's context.
    if (key.succeeded()) {
      return Future.succeededFuture();
    }
    ContextInternal caller = ContextInternal.current();
    Promise<Void> ready = caller != null ? caller.promise() : Promise.promise();
    key.onComplete(ar -> {
      if (ar.succeeded()) {
        ready.complete();
      } else {
        ready.fail(ar.cause());
      }
    });
    return ready.future();
  }

  byte[] tokenKey() {
    return tokenKey.result();
  }

  GroupRuntime group(String name) {
    return groups.computeIfAbsent(name, n -> new GroupRuntime(n, this,
        contexts.get(Math.floorMod(nextContext.getAndIncrement(), contexts.size()))));
  }

  GroupRuntime existing(String name) {
    return groups.get(name);
  }

  /** A deleted group's runtime leaves: the next call on its name gets a new one. */
  void forget(GroupRuntime runtime) {
    groups.remove(runtime.name, runtime);
  }

  /** Every group here that reads the topic learns its new config or partitions; completes once each has. */
  Future<Void> topicChanged(TopicMetadata topic) {
    List<Future<Void>> all = new ArrayList<>();
    for (GroupRuntime g : groups.values()) {
      all.add(g.callLive(live -> live.topicChanged(topic)));
    }
    return Future.join(all).mapEmpty();
  }

  Iterable<GroupRuntime> groups() {
    return groups.values();
  }

  /** Runs every group's timers (lease deadlines, due retries, session timeouts) on its own context. */
  Future<Void> tick() {
    List<Future<Void>> all = new ArrayList<>();
    for (GroupRuntime g : groups.values()) {
      all.add(g.call(g::tick));
    }
    return Future.join(all).mapEmpty();
  }

  /**
   * Completes when no group has storage work in flight (with {@code save}: and everything is saved), so a test can
   * tell exactly what is stored before it restarts the node; checks every millisecond, fails after 30 s.
   */
  Future<Void> idle(boolean save) {
    Promise<Void> done = Promise.promise();
    checkIdle(save, done, System.nanoTime() + 30_000_000_000L);
    return done.future();
  }

  private void checkIdle(boolean save, Promise<Void> done, long giveUpAt) {
    List<Future<Boolean>> all = new ArrayList<>();
    for (GroupRuntime g : groups.values()) {
      all.add(g.call(() -> Future.succeededFuture(g.idle(save))));
    }
    Future.all(all).onComplete(ar -> {
      if (ar.failed()) {
        done.fail(ar.cause());
      } else if (ar.result().<Boolean>list().stream().allMatch(Boolean.TRUE::equals)) {
        done.complete();
      } else if (System.nanoTime() - giveUpAt > 0) {
        done.fail(new IllegalStateException("the delivery engine did not become idle in 30 s"));
      } else {
        vertx.setTimer(1, id -> checkIdle(save, done, giveUpAt));
      }
    });
  }

  /** A new member's id: random, from the seeded source when there is one (so a seeded test replays exactly). */
  String memberId() {
    if (options.getRandomSeed() == null) {
      return UUID.randomUUID().toString();
    }
    synchronized (random) {
      return new UUID(random.nextLong(), random.nextLong()).toString();
    }
  }

  double random() {
    synchronized (random) {
      return random.nextDouble();
    }
  }

  /** The meters of a group on a topic; a group asks once per topic. */
  GroupMeters newMeters(String group, String topic) {
    GroupMeters m = new GroupMeters(options.getMeterRegistry(), options.getClock(), group, topic);
    meters.add(m);
    return m;
  }

  /** A topic was deleted: its groups' series leave the registry (the group's state machines may count on, unseen). */
  void topicDeleted(String topic) {
    meters.removeIf(m -> {
      if (m.topic.equals(topic)) {
        m.remove(options.getMeterRegistry());
        return true;
      }
      return false;
    });
  }

  void close() {
    if (timer != -1) {
      vertx.cancelTimer(timer);
    }
    meters.forEach(m -> m.remove(options.getMeterRegistry()));
  }

  Vertx vertx() {
    return vertx;
  }

  LogStore store() {
    return store;
  }

  LocalBroker broker() {
    return broker;
  }

  BrokerOptions options() {
    return options;
  }

  CommitNotices commitNotices() {
    return commitNotices;
  }
}
