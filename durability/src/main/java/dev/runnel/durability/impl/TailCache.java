package dev.runnel.durability.impl;

import dev.runnel.durability.LogRecord;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.internal.buffer.BufferInternal;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Committed batches kept in memory for readers at the tail, under one byte budget shared by all partitions: the
 * oldest batch anywhere goes first. Writers add from their own contexts and readers read from theirs, so the
 * structures are concurrent; only committed batches ever enter.
 *
 * <p>Batches are kept as their encoded blocks in pooled direct memory, not as record objects: a cache on the heap
 * outlives every young collection and was copied by each one (64 MB took 40 ms pauses at 10,000 records/s, the
 * largest part of the end-to-end tail; docs/benchmarks.md). Readers decode what they take, and hold a reference to
 * the block while they do, so an eviction on another thread frees the memory only after them.
 */
final class TailCache {

  private final long budget;
  private final AtomicLong used = new AtomicLong();
  private final ConcurrentLinkedQueue<Batch> age = new ConcurrentLinkedQueue<>();
  private final MeterRegistry registry;
  /** Reads answered from the cache, and reads it could not answer (they go to the table). */
  private final Counter hits;
  private final Counter misses;
  private final List<Meter> meters;

  TailCache(long budget) {
    this(budget, new CompositeMeterRegistry());
  }

  TailCache(long budget, MeterRegistry registry) {
    this.budget = budget;
    this.registry = registry;
    this.hits = Counter.builder("runnel.tail.cache.hits")
        .description("Reads of the log answered from the tail cache").register(registry);
    this.misses = Counter.builder("runnel.tail.cache.misses")
        .description("Reads of the log the tail cache could not answer (read from Postgres)").register(registry);
    this.meters = List.of(hits, misses,
        Gauge.builder("runnel.tail.cache", used, AtomicLong::get).baseUnit("bytes").strongReference(true)
            .description("Bytes of committed batches the tail cache holds (direct memory)").register(registry),
        Gauge.builder("runnel.tail.cache.budget", () -> budget).baseUnit("bytes")
            .description("The tail cache's byte budget (storage.tailCacheBytes)").register(registry));
  }

  /** Takes its meters out of the registry (the store is closing; another may open on the same registry). */
  void removeMeters() {
    meters.forEach(registry::remove);
  }

  /** One partition's cached batches, by base offset. */
  static final class Partition {
    private final ConcurrentSkipListMap<Long, Batch> batches = new ConcurrentSkipListMap<>();
  }

  private static final class Batch {
    final Partition owner;
    final long baseOffset;
    final long lastOffset;
    final long bytes;
    private final ByteBuf block;
    /** The cache's own reference plus one per reader; the block is freed when it reaches 0. */
    private final AtomicInteger references = new AtomicInteger(1);
    /** Whether the cache gave up its own reference (a batch can be removed through the map and the age queue). */
    private final AtomicBoolean removed = new AtomicBoolean();

    Batch(Partition owner, long baseOffset, long lastOffset, ByteBuf block) {
      this.owner = owner;
      this.baseOffset = baseOffset;
      this.lastOffset = lastOffset;
      this.bytes = block.readableBytes();
      this.block = block;
    }

    /** False once the batch was evicted and freed: the reader must treat it as not cached. */
    boolean retain() {
      for (int n = references.get(); n > 0; n = references.get()) {
        if (references.compareAndSet(n, n + 1)) {
          return true;
        }
      }
      return false;
    }

    void release() {
      if (references.decrementAndGet() == 0) {
        block.release();
      }
    }
  }

  long usedBytes() {
    return used.get();
  }

  /** Caches the committed block holding offsets {@code baseOffset..lastOffset} (a copy: the caller keeps its own). */
  void put(Partition partition, Buffer block, long baseOffset, long lastOffset) {
    if (budget <= 0 || block.length() > budget) {
      return;
    }
    ByteBuf copy = PooledByteBufAllocator.DEFAULT.directBuffer(block.length());
    copy.writeBytes(((BufferInternal) block).getByteBuf());
    Batch batch = new Batch(partition, baseOffset, lastOffset, copy);
    Batch replaced = partition.batches.put(baseOffset, batch);
    if (replaced != null) {
      forget(replaced);
    }
    age.add(batch);
    used.addAndGet(batch.bytes);
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
      misses.increment();
      return null;
    }
    RecordBlock.Gathered out = new RecordBlock.Gathered(maxRecords, maxBytes);
    for (Batch batch = entry.getValue(); batch != null; batch = partition.batches.get(batch.lastOffset + 1)) {
      if (!batch.retain()) {
        break;  // evicted meanwhile: the rest is read from the table
      }
      try {
        if (!out.addFrom(BufferInternal.buffer(batch.block), batch.baseOffset, out.next(offset))) {
          break;
        }
      } finally {
        batch.release();
      }
    }
    if (out.records.isEmpty()) {
      misses.increment();
      return null;
    }
    hits.increment();
    return out.records;
  }

  /** Forgets the partition's batches that lie wholly below {@code offset}. */
  void evictBelow(Partition partition, long offset) {
    for (Batch b : partition.batches.headMap(offset).values()) {
      if (b.lastOffset < offset) {
        forget(b);
      }
    }
  }

  void clear(Partition partition) {
    partition.batches.values().forEach(this::forget);
  }

  /** Frees every batch (the store is closing). */
  void clearAll() {
    for (Batch b; (b = age.poll()) != null; ) {
      remove(b);
    }
  }

  private void forget(Batch b) {
    remove(b);
    age.remove(b);
  }

  private void remove(Batch b) {
    if (b.owner.batches.remove(b.baseOffset, b)) {
      used.addAndGet(-b.bytes);
    }
    if (b.removed.compareAndSet(false, true)) {
      b.release();
    }
  }
}
