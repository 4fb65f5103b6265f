package dev.runnel.durability.impl;

import dev.runnel.durability.LogRecord;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Committed batches kept in memory for readers at the tail, under one byte budget shared by all partitions: the
 * oldest batch anywhere goes first. Writers add from their own contexts and readers read from theirs, so the
 * structures are concurrent; only committed batches ever enter.
 */
final class TailCache {

  private final long budget;
  private final AtomicLong used = new AtomicLong();
  private final ConcurrentLinkedQueue<Batch> age = new ConcurrentLinkedQueue<>();

  TailCache(long budget) {
    this.budget = budget;
  }

  /** One partition's cached batches, by base offset. */
  static final class Partition {
    private final ConcurrentSkipListMap<Long, Batch> batches = new ConcurrentSkipListMap<>();
  }

  private record Batch(Partition owner, long baseOffset, long lastOffset, List<LogRecord> records, long bytes) {
  }

  long usedBytes() {
    return used.get();
  }

  void put(Partition partition, List<LogRecord> records, long bytes) {
    if (budget <= 0 || records.isEmpty()) {
      return;
    }
    Batch batch = new Batch(partition, records.get(0).offset(), records.get(records.size() - 1).offset(), records, bytes);
    partition.batches.put(batch.baseOffset, batch);
    age.add(batch);
    used.addAndGet(bytes);
    while (used.get() > budget) {
      Batch oldest = age.poll();
      if (oldest == null) {
        break;
      }
      remove(oldest);
    }
  }

  /**
   * Records from {@code offset}, or null if the batch holding it is not cached. Returns what the cache holds
   * contiguously, within the bounds (at least one record).
   */
  List<LogRecord> read(Partition partition, long offset, int maxRecords, long maxBytes) {
    Map.Entry<Long, Batch> entry = partition.batches.floorEntry(offset);
    if (entry == null || entry.getValue().lastOffset < offset) {
      return null;
    }
    List<LogRecord> out = new ArrayList<>();
    long bytes = 0;
    Batch batch = entry.getValue();
    long next = offset;
    while (batch != null) {
      for (int i = (int) (next - batch.baseOffset); i < batch.records.size(); i++) {
        LogRecord r = batch.records.get(i);
        int size = r.encodedSize();
        if (out.size() >= maxRecords || (!out.isEmpty() && bytes + size > maxBytes)) {
          return out;
        }
        out.add(r);
        bytes += size;
      }
      next = batch.lastOffset + 1;
      batch = partition.batches.get(next);
    }
    return out;
  }

  /** Forgets the partition's batches that lie wholly below {@code offset}. */
  void evictBelow(Partition partition, long offset) {
    for (Batch b : partition.batches.headMap(offset).values()) {
      if (b.lastOffset < offset) {
        remove(b);
        age.remove(b);
      }
    }
  }

  void clear(Partition partition) {
    for (Batch b : partition.batches.values()) {
      remove(b);
      age.remove(b);
    }
  }

  private void remove(Batch b) {
    if (b.owner.batches.remove(b.baseOffset, b)) {
      used.addAndGet(-b.bytes);
    }
  }
}
