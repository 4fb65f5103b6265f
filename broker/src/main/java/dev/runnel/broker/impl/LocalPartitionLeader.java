package dev.runnel.broker.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.PartitionLog;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.TopicPartition;
import io.vertx.core.Future;

import java.util.List;

/**
 * A partition this node leads: its writer, which publishes a commit notice after every commit. Any context may call
 * it (the writer runs on its own); futures complete on the caller's context.
 */
final class LocalPartitionLeader implements PartitionLeader {

  private final PartitionLog log;

  LocalPartitionLeader(PartitionLog log, TopicPartition partition, CommitNotices notices) {
    this.log = log;
    String address = CommitNotices.address(partition);
    log.onCommit(highWatermark -> notices.publish(address, highWatermark));
  }

  @Override
  public Future<AppendResult> append(List<LogRecord> records, boolean deduplicate) {
    return deduplicate ? log.appendOnce(records) : log.append(records);
  }

  @Override
  public Future<AppendResult> appendDeadLetters(List<LogRecord> records, List<DeadLetterOrigin> origins,
                                                long groupEpoch) {
    return log.appendDeadLetters(records, origins, groupEpoch);
  }

  @Override
  public Future<ReadResult> read(long offset, int maxRecords, int maxBytes) {
    return log.read(offset, maxRecords, maxBytes);
  }

  @Override
  public Future<PartitionOffsets> offsets() {
    return log.offsets();
  }

  @Override
  public Future<Long> offsetForTimestamp(long timestamp) {
    return log.offsetForTimestamp(timestamp);
  }
}
