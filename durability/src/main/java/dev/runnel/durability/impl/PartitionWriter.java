package dev.runnel.durability.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.PartitionLog;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.function.LongConsumer;

/**
 * The single writer of one partition, and its {@link PartitionLog}: it takes the appends to its
 * {@link GroupCommit} (one write in flight at a time, and everything that queued meanwhile goes into the next write),
 * holds the partition's {@link PartitionLease}, and answers reads through its {@link PartitionReader}.
 *
 * <p>Life ({@link WriterState}): acquire (bump the epoch, read the true end offset) → write while the lease is current
 * → release. A write that finds the epoch changed (0 rows) means another writer took over: this one stops. A write
 * whose outcome is unknown (the connection broke) makes the writer acquire again (which waits for the old statement to
 * finish, since it holds a lock the takeover needs) and answer each append by what is actually stored.
 *
 * <p>Threads: every method may be called from any thread; the work runs on the writer's one Vert.x context (no locks),
 * and the futures it answers complete on the caller's context.
 */
final class PartitionWriter implements PartitionLog {

  private static final Logger LOG = LoggerFactory.getLogger(PartitionWriter.class);

  private final PgLogStore store;
  /** Replaced when the topic's config changes or it grows (its id, name and segment width never change). */
  volatile TopicMetadata topic;
  private final int partition;
  private final ContextInternal context;
  private final PartitionLease lease;
  private final PartitionReader reader;
  private final GroupCommit commit;
  /** Read from other threads (readers, lease renewal); written only on the context. */
  private volatile WriterState state = WriterState.NEW;
  /** The acquisition in flight (context-confined). */
  private Future<Void> acquiring;

  PartitionWriter(PgLogStore store, TopicMetadata topic, int partition, ContextInternal context) {
    this.store = store;
    this.topic = topic;
    this.partition = partition;
    this.context = context;
    this.lease = new PartitionLease(store, context, topic, partition);
    this.reader = new PartitionReader(store, () -> this.topic, partition, this::started);
    this.commit = new GroupCommit(this, store, context, lease, reader, topic, partition);
  }

  @Override
  public int partition() {
    return partition;
  }

  @Override
  public long epoch() {
    return lease.epoch();
  }

  @Override
  public void onCommit(LongConsumer listener) {
    reader.onCommit(listener);
  }

  @Override
  public void removeCommitListener(LongConsumer listener) {
    reader.removeCommitListener(listener);
  }

  /** The topic's config changed (or it grew): writes prepared from now on use it. Completes once applied. */
  Future<Void> topicChanged(TopicMetadata changed) {
    Promise<Void> applied = context.promise();
    context.execute(() -> {
      topic = changed;
      commit.topicChanged(changed);
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
    AppendQueue.Pending pending = new AppendQueue.Pending(records, origins, groupEpoch, deduplicate, bytes, promise);
    context.execute(() -> enqueue(pending));
    return promise.future();
  }

  private void enqueue(AppendQueue.Pending pending) {
    if (state == WriterState.CLOSING || state == WriterState.CLOSED) {
      pending.promise().fail(new StorageException(StorageFailure.UNAVAILABLE, "partition " + name() + " is closing"));
      return;
    }
    if (!commit.offer(pending)) {
      return;
    }
    if (state == WriterState.NEW || state == WriterState.LOST) {
      acquire();
    } else {
      commit.flush();
    }
  }

  // ---- the writer's life ---------------------------------------------------------------------------------------

  /** True while it may write: it holds the lease, or drains before giving it back. */
  boolean writable() {
    return state == WriterState.ACTIVE || state == WriterState.CLOSING;
  }

  boolean isClosed() {
    return state == WriterState.CLOSED;
  }

  /** Fenced, the lease ran out, or a write's outcome is unknown: it must acquire again before writing. */
  void lose() {
    state = state.to(WriterState.LOST);
  }

  /** Takes the partition: bumps the epoch and reads where the log ends. Runs on the context. */
  Future<Void> acquire() {
    if (state == WriterState.ACQUIRING) {
      return acquiring;
    }
    state = state.to(WriterState.ACQUIRING);
    acquiring = lease.acquire(this::readEnd, commit::draining).andThen(ar -> {
      if (state == WriterState.CLOSED) {
        commit.failWaiting(new StorageException(StorageFailure.UNAVAILABLE, "partition " + name() + " is closed"));
        return;  // aborted while acquiring (its topic was deleted)
      }
      if (ar.succeeded()) {
        lease.reportAcquired(commit.nextOffset());
        commit.acquired(store.options().getClock().millis());
        state = state.to(commit.draining() ? WriterState.CLOSING : WriterState.ACTIVE);
        commit.flush();
      } else {
        lease.reportFailure(ar.cause());
        state = state.to(commit.draining() ? WriterState.CLOSING : WriterState.LOST);
        Throwable cause = ar.cause() instanceof StorageException ? ar.cause()
            : new StorageException(StorageFailure.UNAVAILABLE, "could not acquire " + name() + ": "
                + ar.cause().getMessage(), ar.cause());
        commit.failWaiting(cause);
        commit.endDrain();
      }
    });
    return acquiring;
  }

  /** Within an acquisition's attempt, once the epoch was bumped: writes go on where the stored log ends. */
  private Future<Void> readEnd(long logStart) {
    return reader.storedEnd(logStart).map(stored -> {
      reader.endAt(commit.continueFrom(stored, reader.logStart()));
      return null;
    });
  }

  /** The lease was renewed by a statement sent at {@code sentNanos}. */
  void leaseRenewed(long sentNanos) {
    lease.renewed(sentNanos);
  }

  /**
   * A lease renewal sent under {@code renewedEpoch} found it no longer current. A renewal answered after the writer
   * acquired again speaks of an older epoch and is ignored: the writer holds the current one.
   */
  void fenced(long renewedEpoch) {
    context.execute(() -> {
      if (state == WriterState.ACTIVE && lease.fencedBy(renewedEpoch)) {
        LOG.warn("{} lost its lease (epoch {} no longer current)", name(), lease.epoch());
        state = state.to(WriterState.LOST);
      }
    });
  }

  /** Retention moved the log start: forget what lies below it. Completes once applied. */
  Future<Void> logStartMoved(long newStart) {
    Promise<Void> applied = context.promise();
    context.execute(() -> {
      if (reader.logStartMoved(newStart) && commit.droppedTo(newStart)) {
        reader.endAt(newStart);  // everything was dropped, possibly the segment in use too
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
      Future<Void> drained = commit.drain();
      if (state != WriterState.ACQUIRING) {
        // While acquiring, the acquisition's end moves to CLOSING and flushes (or fails the queue).
        state = state.to(WriterState.CLOSING);
        commit.flush();
      }
      drained
          .compose(v -> lease.release())
          .onComplete(ar -> {
            state = state.to(WriterState.CLOSED);
            commit.failWaiting(new StorageException(StorageFailure.UNAVAILABLE, "partition " + name() + " is closed"));
            done.complete();
          });
    });
    return done.future();
  }

  /** The topic was deleted: fail everything waiting and forget the cache. */
  void abort(StorageException cause) {
    context.execute(() -> {
      state = state.to(WriterState.CLOSED);
      commit.failWaiting(cause);
      reader.clear();
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
    return reader.offsets();
  }

  @Override
  public Future<ReadResult> read(long offset, int maxRecords, int maxBytes) {
    return reader.read(offset, maxRecords, maxBytes);
  }

  @Override
  public Future<Long> offsetForTimestamp(long timestamp) {
    return reader.offsetForTimestamp(timestamp);
  }

  String name() {
    return topic.name() + "/" + partition;
  }

  /** A promise whose callbacks run on the caller's context, whatever thread completes it. */
  static <T> Promise<T> callerPromise() {
    ContextInternal caller = ContextInternal.current();
    return caller != null ? caller.promise() : Promise.promise();
  }
}
