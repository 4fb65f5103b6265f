package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.PartitionOffsets;
import dev.runnel.broker.TopicConfig;
import dev.runnel.broker.TopicCreated;
import dev.runnel.broker.TopicDescription;
import dev.runnel.broker.TopicNames;
import dev.runnel.broker.TopicStats;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Topic administration: create, describe, list, change config, grow, delete, stats, and a group's dead-letter
 * topics created on first use. The operations of one topic run one after another on this node ({@link #serially}),
 * so their answers and the caches they update come in the order they were stored. Any context may call it.
 */
final class TopicAdmin {

  static final int MAX_PARTITIONS = 10_000;

  private final LogStore store;
  private final Topics topics;
  private final Routes routes;
  private final DeliveryEngine engine;
  /** The last admin operation of each topic on this node: the next one starts after it. */
  private final Map<String, Future<?>> operations = new ConcurrentHashMap<>();

  TopicAdmin(LogStore store, Topics topics, Routes routes, DeliveryEngine engine) {
    this.store = store;
    this.topics = topics;
    this.routes = routes;
    this.engine = engine;
  }

  Future<TopicCreated> create(String name, int partitions, TopicConfig config) {
    TopicNames.check(name);
    if (partitions < 1 || partitions > MAX_PARTITIONS) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "partitions must be between 1 and " + MAX_PARTITIONS);
    }
    return store.createTopic(name, partitions, Values.storage(config)).compose(creation -> {
      TopicMetadata topic = creation.topic();
      if (!creation.created() && (topic.partitions() != partitions
          || !Values.config(topic.config()).equals(config))) {
        return Future.failedFuture(new BrokerException(BrokerError.TOPIC_EXISTS, "topic " + name
            + " already exists with " + topic.partitions() + " partitions and config " + topic.config().toJson()));
      }
      return describe(topics.remember(topic)).map(d -> new TopicCreated(creation.created(), d));
    });
  }

  Future<List<TopicDescription>> list() {
    return store.topics().compose(list -> {
      List<Future<TopicDescription>> all = new ArrayList<>();
      for (TopicMetadata t : list) {
        all.add(describe(t));
      }
      return Future.all(all).map(cf -> cf.<TopicDescription>list());
    });
  }

  Future<TopicDescription> describe(TopicMetadata topic) {
    List<Future<PartitionOffsets>> offsets = new ArrayList<>();
    for (int p = 0; p < topic.partitions(); p++) {
      offsets.add(routes.leader(topic, p).offsets().map(Values::offsets));
    }
    return Future.all(offsets).map(cf -> new TopicDescription(topic.name(), cf.list(), Values.config(topic.config())));
  }

  /** Deletes the topic, its records and its groups' positions in it; TOPIC_NOT_FOUND when there is none. */
  Future<Void> delete(String name) {
    TopicNames.check(name);
    topics.forget(name);
    return store.deleteTopic(name).compose(deleted -> {
      if (!deleted) {
        return Future.<Void>failedFuture(Topics.notFound(name));
      }
      engine.topicDeleted(name);
      topics.deletedHere(name);
      return Future.<Void>succeededFuture();
    });
  }

  Future<TopicDescription> updateConfig(String name, JsonObject patch) {
    TopicNames.check(name);
    TopicConfigPatch.check(patch);
    return serially(name, () -> store.topic(name).compose(current -> {
      if (current == null) {
        return Future.failedFuture(Topics.notFound(name));
      }
      TopicConfig wanted = TopicConfigPatch.apply(current, patch);
      Future<Void> names = wanted.deadLetterTopic().equals(current.config().deadLetterTopic()) ? Future.succeededFuture()
          : checkDeadLetterNames(current, wanted.deadLetterTopic());
      // The patch applies to the config stored when the update lands (the store tries again if another came first).
      return names.compose(v -> store.updateTopicConfig(name, stored -> Values.storage(TopicConfigPatch.apply(
          new TopicMetadata(current.id(), name, current.partitions(), stored), patch))))
          .compose(topics::changed);
    })).compose(this::describe);
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
      Set<String> groups = new TreeSet<>(stored.result());
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

  Future<TopicDescription> grow(String name, int partitions) {
    TopicNames.check(name);
    return serially(name, () -> grow(name, partitions, true)).compose(this::describe);
  }

  /**
   * Grows a topic to {@code partitions} and lets this node's caches and groups know; with {@code refuseIfNotMore}, a
   * topic that has that many already fails INVALID_REQUEST (else it is answered as it is).
   */
  private Future<TopicMetadata> grow(String name, int partitions, boolean refuseIfNotMore) {
    return store.topic(name).compose(current -> {
      if (current == null) {
        return Future.failedFuture(Topics.notFound(name));
      }
      if (partitions <= current.partitions()) {
        return refuseIfNotMore ? Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "topic " + name
            + " has " + current.partitions() + " partitions; partitions can only grow, so ask for more than "
            + current.partitions())) : topics.changed(current);
      }
      if (partitions > MAX_PARTITIONS) {
        return Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "partitions must be at most "
            + MAX_PARTITIONS + ", not " + partitions));
      }
      return store.growPartitions(current.id(), partitions).compose(grown -> grown.partitions() == partitions
          || !refuseIfNotMore ? topics.changed(grown)
          : Future.failedFuture(new BrokerException(BrokerError.INVALID_REQUEST, "topic " + name + " has "
              + grown.partitions() + " partitions now (another change came first); nothing was changed")));
    });
  }

  /** A group's dead-letter topic partition: the topic is created on first use with the origin's partition count. */
  Future<PartitionLeader> deadLetterLeader(String name, TopicMetadata origin, int partition) {
    TopicMetadata known = topics.cached(name);
    Future<TopicMetadata> topic = known != null ? Future.succeededFuture(known)
        : store.createTopic(name, origin.partitions(), dev.runnel.durability.TopicConfig.DEFAULT)
            .map(c -> topics.remember(c.topic()));
    return topic.compose(t -> {
      if (partition < t.partitions()) {
        return Future.succeededFuture(routes.leader(t, partition));
      }
      // The origin topic grew since: its dead-letter topic grows with it, keeping the same partition count.
      Future<TopicMetadata> grown = t.partitions() < origin.partitions()
          ? serially(name, () -> grow(name, origin.partitions(), false)) : Future.succeededFuture(t);
      return grown.compose(g -> partition < g.partitions() ? Future.succeededFuture(routes.leader(g, partition))
          : Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "dead-letter topic " + name
              + " has " + g.partitions() + " partitions; partition " + partition + " of " + origin.name()
              + " cannot go there")));
    });
  }

  Future<TopicStats> stats(String name) {
    return topics.get(name).compose(store::stats).map(stats -> {
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
    });
  }

  /** Runs one admin operation of a topic after the one before it on this node. */
  private <T> Future<T> serially(String topic, Supplier<Future<T>> operation) {
    ContextInternal caller = ContextInternal.current();
    Promise<T> result = caller != null ? caller.promise() : Promise.promise();
    Object[] mine = new Object[1];
    operations.compute(topic, (k, before) -> {
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
    next.onComplete(ar -> operations.remove(topic, next)).onComplete(result);
    return result.future();
  }
}
