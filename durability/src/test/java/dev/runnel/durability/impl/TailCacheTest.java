package dev.runnel.durability.impl;

import dev.runnel.durability.Header;
import dev.runnel.durability.LogRecord;
import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

class TailCacheTest {

  /** Records whose value names their own offset, so a reader can tell a right record from a wrong one. */
  private static List<LogRecord> records(long base, int count, int valueBytes) {
    List<LogRecord> out = new ArrayList<>();
    for (long offset = base; offset < base + count; offset++) {
      byte[] value = ByteBuffer.allocate(valueBytes).putLong(offset).array();
      List<Header> headers = offset % 2 == 0 ? List.of(new Header("h", new byte[] {1, 2})) : List.of();
      byte[] key = offset % 3 == 0 ? null : ("k" + offset).getBytes(StandardCharsets.UTF_8);
      out.add(new LogRecord(key, value, "application/octet-stream", headers, offset % 4 == 0 ? "id-" + offset : null,
          offset, 1000 + offset));
    }
    return out;
  }

  private static Buffer block(List<LogRecord> records) {
    return RecordBlock.encode(records, records.stream().mapToInt(LogRecord::encodedSize).sum());
  }

  private static void put(TailCache cache, TailCache.Partition p, long base, int count, int valueBytes) {
    cache.put(p, block(records(base, count, valueBytes)), base, base + count - 1);
  }

  private static long offsetNamedBy(LogRecord r) {
    return ByteBuffer.wrap(r.value()).getLong();
  }

  @Test
  void readsFromTheMiddleOfABlockAndOnAcrossContiguousBlocksWithinTheBounds() {
    TailCache cache = new TailCache(1 << 20);
    TailCache.Partition p = new TailCache.Partition();
    put(cache, p, 10, 5, 100);
    put(cache, p, 15, 5, 100);

    List<LogRecord> got = cache.read(p, 12, 100, 1 << 20);
    assertThat(got).extracting(LogRecord::offset).containsExactly(12L, 13L, 14L, 15L, 16L, 17L, 18L, 19L);
    assertThat(got).allSatisfy(r -> assertThat(offsetNamedBy(r)).isEqualTo(r.offset()));
    assertThat(got).as("every field survives the round trip").usingRecursiveFieldByFieldElementComparator()
        .containsExactlyElementsOf(records(10, 10, 100).subList(2, 10));

    assertThat(cache.read(p, 13, 3, 1 << 20)).extracting(LogRecord::offset).containsExactly(13L, 14L, 15L);
    int one = records(0, 1, 100).get(0).encodedSize();
    assertThat(cache.read(p, 13, 100, 2L * one)).hasSize(2);
    assertThat(cache.read(p, 13, 100, 1)).as("the first record whatever its size").hasSize(1);
    assertThat(cache.read(p, 9, 10, 1 << 20)).as("below the cached blocks").isNull();
    assertThat(cache.read(p, 20, 10, 1 << 20)).as("past them").isNull();
  }

  @Test
  void theOldestBlockGoesFirstWhenTheBudgetIsExceededAndClosingFreesEverything() {
    long first = block(records(0, 4, 1000)).length();
    long second = block(records(4, 4, 1000)).length();
    TailCache cache = new TailCache(2 * first + 2 * second - 1);  // all but one of the four blocks below
    TailCache.Partition a = new TailCache.Partition();
    TailCache.Partition b = new TailCache.Partition();
    put(cache, a, 0, 4, 1000);
    put(cache, b, 0, 4, 1000);
    put(cache, a, 4, 4, 1000);
    assertThat(cache.usedBytes()).isEqualTo(2 * first + second);
    put(cache, b, 4, 4, 1000);
    assertThat(cache.read(a, 0, 10, 1 << 20)).as("partition a's first block was the oldest").isNull();
    assertThat(cache.read(a, 4, 10, 1 << 20)).extracting(LogRecord::offset).containsExactly(4L, 5L, 6L, 7L);
    assertThat(cache.read(b, 0, 10, 1 << 20)).extracting(LogRecord::offset).containsExactly(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L);
    assertThat(cache.usedBytes()).isEqualTo(first + 2 * second);

    cache.evictBelow(b, 4);
    assertThat(cache.read(b, 3, 10, 1 << 20)).isNull();
    assertThat(cache.read(b, 4, 10, 1 << 20)).hasSize(4);
    assertThat(cache.usedBytes()).isEqualTo(2 * second);

    cache.clearAll();
    assertThat(cache.usedBytes()).isZero();
    assertThat(cache.read(a, 4, 10, 1 << 20)).isNull();
    assertThat(cache.read(b, 4, 10, 1 << 20)).isNull();
  }

  /**
   * The blocks live in pooled direct memory that eviction frees while readers on other threads may be decoding
   * them. A reader must never see a freed (and reused) block: every record it gets names its own offset.
   */
  @Test
  void readersRacingEvictionNeverSeeAFreedBlock() throws Exception {
    int blockBytes = block(records(0, 8, 256)).length();
    TailCache cache = new TailCache(4L * blockBytes);  // four blocks: eviction all the time
    TailCache.Partition p = new TailCache.Partition();
    AtomicLong end = new AtomicLong();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    AtomicLong hits = new AtomicLong();
    List<Thread> readers = new ArrayList<>();
    for (int t = 0; t < 3; t++) {
      Thread reader = new Thread(() -> {
        try {
          for (int i = 0; i < 200_000 && failure.get() == null; i++) {
            long from = Math.max(0, end.get() - 40 + (i % 40));
            List<LogRecord> got = cache.read(p, from, 20, 1 << 20);
            if (got != null) {
              hits.incrementAndGet();
              for (int k = 0; k < got.size(); k++) {
                LogRecord r = got.get(k);
                if (r.offset() != from + k || offsetNamedBy(r) != r.offset()) {
                  throw new AssertionError("read " + from + " got offset " + r.offset() + " naming " + offsetNamedBy(r));
                }
              }
            }
          }
        } catch (Throwable e) {
          failure.compareAndSet(null, e);
        }
      });
      readers.add(reader);
      reader.start();
    }
    for (long base = 0; base < 400_000 && failure.get() == null; base += 8) {
      put(cache, p, base, 8, 256);
      end.set(base + 8);
    }
    for (Thread reader : readers) {
      reader.join();
    }
    assertThat(failure.get()).isNull();
    assertThat(hits.get()).as("the readers did read from the cache").isPositive();
  }
}
