package dev.runnel.durability.impl;

import dev.runnel.durability.LogRecord;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The idempotency keys of one partition within the topic's dedup window, for its writer (context-confined).
 *
 * <p>Keys this writer stored are remembered in memory until they expire. Keys stored before this writer acquired the
 * partition (by an earlier life of the node, or another node) are looked up in {@code dedup_keys}, and only while
 * they can still be in the window: once the window has passed since the acquisition, memory knows every live key and
 * a write costs no extra query.
 *
 * <p>A key is a duplicate while its record is younger than the topic's {@code dedupWindowMs} in force now, so a
 * changed window applies at once to the keys already known (the store moves their stored expiry in the same
 * statement as the config; those already forgotten do not come back).
 */
final class DedupKeys {

  private record Known(long offset, long timestamp) {
  }

  private final PgLogStore store;
  private TopicMetadata topic;
  private final int partition;
  private final LinkedHashMap<String, Known> recent = new LinkedHashMap<>();
  private long acquiredAt = Long.MAX_VALUE;

  DedupKeys(PgLogStore store, TopicMetadata topic, int partition) {
    this.store = store;
    this.topic = topic;
    this.partition = partition;
  }

  void acquired(long now) {
    acquiredAt = now;
  }

  void topicChanged(TopicMetadata changed) {
    topic = changed;
  }

  /**
   * Idempotency key → {offset, timestamp} of the records already stored among these records' keys (the records of a
   * write that deduplicate: all with the topic's {@code dedup} on, else those appended once).
   */
  Future<Map<String, long[]>> known(List<LogRecord> records) {
    if (records.isEmpty()) {
      return Future.succeededFuture(Map.of());
    }
    long now = store.options().getClock().millis();
    expire(now);
    Map<String, long[]> found = new HashMap<>();
    List<String> unknown = new ArrayList<>();
    for (LogRecord r : records) {
      String key = r.idempotencyKey();
      if (key == null || found.containsKey(key)) {
        continue;
      }
      Known k = recent.get(key);
      if (k != null) {
        found.put(key, new long[] {k.offset, k.timestamp});
      } else {
        unknown.add(key);
      }
    }
    long window = topic.config().dedupWindowMs();
    if (unknown.isEmpty() || now - acquiredAt > window) {
      return Future.succeededFuture(found);
    }
    return store.client().preparedQuery("""
            SELECT idempotency_key, record_offset, record_timestamp FROM dedup_keys
             WHERE topic_id = $1 AND partition = $2 AND idempotency_key = ANY($3) AND record_timestamp > $4""")
        .execute(Tuple.of(topic.id(), partition, unknown.toArray(new String[0]), now - window))
        .map(rows -> {
          for (Row r : rows) {
            found.put(r.getString(0), new long[] {r.getLong(1), r.getLong(2)});
          }
          return found;
        });
  }

  void remember(Map<String, Long> keys, long timestamp) {
    keys.forEach((key, offset) -> {
      recent.remove(key);
      recent.put(key, new Known(offset, timestamp));
    });
  }

  private void expire(long now) {
    long window = topic.config().dedupWindowMs();
    for (Iterator<Known> it = recent.values().iterator(); it.hasNext(); ) {
      if (it.next().timestamp + window > now) {
        break;  // insertion order is timestamp order (a partition's timestamps never go back): the rest are younger
      }
      it.remove();
    }
  }
}
