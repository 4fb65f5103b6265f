package dev.runnel.durability.impl;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Where a partition's next write goes, without Postgres: gapless offsets, time that never goes back, the open segment. */
class LogEndTest {

  @Test
  void offsetsFollowTheCommitsAndTimeNeverGoesBack() {
    LogEnd end = new LogEnd();
    end.acquired(10, 5_000, 3, 0);
    assertThat(end.next()).isEqualTo(10);
    assertThat(end.timestamp(4_000)).as("a clock behind the last batch").isEqualTo(5_000);
    assertThat(end.timestamp(6_000)).isEqualTo(6_000);
    end.committed(14, 6_000);
    assertThat(end.next()).isEqualTo(15);
    assertThat(end.timestamp(5_500)).isEqualTo(6_000);
  }

  @Test
  void anAcquisitionGoesOnFromTheStoredEndButNeverBelowTheLogStart() {
    LogEnd end = new LogEnd();
    end.committed(99, 9_000);
    end.acquired(50, 1_000, 2, 70);
    assertThat(end.next()).as("retention moved the start past the stored end").isEqualTo(70);
    assertThat(end.timestamp(0)).as("an older stored time does not move it back").isEqualTo(9_000);
    assertThat(end.isOpen(2)).isTrue();
    end.acquired(120, 12_000, LogEnd.NO_SEGMENT, 70);
    assertThat(end.next()).isEqualTo(120);
    assertThat(end.timestamp(0)).isEqualTo(12_000);
    assertThat(end.isOpen(2)).isFalse();
  }

  @Test
  void aFailedWriteForgetsTheOpenSegmentAndAnUnknownOneRewinds() {
    LogEnd end = new LogEnd();
    end.opened(4);
    assertThat(end.isOpen(4)).isTrue();
    assertThat(end.isOpen(5)).isFalse();
    end.forgetSegment();
    assertThat(end.isOpen(4)).isFalse();
    end.committed(29, 1);
    end.rewind(20);
    assertThat(end.next()).isEqualTo(20);
  }

  @Test
  void retentionDroppingEverythingMovesTheEndAndClosesTheSegment() {
    LogEnd end = new LogEnd();
    end.committed(9, 1);
    end.opened(1);
    assertThat(end.droppedTo(5)).as("records remain past the new start").isFalse();
    assertThat(end.next()).isEqualTo(10);
    assertThat(end.isOpen(1)).isTrue();
    assertThat(end.droppedTo(10)).isTrue();
    assertThat(end.next()).isEqualTo(10);
    assertThat(end.isOpen(1)).isFalse();
    assertThat(end.droppedTo(25)).isTrue();
    assertThat(end.next()).isEqualTo(25);
  }
}
