package dev.runnel.durability.impl;

import dev.runnel.durability.Incarnation;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.BooleanSupplier;
import java.util.function.LongFunction;
import java.util.function.LongSupplier;

/**
 * The lease of one partition, held by its writer: takes it (bumps the epoch if nobody else holds a current lease, in a
 * short transaction with a {@code lock_timeout}, tried again as {@link Acquisitions} says), knows its epoch and its
 * local deadline (a renewal moves it; past it the writer must not write), and gives it back.
 *
 * <p>Threads: {@link #acquire} and the reports run on the writer's context; the epoch and the deadline are volatile,
 * read from any thread and moved by the store's lease renewal.
 */
final class PartitionLease {

  private static final Logger LOG = LoggerFactory.getLogger(PartitionLease.class);

  private final PgLogStore store;
  private final ContextInternal context;
  /** Its id and name only, which never change. */
  private final TopicMetadata topic;
  private final int partition;
  private final String name;
  private final long leaseMs;
  private final LongSupplier nanoTime;
  private volatile long epoch;
  private volatile long deadlineNanos;
  /** In a streak of failed acquisitions (context-confined): it is warned of once. */
  private boolean failing;

  PartitionLease(PgLogStore store, ContextInternal context, TopicMetadata topic, int partition) {
    this(store, context, topic, partition, store.options().getLeaseMs(), System::nanoTime);
  }

  /** @param nanoTime the clock of the local deadline ({@link System#nanoTime} but in tests) */
  PartitionLease(PgLogStore store, ContextInternal context, TopicMetadata topic, int partition, long leaseMs,
                 LongSupplier nanoTime) {
    this.store = store;
    this.context = context;
    this.topic = topic;
    this.partition = partition;
    this.name = topic.name() + "/" + partition;
    this.leaseMs = leaseMs;
    this.nanoTime = nanoTime;
  }

  /** The epoch of the last acquisition: every write of the partition checks it in its own statement. 0 before. */
  long epoch() {
    return epoch;
  }

  /** True once the local deadline passed without a renewal: another node may hold the partition now. */
  boolean expired() {
    return nanoTime.getAsLong() - deadlineNanos > 0;
  }

  /** Taken at {@code epoch} by a statement sent at {@code sentNanos}: the lease runs a lease length from then. */
  void took(long epoch, long sentNanos) {
    this.epoch = epoch;
    deadlineNanos = sentNanos + leaseMs * 1_000_000;
  }

  /** A renewal sent at {@code sentNanos} found the lease current: it runs a lease length from when it was sent. */
  void renewed(long sentNanos) {
    deadlineNanos = sentNanos + leaseMs * 1_000_000;
  }

  /**
   * True when a renewal that found no current lease was sent under this lease's epoch. One sent under an older epoch
   * and answered after the writer acquired again speaks of a lease given up already: not a fence of this one.
   */
  boolean fencedBy(long renewedEpoch) {
    return epoch == renewedEpoch;
  }

  /**
   * Takes the partition, then reads where its log ends ({@code readEnd}, given the log start the acquisition read), as
   * one attempt. A connection that broke is tried again a few times: right after a backend was lost, the pool can
   * still hand out a connection that is closing, and an unknown outcome must be told from what is stored whenever
   * Postgres can still say it. So is a lock wait that timed out (the row's lock was held longer than
   * {@link PgLogStore#lockWaitMs}). No attempt is made again once {@code closing} says the writer stops. Completes on
   * the writer's context.
   */
  Future<Void> acquire(LongFunction<Future<Void>> readEnd, BooleanSupplier closing) {
    Promise<Void> acquired = context.promise();
    acquire(1, readEnd, closing).onComplete(acquired);
    return acquired.future();
  }

  private Future<Void> acquire(int attempt, LongFunction<Future<Void>> readEnd, BooleanSupplier closing) {
    return take().compose(readEnd::apply).recover(err -> {
      if (!Acquisitions.retryable(err) || attempt >= Acquisitions.ATTEMPTS || closing.getAsBoolean()) {
        return Future.failedFuture(err);
      }
      LOG.debug("acquiring {} failed ({}); trying again", name, err.toString());
      Promise<Void> retried = context.promise();
      context.setTimer(Acquisitions.RETRY_MS * attempt, id -> acquire(attempt + 1, readEnd, closing).onComplete(retried));
      return retried.future();
    });
  }

  /** Bumps the epoch unless another holds a current lease; answers the log start the row holds. */
  private Future<Long> take() {
    long started = nanoTime.getAsLong();
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
                    : new StorageException(StorageFailure.UNAVAILABLE, "partition " + name + " is leased by "
                        + leader.iterator().next().getString(0))));
          }
          Row row = rows.iterator().next();
          took(row.getLong("epoch"), started);
          return Future.succeededFuture(row.getLong("log_start_offset"));
        });
  }

  /** The writer holds the partition, to write from {@code nextOffset}: said once after a streak of failures. */
  void reportAcquired(long nextOffset) {
    if (failing) {
      LOG.info("acquired {} again at epoch {}, next offset {}", name, epoch, nextOffset);
    }
    failing = false;
  }

  /** An acquisition failed: one warning per streak of failures, since while Postgres is away every append tries again. */
  void reportFailure(Throwable cause) {
    if (!failing) {
      LOG.warn("could not acquire {}: {}", name, cause.getMessage());
    } else {
      LOG.debug("could not acquire {}: {}", name, cause.getMessage());
    }
    failing = true;
  }

  /** Gives the lease back, if it was ever taken, so a restart or another node need not wait for it to expire. */
  Future<Void> release() {
    return epoch > 0
        ? store.client().preparedQuery(Sql.RELEASE).execute(Tuple.of(topic.id(), partition, epoch)).mapEmpty()
        : Future.succeededFuture();
  }
}
