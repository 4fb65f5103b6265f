package dev.runnel.broker.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerOptions;
import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.Partitioner;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.ProduceResult;
import dev.runnel.broker.TopicCreated;
import dev.runnel.broker.TopicDescription;
import dev.runnel.broker.TopicNames;
import dev.runnel.durability.AppendResult;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.PartitionLog;
import dev.runnel.broker.PartitionOffsets;
import dev.runnel.broker.ReadResult;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/** The broker of a single node: topics and records straight over the local {@link LogStore}. */
public final class LocalBroker implements Broker {

  static final int MAX_PARTITIONS = 10_000;

  private final LogStore store;
  private final Map<String, TopicMetadata> topics = new ConcurrentHashMap<>();
  private final AtomicInteger spread = new AtomicInteger();
  private final DeliveryEngine engine;
  private final io.micrometer.core.instrument.MeterRegistry registry;
  /** Topic name → its produce meters, looked up once per topic (a topic that exists). */
  private final Map<String, ProduceMeters> produceMeters = new ConcurrentHashMap<>();

  public LocalBroker(Vertx vertx, LogStore store, BrokerOptions options) {
    this.store = store;
    this.registry = options.getMeterRegistry();
    this.engine = new DeliveryEngine(vertx, store, this, options);
    store.setRetentionGuard(engine::expireParked);
  }

  @Override
  public Future<TopicCreated> createTopic(String name, int partitions, TopicConfig config) {
    try {
      TopicNames.check(name);
      if (partitions < 1 || partitions > MAX_PARTITIONS) {
        throw new BrokerException(BrokerError.INVALID_REQUEST, "partitions must be between 1 and " + MAX_PARTITIONS);
      }
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
    return store.createTopic(name, partitions, Values.storage(config))
        .compose(creation -> {
          TopicMetadata topic = creation.topic();
          if (!creation.created() && (topic.partitions() != partitions
              || !Values.config(topic.config()).equals(config))) {
            return Future.failedFuture(new BrokerException(BrokerError.TOPIC_EXISTS, "topic " + name
                + " already exists with " + topic.partitions() + " partitions and config " + topic.config().toJson()));
          }
          topics.put(name, topic);
          return describe(topic).map(d -> new TopicCreated(creation.created(), d));
        })
        .recover(LocalBroker::fail);
  }

  @Override
  public Future<List<TopicDescription>> listTopics() {
    return store.topics()
        .compose(list -> {
          List<Future<TopicDescription>> all = new ArrayList<>();
          for (TopicMetadata t : list) {
            all.add(describe(t));
          }
          return Future.all(all).map(cf -> cf.<TopicDescription>list());
        })
        .recover(LocalBroker::fail);
  }

  @Override
  public Future<TopicDescription> describeTopic(String name) {
    return topic(name).compose(this::describe).recover(LocalBroker::fail);
  }

  private Future<TopicDescription> describe(TopicMetadata topic) {
    List<Future<PartitionOffsets>> offsets = new ArrayList<>();
    for (int p = 0; p < topic.partitions(); p++) {
      offsets.add(store.partition(topic, p).offsets().map(Values::offsets));
    }
    return Future.all(offsets).map(cf -> new TopicDescription(topic.name(), cf.list(), Values.config(topic.config())));
  }

  @Override
  public Future<Void> deleteTopic(String name) {
    try {
      TopicNames.check(name);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
    topics.remove(name);
    if (produceMeters.remove(name) != null) {
      ProduceMeters.remove(registry, name);
    }
    return store.deleteTopic(name)
        .compose(deleted -> deleted ? Future.<Void>succeededFuture() : Future.<Void>failedFuture(notFound(name)))
        .recover(LocalBroker::fail);
  }

  @Override
  public Future<List<ProduceResult>> produce(String topicName, List<ProduceRecord> records, boolean deduplicate) {
    if (records.isEmpty()) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_RECORD, "no records to produce"));
    }
    if (deduplicate && records.stream().anyMatch(r -> r.idempotencyKey() == null)) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_RECORD,
          "a deduplicated produce needs an idempotency key on every record"));
    }
    long started = System.nanoTime();
    return topic(topicName).compose(topic -> {
      int n = topic.partitions();
      int[] partitionOf = new int[records.size()];
      int[] sizes = new int[records.size()];
      int unkeyedPartition = Math.floorMod(spread.getAndIncrement(), n);
      // Validate everything before storing anything.
      for (int i = 0; i < records.size(); i++) {
        ProduceRecord r = records.get(i);
        if (r.partition() != null && (r.partition() < 0 || r.partition() >= n)) {
          return Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "record " + i
              + ": partition " + r.partition() + " does not exist; topic " + topicName + " has " + n + " partitions"));
        }
        int size = toLog(r).encodedSize();
        sizes[i] = size;
        if (size > topic.config().maxRecordBytes()) {
          return Future.failedFuture(new BrokerException(BrokerError.RECORD_TOO_LARGE, "record " + i + " takes "
              + size + " bytes; topic " + topicName + " accepts at most " + topic.config().maxRecordBytes()));
        }
        partitionOf[i] = r.partition() != null ? r.partition()
            : r.key() != null ? Partitioner.partitionForKey(r.key(), n)
            : r.idempotencyKey() != null ? Partitioner.partitionForKey(r.idempotencyKey(), n)
            : unkeyedPartition;  // one partition per request: one write instead of many
      }
      // One append per partition, keeping the request's order within each partition.
      Map<Integer, List<Integer>> byPartition = new java.util.TreeMap<>();
      for (int i = 0; i < records.size(); i++) {
        byPartition.computeIfAbsent(partitionOf[i], k -> new ArrayList<>()).add(i);
      }
      ProduceResult[] results = new ProduceResult[records.size()];
      List<Future<AppendResult>> appends = new ArrayList<>();
      ProduceMeters meters = produceMeters(topicName);
      for (Map.Entry<Integer, List<Integer>> e : byPartition.entrySet()) {
        int partition = e.getKey();
        List<Integer> indexes = e.getValue();
        List<LogRecord> batch = new ArrayList<>(indexes.size());
        for (int i : indexes) {
          batch.add(toLog(records.get(i)));
        }
        PartitionLog log = store.partition(topic, partition);
        appends.add((deduplicate ? log.appendOnce(batch) : log.append(batch)).andThen(ar -> {
          if (ar.succeeded()) {
            AppendResult res = ar.result();
            long next = res.baseOffset();
            long stored = 0;
            long bytes = 0;
            for (int j = 0; j < indexes.size(); j++) {
              AppendResult.Duplicate dup = res.duplicates() == null ? null : res.duplicates()[j];
              results[indexes.get(j)] = dup != null
                  ? new ProduceResult(partition, dup.offset(), dup.timestamp(), true)
                  : new ProduceResult(partition, next++, res.timestamp(), false);
              if (dup == null) {
                stored++;
                bytes += sizes[indexes.get(j)];
              }
            }
            meters.records.increment(stored);
            meters.bytes.increment(bytes);
          }
        }));
      }
      return Future.all(appends).map(cf -> {
        meters.committed(started);
        return List.of(results);
      });
    }).recover(err -> {
      if (err instanceof dev.runnel.durability.StorageException s
          && s.failure() == dev.runnel.durability.StorageFailure.TOPIC_NOT_FOUND) {
        topics.remove(topicName);
      }
      return fail(err);
    });
  }

  private ProduceMeters produceMeters(String topic) {
    ProduceMeters meters = produceMeters.get(topic);
    return meters != null ? meters : produceMeters.computeIfAbsent(topic, t -> new ProduceMeters(registry, t));
  }

  private static LogRecord toLog(ProduceRecord r) {
    return Values.toLog(r);
  }

  @Override
  public Future<ReadResult> read(String topicName, int partition, long offset, int maxRecords, int maxBytes) {
    return topic(topicName).compose(topic -> {
      if (partition < 0 || partition >= topic.partitions()) {
        return Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "partition " + partition
            + " does not exist; topic " + topicName + " has " + topic.partitions() + " partitions"));
      }
      return store.partition(topic, partition).read(offset, maxRecords, maxBytes).map(Values::read);
    }).recover(LocalBroker::fail);
  }

  @Override
  public Future<Void> checkReady() {
    return store.ping().recover(LocalBroker::fail);
  }

  @Override
  public Future<Void> checkLive() {
    return store.checkLive().recover(LocalBroker::fail);
  }

  /** The topic's metadata, from memory after the first lookup. */
  Future<TopicMetadata> topicMetadata(String name) {
    return topic(name).recover(LocalBroker::fail);
  }

  /** A group's dead-letter topic partition: the topic is created on first use with the origin's partition count. */
  Future<PartitionLog> deadLetterLog(String name, TopicMetadata origin, int partition) {
    TopicMetadata known = topics.get(name);
    Future<TopicMetadata> topic = known != null ? Future.succeededFuture(known)
        : store.createTopic(name, origin.partitions(), dev.runnel.durability.TopicConfig.DEFAULT).map(c -> {
          topics.put(name, c.topic());
          return c.topic();
        });
    return topic.compose(t -> partition < t.partitions() ? Future.succeededFuture(store.partition(t, partition))
        : Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "dead-letter topic " + name
            + " has " + t.partitions() + " partitions; partition " + partition + " of " + origin.name() + " cannot go there")));
  }

  private Future<TopicMetadata> topic(String name) {
    try {
      TopicNames.check(name);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
    TopicMetadata known = topics.get(name);
    if (known != null) {
      return Future.succeededFuture(known);
    }
    return store.topic(name).compose(t -> {
      if (t == null) {
        return Future.failedFuture(notFound(name));
      }
      topics.put(name, t);
      return Future.succeededFuture(t);
    });
  }

  // ---- consumer groups ------------------------------------------------------------------------------------------

  private static void checkGroupName(String group) {
    if (!TopicNames.isValid(group)) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "invalid group name '" + group
          + "': use 1 to 249 of the characters A-Z a-z 0-9 . _ -");
    }
  }

  /** Runs {@code action} on the group's context once the engine is ready; any failure becomes a BrokerException. */
  private <T> Future<T> inGroup(String group, java.util.function.Function<GroupRuntime, Future<T>> action) {
    try {
      checkGroupName(group);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
    return engine.ready().compose(v -> {
      GroupRuntime runtime = engine.group(group);
      return runtime.call(() -> action.apply(runtime));
    }).recover(LocalBroker::fail);
  }

  @Override
  public Future<Membership> join(String group, JoinRequest request) {
    for (String topic : request.topics()) {
      if (!TopicNames.isValid(topic)) {
        return Future.failedFuture(new BrokerException(BrokerError.INVALID_TOPIC_NAME, "invalid topic name '" + topic + "'"));
      }
    }
    return inGroup(group, g -> g.join(request));
  }

  @Override
  public Future<Void> leave(String group, String memberId) {
    return inGroup(group, g -> g.leave(memberId));
  }

  @Override
  public Future<Void> heartbeat(String group, String memberId) {
    return inGroup(group, g -> g.heartbeat(memberId));
  }

  @Override
  public Future<List<Delivery>> fetch(String group, String memberId, int maxRecords, int maxBytes, long maxWaitMs) {
    return inGroup(group, g -> g.fetch(memberId, maxRecords, maxBytes, maxWaitMs));
  }

  @Override
  public Future<List<OutcomeResult>> settle(String group, Outcomes outcomes) {
    return inGroup(group, g -> g.settle(outcomes));
  }

  @Override
  public Future<Void> seek(String group, String topic, List<SeekPosition> positions) {
    return inGroup(group, g -> g.seek(topic, positions));
  }

  @Override
  public Future<Void> configureGroup(String group, JsonObject config) {
    return inGroup(group, g -> {
      try {
        return g.configure(config);
      } catch (IllegalArgumentException | ClassCastException e) {
        return Future.failedFuture(new BrokerException(BrokerError.INVALID_CONFIG, e.getMessage()));
      }
    });
  }

  @Override
  public Future<List<GroupDescription>> listGroups() {
    return engine.ready().compose(v -> store.groupState().committedOffsets()).compose(stored -> {
      java.util.Set<String> names = new java.util.TreeSet<>(stored.keySet());
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
    }).recover(LocalBroker::fail);
  }

  @Override
  public Future<List<Delivery>> leased(String group, String memberId) {
    return inGroup(group, g -> g.leased(memberId));
  }

  @Override
  public Future<Integer> inFlight(String group, String memberId) {
    return inGroup(group, g -> g.inFlight(memberId));
  }

  @Override
  public Future<List<String>> groupTopics(String group) {
    return inGroup(group, g -> Future.succeededFuture(g.topicNames()));
  }

  @Override
  public Future<GroupDescription> describeGroup(String group) {
    try {
      checkGroupName(group);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
    GroupRuntime known = engine.existing(group);
    Future<Void> restored = known != null && !known.isEmpty() ? Future.succeededFuture() : restoreGroup(group);
    return restored.compose(v -> inGroup(group, GroupRuntime::describe));
  }

  /** A group known only from Postgres (after a restart, before a member joins): load its partitions to describe it. */
  private Future<Void> restoreGroup(String group) {
    return engine.ready().compose(v -> store.groupState().committedOffsets()).compose(stored -> {
      Map<String, Long> positions = stored.get(group);
      if (positions == null) {
        return Future.failedFuture(new BrokerException(BrokerError.NOT_FOUND, "group " + group + " does not exist"));
      }
      return store.topics().compose(all -> {
        java.util.Set<String> topicIds = new java.util.HashSet<>();
        positions.keySet().forEach(k -> topicIds.add(k.substring(0, k.indexOf('/'))));
        List<TopicMetadata> ofGroup = all.stream().filter(t -> topicIds.contains(t.id().toString())).toList();
        return inGroup(group, g -> g.attach(ofGroup));
      });
    });
  }

  @Override
  public Future<List<DeadLetter>> deadLetters(String group, String topic, int limit) {
    return inGroup(group, g -> g.deadLetters(topic, limit));
  }

  @Override
  public Future<Integer> redrive(String group, String topic, boolean toGroup, List<Long> offsets) {
    return inGroup(group, g -> g.redrive(topic, toGroup, offsets));
  }

  @Override
  public void close() {
    engine.close();
    produceMeters.keySet().forEach(t -> ProduceMeters.remove(registry, t));
    produceMeters.clear();
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

  private static BrokerException notFound(String name) {
    return new BrokerException(BrokerError.TOPIC_NOT_FOUND, "topic " + name + " does not exist");
  }

  private static <T> Future<T> fail(Throwable err) {
    return Future.failedFuture(BrokerException.from(err));
  }
}
