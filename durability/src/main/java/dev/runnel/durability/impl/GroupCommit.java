package dev.runnel.durability.impl;

import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.ContextInternal;
import io.vertx.sqlclient.Tuple;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The group commit of one partition's writer: appends wait in its {@link AppendQueue} while a write is in flight, and
 * the next write takes all that waits (up to its bound): duplicates answered through {@link DedupKeys}, offsets and
 * time from {@link LogEnd}, one row (a {@link RecordBlock}) inserted with the lease's epoch checked in the same
 * statement (a plain write's row shares its statement with other partitions' through {@link SharedInserts}; one
 * with idempotency keys or dead letters has its own), the appends answered by its {@link WriteOutcome}. What an
 * outcome means for the lease
 * (fenced, ran out, unknown) it hands to its {@link PartitionWriter}, which keeps the writer's {@link WriterState}.
 *
 * <p>Threads: context-confined: only its writer's context calls it.
 */
final class GroupCommit {

  private static final Logger LOG = LoggerFactory.getLogger(GroupCommit.class);

  private final PartitionWriter writer;
  private final PgLogStore store;
  private final ContextInternal context;
  private final PartitionLease lease;
  private final PartitionReader reader;
  private final AppendQueue queue = new AppendQueue();
  private final DedupKeys dedup;
  private final SharedInserts inserts;
  private final WriteMeters meters;
  private final LogEnd end = new LogEnd();
  private boolean writing;
  /** Set once the writer closes: completes when nothing waits and nothing is in flight. */
  private Promise<Void> drained;

  GroupCommit(PartitionWriter writer, PgLogStore store, ContextInternal context, PartitionLease lease,
              PartitionReader reader, TopicMetadata topic, int partition) {
    this.writer = writer;
    this.store = store;
    this.context = context;
    this.lease = lease;
    this.reader = reader;
    this.dedup = new DedupKeys(store, topic, partition);
    this.inserts = store.sharedInserts();
    this.meters = new WriteMeters(store.options().getMeterRegistry(), topic.name());
  }

  /** Queues an append; when the queue is full, fails it {@code OVERLOADED} and answers false. */
  boolean offer(AppendQueue.Pending pending) {
    if (queue.offer(pending, store.options().getMaxQueuedBytesPerPartition())) {
      return true;
    }
    pending.promise().fail(new StorageException(StorageFailure.OVERLOADED,
        "partition " + writer.name() + " has " + queue.bytes() + " bytes waiting to be written; retry later"));
    return false;
  }

  /** Sends the next write, if the writer may write, none is in flight and appends wait; else ends a drain. */
  void flush() {
    if (writing || queue.isEmpty() || !writer.writable()) {
      if (!writing && queue.isEmpty() && drained != null) {
        drained.tryComplete();
      }
      return;
    }
    if (lease.expired()) {
      // The lease could not be renewed in time: another node may own the partition now. Stop and acquire again.
      LOG.warn("lease of {} ran out before it could be renewed; acquiring it again", writer.name());
      writer.lose();
      writer.acquire();
      return;
    }
    Write write = queue.next(store.options().getMaxWriteBytes(), System.nanoTime());
    writing = true;
    boolean dedupOn = writer.topic.config().dedup();
    dedup.known(write.deduplicated(dedupOn)).onComplete(known -> {
      if (known.failed()) {
        writing = false;
        write.fail(new StorageException(StorageFailure.UNAVAILABLE, "could not check idempotency keys of "
            + writer.name() + ": " + known.cause().getMessage(), known.cause()));
        flush();
        return;
      }
      write.assign(known.result(), dedupOn, end.next(), end.timestamp(store.options().getClock().millis()));
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

  private void send(Write write) {
    TopicMetadata topic = writer.topic;
    long segment = Math.floorDiv(write.timestamp(), topic.config().segmentMs());
    Buffer block = RecordBlock.encode(write.stored, (int) write.bytes);
    long epoch = lease.epoch();
    Future<Void> segmentReady = end.isOpen(segment) ? Future.succeededFuture() : openSegment(segment, write.base());
    Future<WriteOutcome> sent;
    if (write.counted()) {
      Tuple params = Tuple.of(topic.id(), writer.partition(), epoch, write.base(), write.last(),
          write.timestamp(), write.stored.size(), block);
      String sql = write.statement(topic, segment, params);
      sent = segmentReady.compose(v -> store.client().preparedQuery(sql).execute(params))
          .map(rows -> WriteOutcome.of(rows, write));
    } else {
      sent = segmentReady.compose(v -> inserts.insert(context, topic.id(), segment, writer.partition(), epoch,
              write.base(), write.last(), write.timestamp(), write.stored.size(), block))
          .map(written -> written ? WriteOutcome.COMMITTED : WriteOutcome.FENCED);
    }
    Promise<WriteOutcome> answered = context.promise();
    sent.onComplete(answered);
    answered.future().onComplete(ar -> {
      writing = false;
      WriteOutcome outcome = ar.succeeded() ? ar.result() : WriteOutcome.failed(ar.cause());
      if (writer.isClosed() && outcome != WriteOutcome.COMMITTED) {
        // Aborted meanwhile (its topic was deleted): nothing more to try; a broken connection's write stays unknown.
        boolean unknown = outcome == WriteOutcome.UNKNOWN;
        write.fail(new StorageException(unknown ? StorageFailure.OUTCOME_UNKNOWN : StorageFailure.UNAVAILABLE,
            "partition " + writer.name() + " is closed"
                + (unknown ? "; the last write may or may not have been stored" : "")));
        flush();  // completes a close waiting for the drain
        return;
      }
      switch (outcome) {
        case COMMITTED -> committed(write, block);
        // The partition is still ours; a dead letter's group moved to another owner.
        case GROUP_FENCED -> write.fail(new StorageException(StorageFailure.UNAVAILABLE, "dead letters in "
            + writer.name() + " were refused: their group's lease moved on; nothing was stored"));
        case FENCED -> {
          LOG.warn("{} was fenced: its epoch {} is no longer current", writer.name(), lease.epoch());
          writer.lose();
          write.fail(new StorageException(StorageFailure.UNAVAILABLE, "partition " + writer.name()
              + " lost its lease to another writer; nothing was stored"));
          if (!queue.isEmpty()) {
            writer.acquire();
          }
          return;
        }
        case ROLLED_BACK -> {
          // The offsets are free again.
          LOG.warn("write to {} failed: {}", writer.name(), ar.cause().getMessage());
          end.forgetSegment();
          write.fail(new StorageException(StorageFailure.UNAVAILABLE, "could not store records in " + writer.name()
              + ": " + ar.cause().getMessage(), ar.cause()));
        }
        case UNKNOWN -> {
          recoverUnknownOutcome(write, block, ar.cause());
          return;
        }
      }
      flush();
    });
  }

  private void committed(Write write, Buffer block) {
    long last = write.last();
    end.committed(last, write.timestamp());
    dedup.remember(write.newKeys, write.timestamp());
    meters.committed(write.startedNanos, write.stored.size(), block.length());
    reader.committed(block, write.base(), last);  // readers and the commit listeners first, then the producers
    write.complete();
  }

  /**
   * The connection broke with a write in flight. Acquiring again bumps the epoch, which waits until the old
   * statement has finished one way or the other; then the true end offset says whether it committed.
   */
  private void recoverUnknownOutcome(Write write, Buffer block, Throwable cause) {
    LOG.warn("write to {} has an unknown outcome ({}); re-reading the end of the log", writer.name(), cause.toString());
    writer.lose();
    end.rewind(reader.highWatermark());
    writer.acquire().onComplete(ar -> {
      if (ar.failed()) {
        write.fail(new StorageException(StorageFailure.OUTCOME_UNKNOWN, "the write to " + writer.name()
            + " may or may not have been stored: " + cause.getMessage(), cause));
      } else if (end.next() > write.last()) {
        committed(write, block);
      } else {
        write.fail(new StorageException(StorageFailure.UNAVAILABLE, "could not store records in " + writer.name()
            + ": " + cause.getMessage(), cause));
      }
      flush();
    });
  }

  private Future<Void> openSegment(long segment, long base) {
    TopicMetadata topic = writer.topic;
    return store.client().preparedQuery("SELECT runnel_create_segment($1, $2)")
        .execute(Tuple.of(topic.id(), segment))
        .compose(rs -> store.client().preparedQuery(Sql.INSERT_SEGMENT_START)
            .execute(Tuple.of(topic.id(), writer.partition(), lease.epoch(), segment, base)))
        .map(rs -> {
          end.opened(segment);
          reader.segmentOpened(base, segment);
          return null;
        });
  }

  // ---- what the writer's life does to it -----------------------------------------------------------------------

  void topicChanged(TopicMetadata changed) {
    dedup.topicChanged(changed);
  }

  /**
   * The writer took the lease and read where the stored log ends: writes go on from there, never below
   * {@code logStart}. Answers the next offset.
   */
  long continueFrom(PartitionReader.StoredEnd stored, long logStart) {
    end.acquired(stored.end(), stored.timestamp(), stored.segment(), logStart);
    return end.next();
  }

  /** The writer holds the partition since {@code now}. */
  void acquired(long now) {
    dedup.acquired(now);
  }

  long nextOffset() {
    return end.next();
  }

  /**
   * Retention moved the log start to {@code newStart}. True when that dropped everything (no write in flight): the log
   * goes on from there.
   */
  boolean droppedTo(long newStart) {
    return !writing && end.droppedTo(newStart);
  }

  /** Fails every append waiting (none is in flight). */
  void failWaiting(Throwable cause) {
    queue.failAll(cause);
  }

  /** Lets what waits be written; completes once nothing waits and nothing is in flight. */
  Future<Void> drain() {
    drained = context.promise();
    return drained.future();
  }

  boolean draining() {
    return drained != null;
  }

  /** A drain ends now whatever waited (it was failed: the lease could not be taken). */
  void endDrain() {
    if (drained != null) {
      drained.tryComplete();
    }
  }
}
