package dev.runnel.durability.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.Incarnation;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.PartitionLog;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.ContextInternal;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.DatabaseException;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.LongConsumer;

/**
 * The single writer of one partition, running on one Vert.x context: no locks, one write in flight at a time, and
 * everything that queued meanwhile goes into the next write (group commit). A write is one prepared statement that
 * inserts one row (a {@link RecordBlock}) and checks the partition's epoch in the same statement.
 *
 * <p>Life: acquire (bump the epoch, read the true end offset) → write while the lease is current → release. A write
 * that finds the epoch changed (0 rows) means another writer took over: this one stops. A write whose outcome is
 * unknown (the connection broke) makes the writer acquire again (which waits for the old statement to finish, since
 * it holds a lock the takeover needs) and answer each append by what is actually stored.
 */
final class PartitionWriter implements PartitionLog {

  private static final Logger LOG = LoggerFactory.getLogger(PartitionWriter.class);

  /**
   * @param origins the dead-letter origins of the records (null: not dead letters), all of one group at
   *                {@code groupEpoch}
   * @param deduplicate by idempotency key even when the topic does not ({@link #appendOnce})
   */
  private record Pending(List<LogRecord> records, List<DeadLetterOrigin> origins, long groupEpoch, boolean deduplicate,
                         long bytes, Promise<AppendResult> promise) {
  }

  private final PgLogStore store;
  /** Replaced when the topic's config changes or it grows (its id, name and segment width never change). */
  volatile TopicMetadata topic;
  private final int partition;
  private final ContextInternal context;
  private final TailCache.Partition cached = new TailCache.Partition();
  /** Base offset of this partition's first batch in each segment → segment number. */
  private final ConcurrentSkipListMap<Long, Long> segmentStarts = new ConcurrentSkipListMap<>();
  private final ArrayDeque<Pending> queue = new ArrayDeque<>();
  private final List<LongConsumer> commitListeners = new CopyOnWriteArrayList<>();
  private final DedupKeys dedup;
  private final StoredBatchReader stored;
  private final WriteMeters meters;
  private Future<Void> acquiring;

  // Read from other threads (readers, lease renewal); written only on the context.
  private volatile long highWatermark;
  private volatile long logStartOffset;
  private volatile long epoch;
  private volatile long leaseDeadlineNanos;
  private volatile WriterState state = WriterState.NEW;

  // Context-confined.
  private long nextOffset;
  private long lastTimestamp;
  private long currentSegment = Long.MIN_VALUE;
  private long queuedBytes;
  private boolean writing;
  private boolean acquireFailing;
  private Promise<Void> drained;

  PartitionWriter(PgLogStore store, TopicMetadata topic, int partition, ContextInternal context) {
    this.store = store;
    this.topic = topic;
    this.partition = partition;
    this.context = context;
    this.dedup = new DedupKeys(store, topic, partition);
    this.stored = new StoredBatchReader(store, topic.id(), partition, segmentStarts, this::name);
    this.meters = new WriteMeters(store.options().getMeterRegistry(), topic.name());
  }

  @Override
  public int partition() {
    return partition;
  }

  @Override
  public long epoch() {
    return epoch;
  }

  @Override
  public void onCommit(LongConsumer listener) {
    commitListeners.add(listener);
  }

  @Override
  public void removeCommitListener(LongConsumer listener) {
    commitListeners.remove(listener);
  }

  /** The topic's config changed (or it grew): writes prepared from now on use it. Completes once applied. */
  Future<Void> topicChanged(TopicMetadata changed) {
    Promise<Void> applied = context.promise();
    context.execute(() -> {
      topic = changed;
      dedup.topicChanged(changed);
      applied.complete();
    });
    return applied.future();
  }

  boolean isActive() {
    return state == WriterState.ACTIVE;
  }

  // ---- appends -------------------------------------------------------------------------------------------------

  @Override
  public Future<AppendResult> append(List<LogRecord> records) {
    return append(records, null, 0, false);
  }

  @Override
  public Future<AppendResult> appendOnce(List<LogRecord> records) {
    for (LogRecord r : records) {
      if (r.idempotencyKey() == null) {
        return Future.failedFuture(new IllegalArgumentException("appendOnce needs an idempotency key on every record"));
      }
    }
    return append(records, null, 0, true);
  }

  @Override
  public Future<AppendResult> appendDeadLetters(List<LogRecord> records, List<DeadLetterOrigin> origins,
                                               long groupEpoch) {
    if (origins.size() != records.size()) {
      return Future.failedFuture(new IllegalArgumentException("one origin per dead letter"));
    }
    return append(records, origins, groupEpoch, false);
  }

  private Future<AppendResult> append(List<LogRecord> records, List<DeadLetterOrigin> origins, long groupEpoch,
                                      boolean deduplicate) {
    Promise<AppendResult> promise = callerPromise();
    if (records.isEmpty()) {
      promise.fail(new IllegalArgumentException("nothing to append"));
      return promise.future();
    }
    String unwritable = store.options().getUnwritable().get();
    if (unwritable != null) {
      promise.fail(new StorageException(StorageFailure.UNAVAILABLE, unwritable));
      return promise.future();
    }
    long bytes = 0;
    for (LogRecord r : records) {
      bytes += r.encodedSize();
    }
    Pending pending = new Pending(records, origins, groupEpoch, deduplicate, bytes, promise);
    context.execute(() -> enqueue(pending));
    return promise.future();
  }

  private void enqueue(Pending pending) {
    switch (state) {
      case CLOSING, CLOSED -> {
        pending.promise.fail(new StorageException(StorageFailure.UNAVAILABLE, "partition " + name() + " is closing"));
        return;
      }
      default -> {
      }
    }
    if (queuedBytes + pending.bytes > store.options().getMaxQueuedBytesPerPartition() && !queue.isEmpty()) {
      pending.promise.fail(new StorageException(StorageFailure.OVERLOADED,
          "partition " + name() + " has " + queuedBytes + " bytes waiting to be written; retry later"));
      return;
    }
    queue.add(pending);
    queuedBytes += pending.bytes;
    if (state == WriterState.NEW || state == WriterState.LOST) {
      acquire();
    } else {
      flush();
    }
  }

  private void flush() {
    if (writing || queue.isEmpty() || !(state == WriterState.ACTIVE || state == WriterState.CLOSING)) {
      if (!writing && queue.isEmpty() && drained != null) {
        drained.tryComplete();
      }
      return;
    }
    if (System.nanoTime() - leaseDeadlineNanos > 0) {
      // The lease could not be renewed in time: another node may own the partition now. Stop and acquire again.
      LOG.warn("lease of {} ran out before it could be renewed; acquiring it again", name());
      state = state.to(WriterState.LOST);
      acquire();
      return;
    }
    long started = System.nanoTime();
    List<Pending> batch = new ArrayList<>();
    long bytes = 0;
    int maxWriteBytes = store.options().getMaxWriteBytes();
    // Dead letters go in writes of their own: a fenced group must fail only them, never a producer's records.
    while (!queue.isEmpty() && (batch.isEmpty() || (bytes + queue.peek().bytes <= maxWriteBytes
        && (queue.peek().origins == null) == (batch.get(0).origins == null)))) {
      Pending p = queue.poll();
      batch.add(p);
      bytes += p.bytes;
    }
    queuedBytes -= bytes;
    writing = true;
    long encodedBytes = bytes;
    boolean dedupOn = topic.config().dedup();
    List<LogRecord> deduplicated = batch.stream().filter(p -> dedupOn || p.deduplicate)
        .flatMap(p -> p.records.stream()).toList();
    dedup.known(deduplicated).onComplete(known -> {
      if (known.failed()) {
        writing = false;
        failAll(batch, new StorageException(StorageFailure.UNAVAILABLE, "could not check idempotency keys of "
            + name() + ": " + known.cause().getMessage(), known.cause()));
        flush();
        return;
      }
      Write write = prepare(batch, known.result(), encodedBytes, dedupOn, started);
      if (write.stored.isEmpty()) {
        // Every record was a duplicate of one already committed: nothing to write.
        writing = false;
        write.complete();
        flush();
        return;
      }
      send(write);
    });
  }

  /** One write: the appends it answers, the records it stores, and each append's answer. */
  private final class Write {
    final List<Pending> batch;
    final List<LogRecord> stored = new ArrayList<>();
    final List<AppendResult> results = new ArrayList<>();
    final Map<String, Long> newKeys = new java.util.LinkedHashMap<>();
    final long timestamp;
    final long base;
    final long bytes;
    /** When it left the queue (System.nanoTime): its latency runs to the commit. */
    final long startedNanos;

    Write(List<Pending> batch, long timestamp, long base, long bytes, long startedNanos) {
      this.batch = batch;
      this.timestamp = timestamp;
      this.base = base;
      this.bytes = bytes;
      this.startedNanos = startedNanos;
    }

    long last() {
      return base + stored.size() - 1;
    }

    void complete() {
      for (int i = 0; i < batch.size(); i++) {
        batch.get(i).promise.complete(results.get(i));
      }
    }
  }

  /** Assigns offsets to the records that are not duplicates; duplicates answer their original position. */
  private Write prepare(List<Pending> batch, Map<String, long[]> known, long bytes, boolean dedupOn,
                        long startedNanos) {
    long timestamp = Math.max(store.options().getClock().millis(), lastTimestamp);
    Write write = new Write(batch, timestamp, nextOffset, bytes, startedNanos);
    long offset = nextOffset;
    for (Pending p : batch) {
      long first = -1;
      AppendResult.Duplicate[] duplicates = null;
      for (int i = 0; i < p.records.size(); i++) {
        LogRecord r = p.records.get(i);
        String key = dedupOn || p.deduplicate ? r.idempotencyKey() : null;
        long[] original = key == null ? null : known.get(key);
        Long inThisWrite = key == null ? null : write.newKeys.get(key);
        if (original != null || inThisWrite != null) {
          if (duplicates == null) {
            duplicates = new AppendResult.Duplicate[p.records.size()];
          }
          duplicates[i] = original != null ? new AppendResult.Duplicate(original[0], original[1])
              : new AppendResult.Duplicate(inThisWrite, timestamp);
          continue;
        }
        if (first < 0) {
          first = offset;
        }
        if (key != null) {
          write.newKeys.put(key, offset);
        }
        write.stored.add(r.at(offset++, timestamp));
      }
      write.results.add(new AppendResult(first, timestamp, duplicates));
    }
    return write;
  }

  private void send(Write write) {
    long segment = Math.floorDiv(write.timestamp, topic.config().segmentMs());
    Buffer block = RecordBlock.encode(write.stored, (int) write.bytes);
    Tuple params = Tuple.of(topic.id(), partition, epoch, write.base, write.last(), write.timestamp,
        write.stored.size(), block);
    String sql;
    boolean counted;
    boolean deadLetters = addOrigins(write, params);
    if (deadLetters) {
      sql = Sql.appendDeadLetters(topic.id(), segment);
      counted = true;
    } else if (!write.newKeys.isEmpty()) {
      params.addArrayOfString(write.newKeys.keySet().toArray(new String[0]))
          .addArrayOfLong(write.newKeys.values().toArray(new Long[0]))
          .addLong(write.timestamp + topic.config().dedupWindowMs());
      sql = Sql.appendWithDedupKeys(topic.id(), segment);
      counted = true;
    } else {
      sql = Sql.append(topic.id(), segment);
      counted = false;
    }
    Future<Void> segmentReady = segment == currentSegment ? Future.succeededFuture() : openSegment(segment, write.base);
    Future<RowSet<Row>> sent = segmentReady.compose(v -> store.client().preparedQuery(sql).execute(params));
    onContext(sent).onComplete(ar -> {
      writing = false;
      if (state == WriterState.CLOSED && !(ar.succeeded() && (counted
          ? ar.result().iterator().next().getLong("written") == 1 : ar.result().rowCount() == 1))) {
        // Aborted meanwhile (its topic was deleted): nothing more to try, and a broken connection's write stays unknown.
        boolean unknown = ar.failed() && !rolledBack(ar.cause());
        failAll(write.batch, new StorageException(unknown ? StorageFailure.OUTCOME_UNKNOWN : StorageFailure.UNAVAILABLE,
            "partition " + name() + " is closed" + (unknown ? "; the last write may or may not have been stored" : "")));
        flush();  // completes a close waiting for the drain
        return;
      }
      boolean written = ar.succeeded()
          && (counted ? ar.result().iterator().next().getLong("written") == 1 : ar.result().rowCount() == 1);
      if (written) {
        committed(write, block);
      } else if (ar.succeeded() && deadLetters && ar.result().iterator().next().getLong("partition_current") == 1) {
        // The partition is still ours; a dead letter's group moved to another owner. Nothing was stored.
        failAll(write.batch, new StorageException(StorageFailure.UNAVAILABLE, "dead letters in " + name()
            + " were refused: their group's lease moved on; nothing was stored"));
      } else if (ar.succeeded()) {
        LOG.warn("{} was fenced: its epoch {} is no longer current", name(), epoch);
        state = state.to(WriterState.LOST);
        failAll(write.batch, new StorageException(StorageFailure.UNAVAILABLE, "partition " + name()
            + " lost its lease to another writer; nothing was stored"));
        if (!queue.isEmpty()) {
          acquire();
        }
        return;
      } else if (rolledBack(ar.cause())) {
        // Postgres answered with an error: the statement rolled back, so the offsets are free again.
        LOG.warn("write to {} failed: {}", name(), ar.cause().getMessage());
        currentSegment = Long.MIN_VALUE;
        failAll(write.batch, new StorageException(StorageFailure.UNAVAILABLE, "could not store records in " + name()
            + ": " + ar.cause().getMessage(), ar.cause()));
      } else {
        recoverUnknownOutcome(write, block, ar.cause());
        return;
      }
      flush();
    });
  }

  /**
   * True when Postgres answered with an ordinary error, so the statement surely rolled back. A connection-level
   * error (FATAL, class 08 or 57: the backend was terminated, the server shut down) can arrive after the commit, so
   * its outcome is unknown, like a connection that simply broke.
   */
  static boolean rolledBack(Throwable cause) {
    if (!(cause instanceof DatabaseException db)) {
      return false;
    }
    String state = db.getSqlState() == null ? "" : db.getSqlState();
    boolean fatal = cause instanceof PgException pg && ("FATAL".equals(pg.getSeverity()) || "PANIC".equals(pg.getSeverity()));
    return !fatal && !state.startsWith("08") && !state.startsWith("57");
  }

  /** Adds the dead-letter origins of the write's records (if any) as array parameters $9..$15 (the groups' epochs). */
  private static boolean addOrigins(Write write, Tuple params) {
    List<String> groups = new ArrayList<>();
    List<java.util.UUID> topics = new ArrayList<>();
    List<Integer> partitions = new ArrayList<>();
    List<Long> offsets = new ArrayList<>();
    List<Long> dlqOffsets = new ArrayList<>();
    List<String> reasons = new ArrayList<>();
    List<Long> groupEpochs = new ArrayList<>();
    for (int b = 0; b < write.batch.size(); b++) {
      Pending p = write.batch.get(b);
      if (p.origins == null) {
        continue;
      }
      for (int i = 0; i < p.records.size(); i++) {
        DeadLetterOrigin o = p.origins.get(i);
        groups.add(o.group());
        topics.add(o.topicId());
        partitions.add(o.partition());
        offsets.add(o.offset());
        dlqOffsets.add(write.results.get(b).baseOffset() + i);
        reasons.add(o.reason());
        groupEpochs.add(p.groupEpoch);
      }
    }
    if (groups.isEmpty()) {
      return false;
    }
    params.addArrayOfString(groups.toArray(new String[0]))
        .addArrayOfUUID(topics.toArray(new java.util.UUID[0]))
        .addArrayOfInteger(partitions.toArray(new Integer[0]))
        .addArrayOfLong(offsets.toArray(new Long[0]))
        .addArrayOfLong(dlqOffsets.toArray(new Long[0]))
        .addArrayOfString(reasons.toArray(new String[0]))
        .addArrayOfLong(groupEpochs.toArray(new Long[0]));
    return true;
  }

  private void committed(Write write, Buffer block) {
    long last = write.last();
    nextOffset = last + 1;
    highWatermark = last + 1;
    lastTimestamp = write.timestamp;
    store.cache().put(cached, block, write.base, last);
    dedup.remember(write.newKeys, write.timestamp);
    meters.committed(write.startedNanos, write.stored.size(), block.length());
    // Readers hear of the commit before the producers get their answers: a consumer woken by a producer's answer
    // finds the record announced.
    for (LongConsumer listener : commitListeners) {
      listener.accept(last + 1);
    }
    write.complete();
  }

  /**
   * The connection broke with a write in flight. Acquiring again bumps the epoch, which waits until the old
   * statement has finished one way or the other; then the true end offset says whether it committed.
   */
  private void recoverUnknownOutcome(Write write, Buffer block, Throwable cause) {
    LOG.warn("write to {} has an unknown outcome ({}); re-reading the end of the log", name(), cause.toString());
    state = state.to(WriterState.LOST);
    nextOffset = highWatermark;
    acquire().onComplete(ar -> {
      if (ar.failed()) {
        failAll(write.batch, new StorageException(StorageFailure.OUTCOME_UNKNOWN, "the write to " + name()
            + " may or may not have been stored: " + cause.getMessage(), cause));
      } else if (nextOffset > write.last()) {
        committed(write, block);
      } else {
        failAll(write.batch, new StorageException(StorageFailure.UNAVAILABLE, "could not store records in " + name()
            + ": " + cause.getMessage(), cause));
      }
      flush();
    });
  }

  private Future<Void> openSegment(long segment, long base) {
    return store.client().preparedQuery("SELECT runnel_create_segment($1, $2)")
        .execute(Tuple.of(topic.id(), segment))
        .compose(rs -> store.client().preparedQuery(Sql.INSERT_SEGMENT_START)
            .execute(Tuple.of(topic.id(), partition, epoch, segment, base)))
        .map(rs -> {
          currentSegment = segment;
          segmentStarts.putIfAbsent(base, segment);
          return null;
        });
  }

  private void failAll(List<Pending> batch, Throwable cause) {
    for (Pending p : batch) {
      p.promise.fail(cause);
    }
  }

  private void failQueue(Throwable cause) {
    while (!queue.isEmpty()) {
      queue.poll().promise.fail(cause);
    }
    queuedBytes = 0;
  }

  // ---- lease ---------------------------------------------------------------------------------------------------

  /** Takes the partition: bumps the epoch and reads where the log ends. Runs on the context. */
  private Future<Void> acquire() {
    if (state == WriterState.ACQUIRING) {
      return acquiring;
    }
    state = state.to(WriterState.ACQUIRING);
    acquiring = onContext(acquire(1)).andThen(ar -> {
      if (state == WriterState.CLOSED) {
        failQueue(new StorageException(StorageFailure.UNAVAILABLE, "partition " + name() + " is closed"));
        return;  // aborted while acquiring (its topic was deleted)
      }
      if (ar.succeeded()) {
        if (acquireFailing) {
          LOG.info("acquired {} again at epoch {}, next offset {}", name(), epoch, nextOffset);
        }
        acquireFailing = false;
        dedup.acquired(store.options().getClock().millis());
        state = state.to(drained != null ? WriterState.CLOSING : WriterState.ACTIVE);
        flush();
      } else {
        // One warning per streak of failures: while Postgres is away every append tries again.
        if (!acquireFailing) {
          LOG.warn("could not acquire {}: {}", name(), ar.cause().getMessage());
        } else {
          LOG.debug("could not acquire {}: {}", name(), ar.cause().getMessage());
        }
        acquireFailing = true;
        state = state.to(drained != null ? WriterState.CLOSING : WriterState.LOST);
        Throwable cause = ar.cause() instanceof StorageException ? ar.cause()
            : new StorageException(StorageFailure.UNAVAILABLE, "could not acquire " + name() + ": "
                + ar.cause().getMessage(), ar.cause());
        failQueue(cause);
        if (drained != null) {
          drained.tryComplete();
        }
      }
    });
    return acquiring;
  }

  /**
   * One attempt to take the partition. A connection that broke is tried again a few times: right after a backend
   * was lost, the pool can still hand out a connection that is closing, and an unknown outcome must be told from
   * what is stored whenever Postgres can still say it. So is a lock wait that timed out (the row's lock was held
   * longer than {@link PgLogStore#lockWaitMs}).
   */
  private Future<Void> acquire(int attempt) {
    return takeAndReadEnd().recover(err -> {
      if (!Acquisitions.retryable(err) || attempt >= Acquisitions.ATTEMPTS || drained != null) {
        return Future.failedFuture(err);
      }
      LOG.debug("acquiring {} failed ({}); trying again", name(), err.toString());
      Promise<Void> retried = context.promise();
      context.setTimer(Acquisitions.RETRY_MS * attempt, id -> acquire(attempt + 1).onComplete(retried));
      return retried.future();
    });
  }

  private Future<Void> takeAndReadEnd() {
    long started = System.nanoTime();
    long leaseMs = store.options().getLeaseMs();
    Incarnation self = store.options().getIncarnation();
    Tuple params = Tuple.of(topic.id(), partition, self.node(), leaseMs, self.id(), self.soleHolder());
    // Waits for a write in flight (it holds the row FOR KEY SHARE), but not for ever behind a stuck lock holder.
    String lockTimeout = "SET LOCAL lock_timeout = '" + PgLogStore.lockWaitMs(store.options()) + "ms'";
    return store.leaseClient()
        .withTransaction(conn -> conn.query(lockTimeout).execute()
            .compose(v -> conn.preparedQuery(Sql.ACQUIRE).execute(params)))
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return store.client().preparedQuery(Sql.LEADER).execute(Tuple.of(topic.id(), partition))
                .compose(leader -> Future.failedFuture(leader.rowCount() == 0
                    ? new StorageException(StorageFailure.TOPIC_NOT_FOUND, "topic " + topic.name() + " does not exist")
                    : new StorageException(StorageFailure.UNAVAILABLE, "partition " + name() + " is leased by "
                        + leader.iterator().next().getString(0))));
          }
          Row row = rows.iterator().next();
          epoch = row.getLong("epoch");
          logStartOffset = row.getLong("log_start_offset");
          leaseDeadlineNanos = started + leaseMs * 1_000_000;
          return store.client().preparedQuery(Sql.SEGMENT_STARTS).execute(Tuple.of(topic.id(), partition));
        })
        .compose(rows -> {
          segmentStarts.clear();
          for (Row row : rows) {
            segmentStarts.put(row.getLong("base_offset"), row.getLong("segment_no"));
          }
          if (segmentStarts.isEmpty()) {
            return Future.succeededFuture(new long[] {logStartOffset, 0, Long.MIN_VALUE});
          }
          Map.Entry<Long, Long> latest = segmentStarts.lastEntry();
          return store.client().preparedQuery(Sql.lastBatch(topic.id(), latest.getValue()))
              .execute(Tuple.of(partition))
              .map(last -> last.rowCount() == 0
                  ? new long[] {latest.getKey(), 0, latest.getValue()}
                  : new long[] {last.iterator().next().getLong("last_offset") + 1,
                      last.iterator().next().getLong("max_timestamp"), latest.getValue()});
        })
        .map(end -> {
          nextOffset = Math.max(end[0], logStartOffset);
          lastTimestamp = Math.max(lastTimestamp, end[1]);
          currentSegment = end[2];
          highWatermark = nextOffset;
          return null;
        });
  }

  /** The lease was renewed by a statement sent at {@code sentNanos}. */
  void leaseRenewed(long sentNanos) {
    leaseDeadlineNanos = sentNanos + store.options().getLeaseMs() * 1_000_000;
  }

  /** Renewal found the epoch changed: another writer owns the partition now. */
  /**
   * A lease renewal sent under {@code renewedEpoch} found it no longer current. A renewal answered after the writer
   * acquired again speaks of an older epoch and is ignored: the writer holds the current one.
   */
  void fenced(long renewedEpoch) {
    context.execute(() -> {
      if (state == WriterState.ACTIVE && epoch == renewedEpoch) {
        LOG.warn("{} lost its lease (epoch {} no longer current)", name(), epoch);
        state = state.to(WriterState.LOST);
      }
    });
  }

  /** Retention moved the log start: forget what lies below it. Completes once applied. */
  Future<Void> logStartMoved(long newStart) {
    Promise<Void> applied = context.promise();
    context.execute(() -> {
      if (newStart > logStartOffset) {
        logStartOffset = newStart;
        store.cache().evictBelow(cached, newStart);
        Long floor = segmentStarts.floorKey(newStart);
        if (floor != null) {
          segmentStarts.headMap(floor).clear();
        }
        if (newStart >= nextOffset && !writing) {
          // Everything was dropped, possibly the segment in use too.
          nextOffset = newStart;
          highWatermark = newStart;
          currentSegment = Long.MIN_VALUE;
        }
      }
      applied.complete();
    });
    return applied.future();
  }

  /** Lets queued appends finish, then gives the lease back so a restart or another node need not wait for expiry. */
  Future<Void> close() {
    Promise<Void> done = context.promise();
    context.execute(() -> {
      if (state == WriterState.CLOSED) {
        done.complete();
        return;
      }
      drained = context.promise();
      if (state != WriterState.ACQUIRING) {
        // While acquiring, the acquisition's end moves to CLOSING and flushes (or fails the queue).
        state = state.to(WriterState.CLOSING);
        flush();
      }
      drained.future()
          .compose(v -> epoch > 0
              ? store.client().preparedQuery(Sql.RELEASE).execute(Tuple.of(topic.id(), partition, epoch)).mapEmpty()
              : Future.<Void>succeededFuture())
          .onComplete(ar -> {
            state = state.to(WriterState.CLOSED);
            failQueue(new StorageException(StorageFailure.UNAVAILABLE, "partition " + name() + " is closed"));
            done.complete();
          });
    });
    return done.future();
  }

  /** The topic was deleted: fail everything waiting and forget the cache. */
  void abort(StorageException cause) {
    context.execute(() -> {
      state = state.to(WriterState.CLOSED);
      failQueue(cause);
      store.cache().clear(cached);
    });
  }

  // ---- reads ---------------------------------------------------------------------------------------------------

  /** Succeeds once the writer holds the partition, acquiring it first if needed. */
  private Future<Void> started() {
    WriterState s = state;
    if (s == WriterState.ACTIVE || s == WriterState.CLOSING) {
      return Future.succeededFuture();
    }
    Promise<Void> ready = context.promise();
    context.execute(() -> {
      switch (state) {
        case ACTIVE, CLOSING -> ready.complete();
        case CLOSED -> ready.fail(new StorageException(StorageFailure.UNAVAILABLE, "partition " + name() + " is closed"));
        default -> acquire().onComplete(ready);
      }
    });
    return ready.future();
  }

  @Override
  public Future<PartitionOffsets> offsets() {
    Promise<PartitionOffsets> promise = callerPromise();
    started().map(v -> new PartitionOffsets(partition, logStartOffset, highWatermark)).onComplete(promise);
    return promise.future();
  }

  @Override
  public Future<ReadResult> read(long offset, int maxRecords, int maxBytes) {
    Promise<ReadResult> promise = callerPromise();
    started().compose(v -> {
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

  @Override
  public Future<Long> offsetForTimestamp(long timestamp) {
    Promise<Long> promise = callerPromise();
    started().compose(v -> stored.offsetForTimestamp(timestamp, topic.config().segmentMs(), logStartOffset,
        highWatermark)).onComplete(promise);
    return promise.future();
  }

  private ReadResult result(List<LogRecord> records, long offset) {
    long next = records.isEmpty() ? offset : records.get(records.size() - 1).offset() + 1;
    return new ReadResult(records, next, highWatermark, logStartOffset);
  }

  // ---- helpers -------------------------------------------------------------------------------------------------

  String name() {
    return topic.name() + "/" + partition;
  }

  /** A promise whose callbacks run on the caller's context, whatever thread completes it. */
  private <T> Promise<T> callerPromise() {
    ContextInternal caller = ContextInternal.current();
    return caller != null ? caller.promise() : Promise.promise();
  }

  private <T> Future<T> onContext(Future<T> future) {
    Promise<T> p = context.promise();
    future.onComplete(p);
    return p.future();
  }
}
