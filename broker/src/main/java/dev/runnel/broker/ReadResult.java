package dev.runnel.broker;

import java.util.List;

/** Records read from a partition, and where the partition's log stood when they were read. */
public record ReadResult(List<StoredRecord> records, long nextOffset, long highWatermark, long logStartOffset) {
  public ReadResult {
    records = List.copyOf(records);
  }
}
