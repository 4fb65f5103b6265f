package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.TopicNames;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * This node's view of the topic catalog: each topic's metadata, read from storage once and then answered from
 * memory, replaced only by changes (this node's own, or another node's once it is read again from storage).
 * Thread-safe: any context may call it.
 */
final class Topics {

  private static final Logger LOG = LoggerFactory.getLogger(Topics.class);

  private final LogStore store;
  private final Map<String, TopicMetadata> known = new ConcurrentHashMap<>();
  /** Tells this node's groups of a change: they take it before the change is answered. */
  private final Function<TopicMetadata, Future<Void>> groupsTake;
  /** Tells the other nodes of a change made here, by the topic's name (a cluster's {@link TopicNotices}). */
  private final Consumer<String> announce;

  Topics(LogStore store, Function<TopicMetadata, Future<Void>> groupsTake, Consumer<String> announce) {
    this.store = store;
    this.groupsTake = groupsTake;
    this.announce = announce;
  }

  /** The topic of that name (TOPIC_NOT_FOUND when there is none, INVALID_TOPIC_NAME for a bad name). */
  Future<TopicMetadata> get(String name) {
    try {
      TopicNames.check(name);
    } catch (BrokerException e) {
      return Future.failedFuture(e);
    }
    TopicMetadata topic = known.get(name);
    if (topic != null) {
      return Future.succeededFuture(topic);
    }
    return store.topic(name).compose(t -> t == null ? Future.failedFuture(notFound(name))
        : Future.succeededFuture(remember(t)));
  }

  /** The topic as known in memory, or null. */
  TopicMetadata cached(String name) {
    return known.get(name);
  }

  /**
   * The newest metadata this node has of the topic {@code topic} names (the same topic, by id): a lookup that started
   * before a config change or a growth answers the older one.
   */
  TopicMetadata latest(TopicMetadata topic) {
    TopicMetadata newest = known.get(topic.name());
    return newest != null && newest.id().equals(topic.id()) ? newest : topic;
  }

  /**
   * Caches a topic read from storage, unless the cache holds that topic already: only this node's own changes
   * ({@link #changed}) replace it, so a read that started before a change cannot put the older metadata back.
   */
  TopicMetadata remember(TopicMetadata read) {
    return known.compute(read.name(), (k, held) -> held != null && held.id().equals(read.id()) ? held : read);
  }

  /**
   * A change made here: this node's caches and groups take the topic's new metadata (completes once they have), then
   * the other nodes are told.
   */
  Future<TopicMetadata> changed(TopicMetadata topic) {
    return take(topic).onSuccess(t -> announce.accept(t.name()));
  }

  /** The topic was deleted here: the other nodes are told. */
  void deletedHere(String name) {
    announce.accept(name);
  }

  /** This node's caches and groups take the topic's new metadata (a change made here or on another node). */
  Future<TopicMetadata> take(TopicMetadata topic) {
    known.compute(topic.name(), (k, held) -> held == null || held.id().equals(topic.id()) ? topic : held);
    return groupsTake.apply(topic)
        .recover(err -> {
          // Stored already: the change stands; a group that could not load a new partition loads it when next used.
          LOG.warn("a group could not take the change of topic {}: {}", topic.name(), err.getMessage());
          return Future.succeededFuture();
        })
        .map(topic);
  }

  /** The topic is gone (deleted here, or found missing by a write). */
  void forget(String name) {
    known.remove(name);
  }

  /** The names of the topics of these ids that exist (from memory when known there), by id. */
  Future<Map<UUID, String>> names(Collection<UUID> ids) {
    Map<UUID, String> names = new HashMap<>();
    Set<UUID> missing = new HashSet<>(ids);
    for (TopicMetadata t : known.values()) {
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
  Future<String> name(UUID id) {
    return names(List.of(id)).map(names -> names.get(id));
  }

  static BrokerException notFound(String name) {
    return new BrokerException(BrokerError.TOPIC_NOT_FOUND, "topic " + name + " does not exist");
  }
}
