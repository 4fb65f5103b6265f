package dev.runnel.broker.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import io.vertx.core.Future;

import java.util.List;

/**
 * What a partition's leader answers: the one way anything in the broker reaches a partition's writer (the API's
 * produce and reads, a group's window reads, a dead letter's append). Every argument and answer is a value, never a
 * callback or shared state, so a route to a leader on another node can carry them as messages (DESIGN.md section
 * 6); new commits reach group owners as {@link CommitNotices}, not through this. Any context may call it; its
 * futures complete on the caller's context.
 */
interface PartitionLeader {

  /** Appends records in order (deduplicated by idempotency key with {@code deduplicate}); see PartitionLog. */
  Future<AppendResult> append(List<LogRecord> records, boolean deduplicate);

  /** Appends dead letters with their origin rows in one statement, fenced by the group's epoch too. */
  Future<AppendResult> appendDeadLetters(List<LogRecord> records, List<DeadLetterOrigin> origins, long groupEpoch);

  Future<ReadResult> read(long offset, int maxRecords, int maxBytes);

  Future<PartitionOffsets> offsets();

  Future<Long> offsetForTimestamp(long timestamp);
}
