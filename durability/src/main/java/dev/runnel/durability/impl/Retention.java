package dev.runnel.durability.impl;

import dev.runnel.durability.RetentionGuard;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Retention of a {@link PgLogStore}'s topics: per topic by time (a segment goes when its whole time bucket is older
 * than {@code retentionMs}) and by size (the oldest segments first while the rest still hold {@code retentionBytes},
 * the newest always kept), each segment dropped whole once the {@link RetentionGuard} let it go, and the writers told
 * where their logs start now; expired idempotency keys are deleted first. A pass runs on its timer or when called.
 *
 * <p>Threads: any; a pass is a chain of statements, the guard is volatile, the writers take the new log starts on
 * their own contexts.
 */
final class Retention {

  private static final Logger LOG = LoggerFactory.getLogger(Retention.class);

  /** One of a topic's segments and its size on disk. */
  record Segment(long number, long bytes) {
  }

  private final Vertx vertx;
  private final PgLogStore store;
  private final TopicCatalog catalog;
  /** The periodic pass, or -1 without one. */
  private final long timer;
  private volatile RetentionGuard guard = (topic, starts) -> Future.succeededFuture();

  /** Starts a pass every {@code retentionCheckMs} of the store's options, unless that is 0. */
  Retention(Vertx vertx, PgLogStore store, TopicCatalog catalog) {
    this.vertx = vertx;
    this.store = store;
    this.catalog = catalog;
    long every = store.options().getRetentionCheckMs();
    this.timer = every > 0
        ? vertx.setPeriodic(every, id -> enforce().onFailure(err -> LOG.warn("retention pass failed: {}", err.getMessage())))
        : -1;
  }

  void setGuard(RetentionGuard guard) {
    this.guard = guard;
  }

  /** Stops the periodic pass. */
  void stop() {
    if (timer != -1) {
      vertx.cancelTimer(timer);
    }
  }

  /** One pass over every topic. */
  Future<Void> enforce() {
    // Expired idempotency keys: a small keyed table, so a plain DELETE by expiry (indexed) is fine here. The window in
    // force decides (a key written while the window grew may carry the older, shorter expiry).
    Future<Void> keys = store.client().preparedQuery("""
            DELETE FROM dedup_keys d USING topics t
             WHERE d.expires_at < $1 AND t.topic_id = d.topic_id
               AND d.record_timestamp + (t.config ->> 'dedupWindowMs')::bigint < $1""")
        .execute(Tuple.of(store.options().getClock().millis())).mapEmpty();
    return keys.compose(v -> catalog.topics()).compose(list -> {
      Future<Void> chain = Future.succeededFuture();
      for (TopicMetadata topic : list) {
        chain = chain.compose(v -> retain(topic));
      }
      return chain;
    });
  }

  /**
   * The segments ({@code segments}: the topic's, oldest first) that {@code config} no longer keeps at {@code now}: a
   * prefix of them, since a segment is dropped only with every older one.
   */
  static List<Long> toDrop(TopicConfig config, List<Segment> segments, long now) {
    long total = 0;
    for (Segment s : segments) {
      total += s.bytes();
    }
    List<Long> drop = new ArrayList<>();
    for (int i = 0; i < segments.size(); i++) {
      long segment = segments.get(i).number();
      long bytes = segments.get(i).bytes();
      boolean expired = config.retentionMs() != -1
          && (segment + 1) * config.segmentMs() <= now - config.retentionMs();
      // By size, the newest segment always stays: it may be the one being written.
      boolean oversize = config.retentionBytes() != -1 && i < segments.size() - 1
          && total - bytes >= config.retentionBytes();
      if (!expired && !oversize) {
        break;
      }
      drop.add(segment);
      total -= bytes;
    }
    return drop;
  }

  private Future<Void> retain(TopicMetadata topic) {
    TopicConfig config = topic.config();
    if (config.retentionMs() == -1 && config.retentionBytes() == -1) {
      return Future.succeededFuture();
    }
    return store.client().preparedQuery("""
            SELECT segment_no, coalesce(pg_total_relation_size(to_regclass(table_name)), 0) AS bytes
              FROM segments WHERE topic_id = $1 ORDER BY segment_no""")
        .execute(Tuple.of(topic.id()))
        .compose(rows -> {
          List<Segment> segments = new ArrayList<>();
          for (Row r : rows) {
            segments.add(new Segment(r.getLong(0), r.getLong(1)));
          }
          List<Long> drop = toDrop(config, segments, store.options().getClock().millis());
          if (drop.isEmpty()) {
            return Future.succeededFuture();
          }
          Future<Void> chain = Future.succeededFuture();
          for (long segment : drop) {
            // First the guard (the broker dead-letters parked records in the segment), then the drop.
            chain = chain
                .compose(v -> store.client().preparedQuery("SELECT partition, max(last_offset) + 1 FROM "
                    + Sql.table(topic.id(), segment) + " GROUP BY partition").execute())
                .compose(ends -> {
                  Map<Integer, Long> starts = new HashMap<>();
                  ends.forEach(r -> starts.put(r.getInteger(0), r.getLong(1)));
                  return guard.beforeDrop(topic, starts);
                })
                .compose(v -> store.client().preparedQuery("SELECT runnel_drop_segment($1, $2)")
                    .execute(Tuple.of(topic.id(), segment)).<Void>mapEmpty());
          }
          return chain
              .recover(err -> {
                // Typically the lock timeout: a reader is inside the segment. The next pass tries again.
                LOG.info("retention of {} stopped early: {}", topic.name(), err.getMessage());
                return Future.succeededFuture();
              })
              .compose(v -> publishLogStarts(topic));
        });
  }

  private Future<Void> publishLogStarts(TopicMetadata topic) {
    return store.client().preparedQuery("SELECT partition, log_start_offset FROM partitions WHERE topic_id = $1")
        .execute(Tuple.of(topic.id()))
        .compose(rows -> {
          List<Future<Void>> applied = new ArrayList<>();
          for (Row r : rows) {
            PartitionWriter w = store.writer(new TopicPartition(topic.id(), r.getInteger(0)));
            if (w != null) {
              applied.add(w.logStartMoved(r.getLong(1)));
            }
          }
          return Future.all(applied).mapEmpty();
        });
  }
}
