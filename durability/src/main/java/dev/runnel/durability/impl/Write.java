package dev.runnel.durability.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.TopicMetadata;
import io.vertx.sqlclient.Tuple;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * One write of a partition (one stored batch): the appends it answers, the records it stores with the offsets and
 * timestamp it gives them (a duplicate of a stored or an earlier record of the same write answers that record's
 * position and is not stored again), each append's answer, and its dead-letter origins as statement parameters.
 * Context-confined: made, sent and answered on its writer's context.
 */
final class Write {

  final List<AppendQueue.Pending> batch;
  /** The encoded size of every record of the appends, duplicates too. */
  final long bytes;
  /** When it left the queue (System.nanoTime): its latency runs to the commit. */
  final long startedNanos;
  final List<LogRecord> stored = new ArrayList<>();
  final List<AppendResult> results = new ArrayList<>();
  /** The idempotency keys it stores, with their offsets, in offset order. */
  final Map<String, Long> newKeys = new LinkedHashMap<>();
  private long timestamp;
  private long base;

  Write(List<AppendQueue.Pending> batch, long bytes, long startedNanos) {
    this.batch = batch;
    this.bytes = bytes;
    this.startedNanos = startedNanos;
  }

  /** The records whose idempotency keys are checked: all with the topic's dedup on, else those appended once. */
  List<LogRecord> deduplicated(boolean dedupOn) {
    return batch.stream().filter(p -> dedupOn || p.deduplicate()).flatMap(p -> p.records().stream()).toList();
  }

  /**
   * Gives the records that are not duplicates the offsets from {@code base} on, all with {@code timestamp}, and
   * makes each append's answer; a duplicate answers its original position.
   *
   * @param known idempotency key → {offset, timestamp} of the records already stored among these keys
   */
  void assign(Map<String, long[]> known, boolean dedupOn, long base, long timestamp) {
    this.base = base;
    this.timestamp = timestamp;
    long offset = base;
    for (AppendQueue.Pending p : batch) {
      long first = -1;
      AppendResult.Duplicate[] duplicates = null;
      for (int i = 0; i < p.records().size(); i++) {
        LogRecord r = p.records().get(i);
        String key = dedupOn || p.deduplicate() ? r.idempotencyKey() : null;
        long[] original = key == null ? null : known.get(key);
        Long inThisWrite = key == null ? null : newKeys.get(key);
        if (original != null || inThisWrite != null) {
          if (duplicates == null) {
            duplicates = new AppendResult.Duplicate[p.records().size()];
          }
          duplicates[i] = original != null ? new AppendResult.Duplicate(original[0], original[1])
              : new AppendResult.Duplicate(inThisWrite, timestamp);
          continue;
        }
        if (first < 0) {
          first = offset;
        }
        if (key != null) {
          newKeys.put(key, offset);
        }
        stored.add(r.at(offset++, timestamp));
      }
      results.add(new AppendResult(first, timestamp, duplicates));
    }
  }

  long timestamp() {
    return timestamp;
  }

  long base() {
    return base;
  }

  long last() {
    return base + stored.size() - 1;
  }

  /** True when it stores dead letters (a write holds only dead letters or none). */
  boolean deadLetters() {
    return batch.get(0).origins() != null;
  }

  /** True when its statement answers a {@code written} count rather than the row it inserted. */
  boolean counted() {
    return deadLetters() || !newKeys.isEmpty();
  }

  /**
   * The statement that stores this {@link #counted} write in {@code segment} of {@code topic}, given the parameters
   * $1..$8 (the row and the epoch it checks): adds the dead-letter origins, or the idempotency keys stored with it, to
   * {@code params}. A plain write has none of its own: it goes in a {@link SharedInserts} statement.
   */
  String statement(TopicMetadata topic, long segment, Tuple params) {
    if (addOrigins(params)) {
      return Sql.appendDeadLetters(topic.id(), segment);
    }
    if (newKeys.isEmpty()) {
      throw new IllegalStateException("a plain write is stored by SharedInserts");
    }
    params.addArrayOfString(newKeys.keySet().toArray(new String[0]))
        .addArrayOfLong(newKeys.values().toArray(new Long[0]))
        .addLong(timestamp + topic.config().dedupWindowMs());
    return Sql.appendWithDedupKeys(topic.id(), segment);
  }

  /** Answers every append (after the commit, or when nothing needed storing). */
  void complete() {
    for (int i = 0; i < batch.size(); i++) {
      batch.get(i).promise().complete(results.get(i));
    }
  }

  void fail(Throwable cause) {
    for (AppendQueue.Pending p : batch) {
      p.promise().fail(cause);
    }
  }

  /**
   * Adds the dead-letter origins of the write's records (if any) as array parameters $9..$15 (the last: the groups'
   * epochs), each with the offset its dead letter was given; false when the write holds no dead letters.
   */
  private boolean addOrigins(Tuple params) {
    List<String> groups = new ArrayList<>();
    List<UUID> topics = new ArrayList<>();
    List<Integer> partitions = new ArrayList<>();
    List<Long> offsets = new ArrayList<>();
    List<Long> dlqOffsets = new ArrayList<>();
    List<String> reasons = new ArrayList<>();
    List<Long> groupEpochs = new ArrayList<>();
    for (int b = 0; b < batch.size(); b++) {
      AppendQueue.Pending p = batch.get(b);
      if (p.origins() == null) {
        continue;
      }
      for (int i = 0; i < p.records().size(); i++) {
        DeadLetterOrigin o = p.origins().get(i);
        groups.add(o.group());
        topics.add(o.topicId());
        partitions.add(o.partition());
        offsets.add(o.offset());
        dlqOffsets.add(results.get(b).baseOffset() + i);
        reasons.add(o.reason());
        groupEpochs.add(p.groupEpoch());
      }
    }
    if (groups.isEmpty()) {
      return false;
    }
    params.addArrayOfString(groups.toArray(new String[0]))
        .addArrayOfUUID(topics.toArray(new UUID[0]))
        .addArrayOfInteger(partitions.toArray(new Integer[0]))
        .addArrayOfLong(offsets.toArray(new Long[0]))
        .addArrayOfLong(dlqOffsets.toArray(new Long[0]))
        .addArrayOfString(reasons.toArray(new String[0]))
        .addArrayOfLong(groupEpochs.toArray(new Long[0]));
    return true;
  }
}
