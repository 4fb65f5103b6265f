package dev.runnel.broker.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerOptions;
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
import dev.runnel.broker.TopicStats;
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
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/** The broker of a single node: topics and records straight over the local {@link LogStore}. */
public final class LocalBroker implements Broker {

  static final int MAX_PARTITIONS = 10_000;
  private static final Logger LOG = LoggerFactory.getLogger(LocalBroker.class);
  /** The config keys a patch may name (all of them; {@code segmentMs} only with its current value). */

  private final LogStore store;
  private final Map<String, TopicMetadata> topics = new ConcurrentHashMap<>();
  /** The last admin operation of each topic on this node: the next one starts after it (see {@link #serially}). */
  private final Map<String, Future<?>> adminOperations = new ConcurrentHashMap<>();
  private final AtomicInteger spread = new AtomicInteger();
  private final DeliveryEngine engine;
  private final io.micrometer.core.instrument.MeterRegistry registry;
  /** Topic name → its produce meters, looked up once per topic (a topic that exists). */
  private final Map<String, ProduceMeters> produceMeters = new ConcurrentHashMap<>();
  /** The first taking of every lease this node serves ({@link #checkReady}); null until the first check. */
  private volatile Future<Void> holding;

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
          return describe(remember(topic)).map(d -> new TopicCreated(creation.created(), d));
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
        .compose(deleted -> {
          if (!deleted) {
            return Future.<Void>failedFuture(notFound(name));
          }
          engine.topicDeleted(name);
          return Future.<Void>succeededFuture();
        })
        .recover(LocalBroker::fail);
  }

  // ---- topic administration ----------------------------------------------------------------------------------------

  @Override
  public Future<TopicDescription> updateTopicConfig(String name, JsonObject patch) {
    try {
      TopicNames.check(name);
      TopicConfigPatch.check(patch);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
    return serially(name, () -> store.topic(name).compose(current -> {
      if (current == null) {
        return Future.failedFuture(notFound(name));
      }
      TopicConfig wanted;
      try {
        wanted = TopicConfigPatch.apply(current, patch);
      } catch (BrokerException e) {
        return Future.failedFuture(e);
      }
      Future<Void> names = wanted.deadLetterTopic().equals(current.config().deadLetterTopic()) ? Future.succeededFuture()
          : checkDeadLetterNames(current, wanted.deadLetterTopic());
      // The patch applies to the config stored when the update lands (the store tries again if another came first).
      return names.compose(v -> store.updateTopicConfig(name, stored -> Values.storage(TopicConfigPatch.apply(
          new TopicMetadata(current.id(), name, current.partitions(), stored), patch))))
          .compose(this::changed);
    })).compose(this::describe).recover(LocalBroker::fail);
  }

  /**
   * A new dead-letter topic pattern must give a valid name for every group that reads the topic and has no pattern
   * of its own, or their dead letters could never be stored.
   */
  private Future<Void> checkDeadLetterNames(TopicMetadata topic, String pattern) {
    List<Future<String>> here = new ArrayList<>();
    for (GroupRuntime g : engine.groups()) {
      here.add(g.call(() -> Future.succeededFuture(g.topicNames().contains(topic.name()) ? g.name : null)));
    }
    Future<List<String>> stored = engine.ready().compose(v -> store.groupState().groupsOfTopic(topic.id()));
    return Future.all(stored, Future.all(here)).compose(v -> {
      Set<String> groups = new java.util.TreeSet<>(stored.result());
      for (Future<String> g : here) {
        if (g.result() != null) {
          groups.add(g.result());
        }
      }
      List<Future<String>> refused = new ArrayList<>();
      for (String group : groups) {
        if (!TopicNames.isValid(pattern.replace("{topic}", topic.name()).replace("{group}", group))) {
          refused.add(store.groupState().groupConfig(group)
              .map(c -> GroupConfig.fromJson(c).deadLetterTopic() != null ? null : group));
        }
      }
      return Future.all(refused);
    }).compose(all -> {
      for (String group : all.<String>list()) {
        if (group != null) {
          return Future.failedFuture(new BrokerException(BrokerError.INVALID_CONFIG, "'deadLetterTopic' \"" + pattern
              + "\" gives group " + group + " of topic " + topic.name() + " an invalid topic name; configure that "
              + "group's deadLetterTopic first, or choose a shorter pattern"));
        }
      }
      return Future.succeededFuture();
    });
  }


  @Override
  public Future<TopicDescription> growPartitions(String name, int partitions) {
    try {
      TopicNames.check(name);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
    return serially(name, () -> grow(name, partitions, true)).compose(this::describe).recover(LocalBroker::fail);
  }

  /**
   * Grows a topic to {@code partitions} and lets this node's caches and groups know; with {@code refuseIfNotMore}, a
   * topic that has that many already fails INVALID_REQUEST (else it is answered as it is).
   */
  private Future<TopicMetadata> grow(String name, int partitions, boolean refuseIfNotMore) {
    return store.topic(name).compose(current -> {
      if (current == null) {
        return Future.failedFuture(notFound(name));
      }
      if (partitions <= current.partitions()) {
        return refuseIfNotMore ? Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "topic " + name
            + " has " + current.partitions() + " partitions; partitions can only grow, so ask for more than "
            + current.partitions())) : changed(current);
      }
      if (partitions > MAX_PARTITIONS) {
        return Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "partitions must be at most "
            + MAX_PARTITIONS + ", not " + partitions));
      }
      return store.growPartitions(current.id(), partitions).compose(grown -> grown.partitions() == partitions
          || !refuseIfNotMore ? changed(grown)
          : Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "topic " + name + " has "
              + grown.partitions() + " partitions now (another change came first); nothing was changed")));
    });
  }

  /**
   * Caches a topic read from storage, unless the cache holds that topic already: only this node's own changes
   * ({@link #changed}) replace it, so a read that started before a change cannot put the older metadata back.
   */
  private TopicMetadata remember(TopicMetadata read) {
    return topics.compute(read.name(), (k, known) -> known != null && known.id().equals(read.id()) ? known : read);
  }

  /** This node's caches and groups take the topic's new metadata; completes once they have. */
  private Future<TopicMetadata> changed(TopicMetadata topic) {
    topics.compute(topic.name(), (k, known) -> known == null || known.id().equals(topic.id()) ? topic : known);
    return engine.topicChanged(topic)
        .recover(err -> {
          // Stored already: the change stands; a group that could not load a new partition loads it when next used.
          LOG.warn("a group could not take the change of topic {}: {}", topic.name(), err.getMessage());
          return Future.succeededFuture();
        })
        .map(topic);
  }

  /**
   * Runs one admin operation of a topic after the one before it on this node, so their answers and the caches they
   * update come in the order they were stored.
   */
  private <T> Future<T> serially(String topic, Supplier<Future<T>> operation) {
    ContextInternal caller = ContextInternal.current();
    Promise<T> result = caller != null ? caller.promise() : Promise.promise();
    Object[] mine = new Object[1];
    adminOperations.compute(topic, (k, before) -> {
      Future<T> next = (before == null ? Future.succeededFuture() : before).transform(ar -> {
        try {
          return operation.get();
        } catch (RuntimeException e) {
          return Future.failedFuture(e);
        }
      });
      mine[0] = next;
      return next;
    });
    @SuppressWarnings("unchecked")
    Future<T> next = (Future<T>) mine[0];
    next.onComplete(ar -> adminOperations.remove(topic, next)).onComplete(result);
    return result.future();
  }

  @Override
  public Future<TopicStats> topicStats(String name) {
    return topic(name).compose(store::stats).map(stats -> {
      List<TopicStats.Partition> partitions = new ArrayList<>();
      long records = 0;
      long bytes = 0;
      Long oldest = null;
      Long newest = null;
      for (var p : stats.partitions()) {
        Long first = p.oldestTimestamp() < 0 ? null : p.oldestTimestamp();
        Long last = p.newestTimestamp() < 0 ? null : p.newestTimestamp();
        long n = Math.max(0, p.highWatermark() - p.logStartOffset());
        partitions.add(new TopicStats.Partition(p.partition(), p.logStartOffset(), p.highWatermark(), n, p.bytes(),
            p.segments(), first, last));
        records += n;
        bytes += p.bytes();
        // Plain ifs: a conditional mixing Long and long would unbox a null and throw.
        if (first != null && (oldest == null || first < oldest)) {
          oldest = first;
        }
        if (last != null && (newest == null || last > newest)) {
          newest = last;
        }
      }
      return new TopicStats(name, partitions, records, bytes, stats.diskBytes(), stats.segments(), oldest, newest);
    }).recover(LocalBroker::fail);
  }

  @Override
  public Future<Long> offsetForTimestamp(String name, int partition, long timestamp) {
    if (timestamp < 0) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "a timestamp is 0 or more (epoch ms), "
          + "not " + timestamp));
    }
    return topic(name).compose(topic -> {
      if (partition < 0 || partition >= topic.partitions()) {
        return Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "partition " + partition
            + " does not exist; topic " + name + " has " + topic.partitions() + " partitions"));
      }
      return store.partition(topic, partition).offsetForTimestamp(timestamp);
    }).recover(LocalBroker::fail);
  }

  /** The names of the topics of these ids that exist (from memory when known there), by id. */
  Future<Map<UUID, String>> topicNames(Collection<UUID> ids) {
    Map<UUID, String> names = new HashMap<>();
    Set<UUID> missing = new HashSet<>(ids);
    for (TopicMetadata t : topics.values()) {
      if (missing.remove(t.id())) {
        names.put(t.id(), t.name());
      }
    }
    if (missing.isEmpty()) {
      return Future.succeededFuture(names);
    }
    return store.topics().map(all -> {
      for (TopicMetadata t : all) {
        if (missing.contains(t.id())) {
          names.put(t.id(), t.name());
        }
      }
      return names;
    });
  }

  /** The name of the topic of this id, or null when it no longer exists. */
  Future<String> topicName(UUID id) {
    return topicNames(List.of(id)).map(names -> names.get(id));
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
    return store.ping().compose(v -> holdsWhatItLeads()).recover(LocalBroker::fail);
  }

  /**
   * DESIGN.md section 6: a node is not ready until it holds what it leads and owns. On one node that is every
   * partition and every group with stored state: their leases are taken at the first readiness check (a restart
   * that could not prove its predecessor dead waits here for the predecessor's leases): the first check answers
   * when they are held, or fails with what is missing, and the next check tries again. Once held, new topics and
   * groups are taken when first used.
   */
  private Future<Void> holdsWhatItLeads() {
    Future<Void> taking = holding;
    if (taking == null || taking.failed()) {
      taking = takeLeases();
      holding = taking;
    }
    return taking;  // the first check answers once they are taken (milliseconds, unless another holds them)
  }

  private Future<Void> takeLeases() {
    Future<Void> partitions = store.topics().compose(list -> {
      List<Future<?>> all = new ArrayList<>();
      for (TopicMetadata topic : list) {
        for (int p = 0; p < topic.partitions(); p++) {
          all.add(store.partition(topic, p).offsets().recover(err -> gone(err) ? Future.succeededFuture()
              : Future.failedFuture(err)));
        }
      }
      return Future.all(all).mapEmpty();
    });
    Future<Void> groups = engine.ready().compose(v -> store.groupState().committedOffsets()).compose(stored -> {
      List<Future<?>> all = new ArrayList<>();
      stored.keySet().forEach(group -> all.add(inGroup(group, g -> Future.succeededFuture())));
      return Future.all(all).mapEmpty();
    });
    return Future.all(partitions, groups).<Void>mapEmpty()
        .onFailure(err -> LOG.info("not ready yet: {}", err.getMessage()));
  }

  /** A topic deleted while its leases were being taken. */
  private static boolean gone(Throwable err) {
    return err instanceof dev.runnel.durability.StorageException s
        && s.failure() == dev.runnel.durability.StorageFailure.TOPIC_NOT_FOUND;
  }

  @Override
  public Future<Void> checkLive() {
    return store.checkLive().recover(LocalBroker::fail);
  }

  /**
   * The newest metadata this node has of the topic {@code topic} names (the same topic, by id): a lookup that started
   * before a config change or a growth answers the older one.
   */
  TopicMetadata latest(TopicMetadata topic) {
    TopicMetadata known = topics.get(topic.name());
    return known != null && known.id().equals(topic.id()) ? known : topic;
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
          return remember(c.topic());
        });
    return topic.compose(t -> {
      if (partition < t.partitions()) {
        return Future.succeededFuture(store.partition(t, partition));
      }
      if (t.partitions() < origin.partitions()) {
        // The origin topic grew since: its dead-letter topic grows with it, keeping the same partition count.
        return serially(name, () -> grow(name, origin.partitions(), false)).compose(g -> partition < g.partitions()
            ? Future.succeededFuture(store.partition(g, partition)) : Future.failedFuture(new BrokerException(
                BrokerError.PARTITION_OUT_OF_RANGE, "dead-letter topic " + name + " has " + g.partitions()
                + " partitions; partition " + partition + " of " + origin.name() + " cannot go there")));
      }
      return Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "dead-letter topic " + name
          + " has " + t.partitions() + " partitions; partition " + partition + " of " + origin.name()
          + " cannot go there"));
    });
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
      return Future.succeededFuture(remember(t));
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
    return engine.ready().compose(v -> engine.group(group).callLive(action)).recover(LocalBroker::fail);
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
  public Future<List<SeekResult>> seek(String group, String topic, List<SeekPosition> positions, boolean dryRun) {
    return inGroup(group, g -> g.seek(topic, positions, dryRun));
  }

  @Override
  public Future<Void> configureGroup(String group, GroupConfig config) {
    return inGroup(group, g -> g.configure(config));
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
    return inGroup(group, GroupRuntime::allTopicNames);
  }

  @Override
  public Future<Void> deleteGroup(String group, boolean force) {
    return inGroup(group, g -> g.delete(force));
  }

  @Override
  public Future<Integer> deleteDeadLetters(String group, String topic, Integer partition, List<Long> offsets) {
    if (offsets != null && partition == null) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "dead letters chosen by offset need "
          + "their partition"));
    }
    return inGroup(group, g -> g.deleteDeadLetters(topic, partition, offsets));
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
  public Future<Integer> redrive(String group, String topic, boolean toGroup, Integer partition, List<Long> offsets) {
    return inGroup(group, g -> g.redrive(topic, toGroup, partition, offsets));
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
