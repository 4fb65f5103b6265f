package dev.runnel.durability;

import java.util.List;

/** Records read from a partition, and where the partition's log stood when they were read. */
public record ReadResult(List<LogRecord> records, long nextOffset, long highWatermark, long logStartOffset) {
}
