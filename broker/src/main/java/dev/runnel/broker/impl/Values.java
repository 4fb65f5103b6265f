package dev.runnel.broker.impl;

import dev.runnel.broker.Header;
import dev.runnel.broker.PartitionOffsets;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.ReadResult;
import dev.runnel.broker.StoredRecord;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.LogRecord;

import java.util.ArrayList;
import java.util.List;

/**
 * The broker's value types from storage's and back (DESIGN.md section 1: durability's types stay behind the broker).
 * Byte arrays are shared, never copied.
 */
final class Values {

  private Values() {
  }

  static StoredRecord record(LogRecord r) {
    return new StoredRecord(r.key(), r.value(), r.contentType(), headers(r.headers()), r.idempotencyKey(), r.offset(),
        r.timestamp());
  }

  static LogRecord toLog(ProduceRecord r) {
    List<dev.runnel.durability.Header> headers = new ArrayList<>(r.headers().size());
    for (Header h : r.headers()) {
      headers.add(new dev.runnel.durability.Header(h.name(), h.value()));
    }
    return LogRecord.of(r.key(), r.value(), r.contentType(), headers, r.idempotencyKey());
  }

  static List<Header> headers(List<dev.runnel.durability.Header> stored) {
    if (stored.isEmpty()) {
      return List.of();
    }
    List<Header> headers = new ArrayList<>(stored.size());
    for (dev.runnel.durability.Header h : stored) {
      headers.add(new Header(h.name(), h.value()));
    }
    return headers;
  }

  static ReadResult read(dev.runnel.durability.ReadResult r) {
    List<StoredRecord> records = new ArrayList<>(r.records().size());
    for (LogRecord record : r.records()) {
      records.add(record(record));
    }
    return new ReadResult(records, r.nextOffset(), r.highWatermark(), r.logStartOffset());
  }

  static PartitionOffsets offsets(dev.runnel.durability.PartitionOffsets o) {
    return new PartitionOffsets(o.partition(), o.logStartOffset(), o.highWatermark());
  }

  static TopicConfig config(dev.runnel.durability.TopicConfig c) {
    return new TopicConfig(c.retentionMs(), c.retentionBytes(), c.segmentMs(), c.maxRecordBytes(), c.retryPolicy(),
        c.deadLetterTopic(), c.dedup(), c.dedupWindowMs());
  }

  static dev.runnel.durability.TopicConfig storage(TopicConfig c) {
    return new dev.runnel.durability.TopicConfig(c.retentionMs(), c.retentionBytes(), c.segmentMs(), c.maxRecordBytes(),
        c.retryPolicy(), c.deadLetterTopic(), c.dedup(), c.dedupWindowMs());
  }
}
