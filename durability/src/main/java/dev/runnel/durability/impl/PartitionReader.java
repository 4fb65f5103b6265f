package dev.runnel.durability.impl;

import dev.runnel.durability.LogRecord;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;

import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * One partition's committed log, as its writer made it: reads records (from the tail cache, else from the segment
 * tables through {@link StoredBatchReader}), its offsets and the offset of a time; and the committed view those read,
 * which the writer moves as it commits: the log start, the high watermark, the segment index, the cached blocks, and
 * the listeners told of each commit.
 *
 * <p>Threads: reads may be called from any thread or context and complete on the caller's; the view is moved only on
 * the writer's context (what readers read of it is volatile or concurrent).
 */
final class PartitionReader {

  /** Where the stored log ends, as an acquisition reads it: the end offset, the last batch's time and segment. */
  record StoredEnd(long end, long timestamp, long segment) {
  }

  private final PgLogStore store;
  /** The writer's current metadata (its id, name and segment width never change). */
  private final Supplier<TopicMetadata> topic;
  private final int partition;
  /** Succeeds once the writer holds the partition, acquiring it first if needed. */
  private final Supplier<Future<Void>> started;
  private final TailCache.Partition cached = new TailCache.Partition();
  /** Base offset of this partition's first batch in each segment → segment number. */
  private final ConcurrentSkipListMap<Long, Long> segmentStarts = new ConcurrentSkipListMap<>();
  private final StoredBatchReader stored;
  private final List<LongConsumer> commitListeners = new CopyOnWriteArrayList<>();
  private volatile long highWatermark;
  private volatile long logStartOffset;

  PartitionReader(PgLogStore store, Supplier<TopicMetadata> topic, int partition, Supplier<Future<Void>> started) {
    this.store = store;
    this.topic = topic;
    this.partition = partition;
    this.started = started;
    this.stored = new StoredBatchReader(store, topic.get().id(), partition, segmentStarts, this::name);
  }

  // ---- reads (any thread) --------------------------------------------------------------------------------------

  Future<PartitionOffsets> offsets() {
    Promise<PartitionOffsets> promise = PartitionWriter.callerPromise();
    started.get().map(v -> new PartitionOffsets(partition, logStartOffset, highWatermark)).onComplete(promise);
    return promise.future();
  }

  Future<ReadResult> read(long offset, int maxRecords, int maxBytes) {
    Promise<ReadResult> promise = PartitionWriter.callerPromise();
    started.get().compose(v -> {
      long start = logStartOffset;
      long end = highWatermark;
      if (offset < start || offset > end) {
        return Future.failedFuture(new StorageException(StorageFailure.OFFSET_OUT_OF_RANGE,
            "offset " + offset + " is outside [" + start + ", " + end + "] of " + name()));
      }
      if (offset == end || maxRecords <= 0) {
        return Future.succeededFuture(new ReadResult(List.of(), offset, end, start));
      }
      List<LogRecord> fromCache = store.cache().read(cached, offset, maxRecords, maxBytes);
      if (fromCache != null) {
        return Future.succeededFuture(result(fromCache, offset));
      }
      RecordBlock.Gathered out = new RecordBlock.Gathered(maxRecords, maxBytes);
      return stored.read(offset, end, out).map(next -> new ReadResult(out.records, next, highWatermark, logStartOffset));
    }).onComplete(promise);
    return promise.future();
  }

  Future<Long> offsetForTimestamp(long timestamp) {
    Promise<Long> promise = PartitionWriter.callerPromise();
    started.get().compose(v -> stored.offsetForTimestamp(timestamp, topic.get().config().segmentMs(), logStartOffset,
        highWatermark)).onComplete(promise);
    return promise.future();
  }

  private ReadResult result(List<LogRecord> records, long offset) {
    long next = records.isEmpty() ? offset : records.get(records.size() - 1).offset() + 1;
    return new ReadResult(records, next, highWatermark, logStartOffset);
  }

  long highWatermark() {
    return highWatermark;
  }

  long logStart() {
    return logStartOffset;
  }

  void onCommit(LongConsumer listener) {
    commitListeners.add(listener);
  }

  void removeCommitListener(LongConsumer listener) {
    commitListeners.remove(listener);
  }

  // ---- the view, moved by the writer (its context) -------------------------------------------------------------

  /**
   * An acquisition read the log start {@code logStart}: loads the segment index again and reads where the stored log
   * ends, from the last segment's last batch.
   */
  Future<StoredEnd> storedEnd(long logStart) {
    logStartOffset = logStart;
    UUID topicId = topic.get().id();
    return store.client().preparedQuery(Sql.SEGMENT_STARTS).execute(Tuple.of(topicId, partition))
        .compose(rows -> {
          segmentStarts.clear();
          for (Row row : rows) {
            segmentStarts.put(row.getLong("base_offset"), row.getLong("segment_no"));
          }
          if (segmentStarts.isEmpty()) {
            return Future.succeededFuture(new StoredEnd(logStartOffset, 0, LogEnd.NO_SEGMENT));
          }
          Map.Entry<Long, Long> latest = segmentStarts.lastEntry();
          return store.client().preparedQuery(Sql.lastBatch(topicId, latest.getValue()))
              .execute(Tuple.of(partition))
              .map(last -> last.rowCount() == 0
                  ? new StoredEnd(latest.getKey(), 0, latest.getValue())
                  : new StoredEnd(last.iterator().next().getLong("last_offset") + 1,
                      last.iterator().next().getLong("max_timestamp"), latest.getValue()));
        });
  }

  /** The committed log ends at {@code offset}: after an acquisition, or when retention dropped all of it. */
  void endAt(long offset) {
    highWatermark = offset;
  }

  /** The writer opened {@code segment} for a batch at {@code base}. */
  void segmentOpened(long base, long segment) {
    segmentStarts.putIfAbsent(base, segment);
  }

  /**
   * A write of the records {@code base..last} committed: readers see it, from the cache, and then the listeners hear
   * of it (before the producers get their answers, so a consumer woken by a producer's answer finds it announced).
   */
  void committed(Buffer block, long base, long last) {
    highWatermark = last + 1;
    store.cache().put(cached, block, base, last);
    for (LongConsumer listener : commitListeners) {
      listener.accept(last + 1);
    }
  }

  /** Retention moved the log start: forget what lies below it. False when it did not move forward. */
  boolean logStartMoved(long newStart) {
    if (newStart <= logStartOffset) {
      return false;
    }
    logStartOffset = newStart;
    store.cache().evictBelow(cached, newStart);
    Long floor = segmentStarts.floorKey(newStart);
    if (floor != null) {
      segmentStarts.headMap(floor).clear();
    }
    return true;
  }

  /** The topic was deleted: forget the cached blocks. */
  void clear() {
    store.cache().clear(cached);
  }

  private String name() {
    return topic.get().name() + "/" + partition;
  }
}
