package dev.runnel.durability;

import io.vertx.core.Future;

import java.util.List;
import java.util.function.LongConsumer;

/**
 * One partition of a topic's log. Its writer is the partition's only writer: appends queued while a write is in
 * flight all go in the next write (group commit), and an append's future completes only after its write committed.
 * All methods may be called from any thread or context; futures complete on the caller's context.
 */
public interface PartitionLog {

  int partition();

  /** Appends records in order; they get consecutive offsets. */
  Future<AppendResult> append(List<LogRecord> records);

  /**
   * {@link #append}, deduplicated by idempotency key whether or not the topic has {@code dedup} on, within its
   * {@code dedupWindowMs}: a record whose key is stored already answers its original position (signed webhook
   * deliveries, whose senders retry). Each record needs an idempotency key.
   */
  Future<AppendResult> appendOnce(List<LogRecord> records);

  /**
   * Appends dead letters: record {@code i} is the dead letter of {@code origins.get(i)}, whose row is written in the
   * same statement as the records (its {@code dlqOffset} is filled in), so a dead letter is never lost nor doubled.
   * Every origin is of one group, whose lease must still be at {@code groupEpoch}: else nothing is stored and the
   * append fails UNAVAILABLE (the group has another owner now).
   */
  Future<AppendResult> appendDeadLetters(List<LogRecord> records, List<DeadLetterOrigin> origins, long groupEpoch);

  /** Called on the writer's context after every commit, with the new high watermark. */
  void onCommit(LongConsumer highWatermark);

  /** Stops calling a listener given to {@link #onCommit}. */
  void removeCommitListener(LongConsumer highWatermark);

  /** The first offset whose record has a timestamp at or after {@code timestamp}; the high watermark if none. */
  Future<Long> offsetForTimestamp(long timestamp);

  /** The epoch of this writer's lease: state written for this partition is fenced by it. 0 before acquisition. */
  long epoch();

  /**
   * Reads committed records from {@code offset}: at most {@code maxRecords}, and no more than {@code maxBytes} of them
   * except that at least one record is returned when there is one.
   *
   * @throws StorageException (as a failed future) with {@link StorageFailure#OFFSET_OUT_OF_RANGE} when the offset is
   *         below the log start or above the high watermark
   */
  Future<ReadResult> read(long offset, int maxRecords, int maxBytes);

  Future<PartitionOffsets> offsets();
}
