package dev.runnel.durability.impl;

import dev.runnel.durability.TopicConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Which segments retention drops, without Postgres: by time, by size, oldest first, the newest kept by size. */
class SegmentsToDropTest {

  private static final long SEGMENT_MS = 1_000;

  private static List<Retention.Segment> segments(long... bytes) {
    return java.util.stream.IntStream.range(0, bytes.length)
        .mapToObj(i -> new Retention.Segment(10 + i, bytes[i])).toList();
  }

  @Test
  void bySizeTheOldestGoWhileTheRestStillHoldTheBudgetAndTheNewestStays() {
    TopicConfig config = new TopicConfig(-1, 250, SEGMENT_MS, 1024);
    assertThat(Retention.toDrop(config, segments(100, 100, 100, 100), 0)).as("what remains keeps at least the budget")
        .containsExactly(10L);
    assertThat(Retention.toDrop(config, segments(100, 100), 0)).as("within the budget").isEmpty();
    assertThat(Retention.toDrop(config, segments(1000), 0)).as("the newest, alone over the budget").isEmpty();
    assertThat(Retention.toDrop(config, segments(400, 400, 400), 0)).containsExactly(10L, 11L);
  }

  @Test
  void byTimeASegmentGoesOnceItsWholeBucketIsOlderThanTheRetention() {
    TopicConfig config = new TopicConfig(5_000, -1, SEGMENT_MS, 1024);
    // Segment 10 spans [10 000, 11 000): it may go at 16 000, not before.
    assertThat(Retention.toDrop(config, segments(1, 1, 1), 15_999)).isEmpty();
    assertThat(Retention.toDrop(config, segments(1, 1, 1), 16_000)).containsExactly(10L);
    assertThat(Retention.toDrop(config, segments(1, 1, 1), 18_000)).as("every segment, the newest too")
        .containsExactly(10L, 11L, 12L);
  }

  @Test
  void aSegmentStaysWithEveryNewerOneOnceOneIsKept() {
    TopicConfig config = new TopicConfig(5_000, 150, SEGMENT_MS, 1024);
    // 10 is expired; 11 is neither expired nor needed to fit the budget after 10 went; 12 would fit the budget too.
    assertThat(Retention.toDrop(config, segments(10, 100, 50, 10), 16_500)).containsExactly(10L);
    assertThat(Retention.toDrop(new TopicConfig(-1, -1, SEGMENT_MS, 1024), segments(1_000_000, 1), Long.MAX_VALUE / 2))
        .as("no retention").isEmpty();
  }
}
