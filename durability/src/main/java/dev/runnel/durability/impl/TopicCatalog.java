package dev.runnel.durability.impl;

import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicCreation;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicStats;
import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * The topics of a {@link PgLogStore}: creates, lists and looks them up, changes their config, grows and deletes them,
 * and tells their sizes. A change reaches the topic's partition writers before it completes, and the latest metadata
 * of each topic changed here is kept for the writers made later from older metadata.
 *
 * <p>Threads: any; its one map is concurrent, and the writers take a change on their own contexts.
 */
final class TopicCatalog {

  /** How often an update is tried again when other updates of the same topic keep landing first. */
  private static final int UPDATE_ATTEMPTS = 10;

  private final PgLogStore store;
  /** The latest metadata of each topic this store changed (config, growth), for writers created from an older one. */
  private final Map<UUID, TopicMetadata> changedTopics = new ConcurrentHashMap<>();

  TopicCatalog(PgLogStore store) {
    this.store = store;
  }

  /** The newest metadata this store knows of {@code topic}: its own, unless a change was made here since. */
  TopicMetadata latest(TopicMetadata topic) {
    return changedTopics.getOrDefault(topic.id(), topic);
  }

  /** The metadata of the topic's last change made here, or null. */
  TopicMetadata changed(UUID topicId) {
    return changedTopics.get(topicId);
  }

  Future<TopicCreation> createTopic(String name, int partitions, TopicConfig config) {
    UUID id = UUID.randomUUID();
    return store.client().preparedQuery("""
            WITH t AS (INSERT INTO topics (topic_id, name, partitions, config) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (name) DO NOTHING RETURNING topic_id, partitions)
            INSERT INTO partitions (topic_id, partition)
            SELECT t.topic_id, g FROM t, generate_series(0, t.partitions - 1) g""")
        .execute(Tuple.of(id, name, partitions, config.toJson()))
        .compose(v -> topic(name))
        .map(topic -> new TopicCreation(topic.id().equals(id), topic));
  }

  Future<TopicMetadata> topic(String name) {
    return store.client().preparedQuery("SELECT topic_id, name, partitions, config FROM topics WHERE name = $1")
        .execute(Tuple.of(name))
        .map(rows -> rows.rowCount() == 0 ? null : toTopic(rows.iterator().next()));
  }

  Future<List<TopicMetadata>> topics() {
    return store.client().preparedQuery("SELECT topic_id, name, partitions, config FROM topics ORDER BY name")
        .execute()
        .map(rows -> {
          List<TopicMetadata> list = new ArrayList<>();
          rows.forEach(r -> list.add(toTopic(r)));
          return list;
        });
  }

  private static TopicMetadata toTopic(Row row) {
    return new TopicMetadata(row.getUUID("topic_id"), row.getString("name"), row.getInteger("partitions"),
        TopicConfig.fromJson(json(row.getValue("config"))));
  }

  private static JsonObject json(Object config) {
    return config instanceof JsonObject j ? j : new JsonObject(String.valueOf(config));
  }

  Future<TopicMetadata> updateTopicConfig(String name, UnaryOperator<TopicConfig> change) {
    return updateTopicConfig(name, change, 1);
  }

  private Future<TopicMetadata> updateTopicConfig(String name, UnaryOperator<TopicConfig> change, int attempt) {
    return store.client().preparedQuery("SELECT topic_id, name, partitions, config FROM topics WHERE name = $1")
        .execute(Tuple.of(name))
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return Future.failedFuture(new StorageException(StorageFailure.TOPIC_NOT_FOUND, "topic " + name
                + " does not exist"));
          }
          Row row = rows.iterator().next();
          JsonObject stored = json(row.getValue("config"));
          TopicMetadata current = toTopic(row);
          TopicConfig updated;
          try {
            updated = change.apply(current.config());
          } catch (RuntimeException e) {
            return Future.failedFuture(e);
          }
          if (updated.equals(current.config())) {
            return Future.succeededFuture(current);
          }
          boolean window = updated.dedupWindowMs() != current.config().dedupWindowMs();
          // Compared with the stored JSON itself, so the update lands only on the config that change saw.
          String sql = window ? """
              WITH t AS (UPDATE topics SET config = $3 WHERE topic_id = $1 AND config = $2 RETURNING topic_id),
                   k AS (UPDATE dedup_keys d SET expires_at = d.record_timestamp + $4 FROM t
                          WHERE d.topic_id = t.topic_id RETURNING 1)
              SELECT (SELECT count(*) FROM t) AS updated, (SELECT count(*) FROM k) AS keys"""
              : """
              WITH t AS (UPDATE topics SET config = $3 WHERE topic_id = $1 AND config = $2 RETURNING topic_id)
              SELECT (SELECT count(*) FROM t) AS updated""";
          Tuple params = Tuple.of(current.id(), stored, updated.toJson());
          if (window) {
            params.addLong(updated.dedupWindowMs());
          }
          return store.client().preparedQuery(sql).execute(params).compose(result -> {
            if (result.iterator().next().getLong("updated") == 1) {
              TopicMetadata topic = new TopicMetadata(current.id(), current.name(), current.partitions(), updated);
              return topicChanged(topic).map(topic);
            }
            if (attempt >= UPDATE_ATTEMPTS) {
              return Future.failedFuture(new StorageException(StorageFailure.UNAVAILABLE, "the config of topic "
                  + name + " kept changing under this update; nothing was changed: try again"));
            }
            return updateTopicConfig(name, change, attempt + 1);  // another update landed first: apply to it
          });
        });
  }

  Future<TopicMetadata> growPartitions(UUID topicId, int partitions) {
    // As the lease acquisition does: the sub-select locks the row before the update, so two growths of one topic
    // take turns and each sees the count the other left.
    return store.client().preparedQuery("""
            WITH t AS (UPDATE topics u SET partitions = $2
                         FROM (SELECT topic_id, partitions FROM topics WHERE topic_id = $1 FOR UPDATE) old
                        WHERE u.topic_id = old.topic_id AND old.partitions < $2
                       RETURNING u.topic_id, old.partitions AS before),
                 p AS (INSERT INTO partitions (topic_id, partition)
                       SELECT t.topic_id, g FROM t, generate_series(t.before, $2 - 1) g RETURNING 1),
                 o AS (INSERT INTO group_offsets (group_name, topic_id, partition, committed_offset, skipped)
                       SELECT x.group_name, t.topic_id, g, 0, 0
                         FROM t, generate_series(t.before, $2 - 1) g,
                              (SELECT DISTINCT group_name FROM group_offsets WHERE topic_id = $1) x
                       ON CONFLICT DO NOTHING RETURNING 1)
            SELECT (SELECT count(*) FROM t) AS grown, (SELECT count(*) FROM p) AS partitions,
                   (SELECT count(*) FROM o) AS positions""")
        .execute(Tuple.of(topicId, partitions))
        .compose(rows -> store.client().preparedQuery("SELECT topic_id, name, partitions, config FROM topics WHERE topic_id = $1")
            .execute(Tuple.of(topicId)))
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return Future.failedFuture(new StorageException(StorageFailure.TOPIC_NOT_FOUND, "the topic was deleted"));
          }
          TopicMetadata topic = toTopic(rows.iterator().next());
          return topicChanged(topic).map(topic);
        });
  }

  /** The topic's writers use its new metadata once this completes. */
  private Future<Void> topicChanged(TopicMetadata topic) {
    changedTopics.put(topic.id(), topic);  // first: a writer created from here on starts with it (see partition)
    List<Future<Void>> applied = new ArrayList<>();
    for (PartitionWriter w : store.writersOf(topic.id())) {
      applied.add(w.topicChanged(topic));
    }
    return Future.all(applied).mapEmpty();
  }

  Future<TopicStats> stats(TopicMetadata topic) {
    Future<List<TopicStats.Partition>> partitions = store.readClient().preparedQuery("""
            SELECT p.partition, p.log_start_offset,
                   greatest(p.log_start_offset, coalesce(max(s.last_offset) + 1, p.log_start_offset)) AS end_offset,
                   coalesce(sum(s.bytes), 0)::bigint AS bytes, count(s.segment_no)::int AS segments,
                   coalesce(min(s.oldest_timestamp), -1) AS oldest, coalesce(max(s.newest_timestamp), -1) AS newest
              FROM partitions p LEFT JOIN runnel_segment_stats($1) s ON s.partition = p.partition
             WHERE p.topic_id = $1
             GROUP BY p.partition, p.log_start_offset
             ORDER BY p.partition""")
        .execute(Tuple.of(topic.id()))
        .map(rows -> {
          List<TopicStats.Partition> list = new ArrayList<>();
          for (Row r : rows) {
            list.add(new TopicStats.Partition(r.getInteger("partition"), r.getLong("log_start_offset"),
                r.getLong("end_offset"), r.getLong("bytes"), r.getInteger("segments"), r.getLong("oldest"),
                r.getLong("newest")));
          }
          return list;
        });
    Future<long[]> segments = store.readClient().preparedQuery("""
            SELECT coalesce(sum(coalesce(pg_total_relation_size(to_regclass(table_name)), 0)), 0)::bigint, count(*)
              FROM segments WHERE topic_id = $1""")
        .execute(Tuple.of(topic.id()))
        .map(rows -> new long[] {rows.iterator().next().getLong(0), rows.iterator().next().getLong(1)});
    return Future.all(partitions, segments).map(v -> new TopicStats(partitions.result(), segments.result()[0],
        (int) segments.result()[1]));
  }

  /**
   * Reads {@code held}'s topic again after another node changed it: when it is still there, this store's writers take
   * its new metadata; when it is gone (or its name is now another topic's), its writers fail TOPIC_NOT_FOUND. Answers
   * what the name holds now, or null.
   */
  Future<TopicMetadata> refresh(TopicMetadata held) {
    return topic(held.name()).compose(now -> {
      if (now != null && now.id().equals(held.id())) {
        return topicChanged(now).map(now);
      }
      changedTopics.remove(held.id());
      store.abortWriters(held.id(), new StorageException(StorageFailure.TOPIC_NOT_FOUND, "topic " + held.name()
          + " was deleted"));
      WriteMeters.remove(store.options().getMeterRegistry(), held.name());
      return Future.succeededFuture(now);
    });
  }

  Future<Boolean> deleteTopic(String name) {
    return topic(name).compose(topic -> {
      if (topic == null) {
        return Future.succeededFuture(false);
      }
      StorageException gone = new StorageException(StorageFailure.TOPIC_NOT_FOUND, "topic " + name + " was deleted");
      changedTopics.remove(topic.id());
      store.abortWriters(topic.id(), gone);
      WriteMeters.remove(store.options().getMeterRegistry(), name);
      return store.client().preparedQuery("SELECT runnel_drop_topic($1)").execute(Tuple.of(topic.id())).map(true);
    });
  }

}
