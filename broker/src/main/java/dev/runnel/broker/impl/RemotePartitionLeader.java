package dev.runnel.broker.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;

import java.util.List;

/**
 * A partition another node leads: each call goes whole (a batch is never split per record) to that node's
 * {@link ForwardedCalls}, encoded by {@link Wire}. Any context may call it; futures complete on the caller's context.
 */
final class RemotePartitionLeader implements PartitionLeader {

  /** The calls, by their first byte on the wire. */
  enum Call { APPEND, APPEND_DEAD_LETTERS, READ, OFFSETS, OFFSET_FOR_TIMESTAMP }

  static final String UNIT = "leader";

  private final Forwarder forwarder;
  private final String node;
  private final TopicMetadata topic;
  private final int partition;

  RemotePartitionLeader(Forwarder forwarder, String node, TopicMetadata topic, int partition) {
    this.forwarder = forwarder;
    this.node = node;
    this.topic = topic;
    this.partition = partition;
  }

  private Wire.Writer call(Call call) {
    return Wire.writer().u8(call.ordinal()).topic(topic).i32(partition);
  }

  private Future<Wire.Reader> send(Wire.Writer request, boolean write) {
    return forwarder.send(node, UNIT, request, 0, write);
  }

  @Override
  public Future<AppendResult> append(List<LogRecord> records, boolean deduplicate) {
    return send(call(Call.APPEND).bool(deduplicate).logRecords(records), true).map(Wire.Reader::appendResult);
  }

  @Override
  public Future<AppendResult> appendDeadLetters(List<LogRecord> records, List<DeadLetterOrigin> origins,
                                                long groupEpoch) {
    return send(call(Call.APPEND_DEAD_LETTERS).logRecords(records).list(origins, Wire.Writer::origin).i64(groupEpoch),
        true).map(Wire.Reader::appendResult);
  }

  @Override
  public Future<ReadResult> read(long offset, int maxRecords, int maxBytes) {
    return send(call(Call.READ).i64(offset).i32(maxRecords).i32(maxBytes), false).map(Wire.Reader::readResult);
  }

  @Override
  public Future<PartitionOffsets> offsets() {
    return send(call(Call.OFFSETS), false).map(Wire.Reader::offsets);
  }

  @Override
  public Future<Long> offsetForTimestamp(long timestamp) {
    return send(call(Call.OFFSET_FOR_TIMESTAMP).i64(timestamp), false).map(Wire.Reader::optLong);
  }
}
