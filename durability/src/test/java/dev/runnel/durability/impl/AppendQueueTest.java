package dev.runnel.durability.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/** The group commit's queue without Postgres: its byte bound, and how a write is cut from what waits. */
class AppendQueueTest {

  private static final DeadLetterOrigin ORIGIN =
      new DeadLetterOrigin("g", UUID.randomUUID(), 0, 7, UUID.randomUUID(), 0, -1, "rejected", 1);

  private static AppendQueue.Pending append(long bytes) {
    return new AppendQueue.Pending(List.of(record()), null, 0, false, bytes, Promise.promise());
  }

  private static AppendQueue.Pending deadLetter(long bytes) {
    return new AppendQueue.Pending(List.of(record()), List.of(ORIGIN), 3, false, bytes, Promise.promise());
  }

  private static LogRecord record() {
    return LogRecord.of(null, "v".getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null);
  }

  @Test
  void anAppendAloneAlwaysGoesInAndOthersOnlyWithinTheBound() {
    AppendQueue queue = new AppendQueue();
    assertThat(queue.offer(append(150), 100)).as("alone, even past the bound").isTrue();
    assertThat(queue.offer(append(1), 100)).as("past the bound with another waiting").isFalse();
    assertThat(queue.bytes()).isEqualTo(150);

    AppendQueue other = new AppendQueue();
    assertThat(other.offer(append(60), 100)).isTrue();
    assertThat(other.offer(append(40), 100)).as("exactly at the bound").isTrue();
    assertThat(other.offer(append(1), 100)).isFalse();
    assertThat(other.bytes()).isEqualTo(100);
  }

  @Test
  void aWriteTakesWhatWaitsInOrderUpToItsBoundAndAtLeastOne() {
    AppendQueue queue = new AppendQueue();
    AppendQueue.Pending a = append(40);
    AppendQueue.Pending b = append(50);
    AppendQueue.Pending c = append(20);
    AppendQueue.Pending huge = append(500);
    for (AppendQueue.Pending p : List.of(a, b, c, huge)) {
      queue.offer(p, Long.MAX_VALUE);
    }
    Write first = queue.next(100, 7);
    assertThat(first.batch).containsExactly(a, b);
    assertThat(first.bytes).isEqualTo(90);
    assertThat(first.startedNanos).isEqualTo(7);
    assertThat(queue.bytes()).isEqualTo(520);
    assertThat(queue.next(100, 8).batch).containsExactly(c);
    assertThat(queue.next(100, 9).batch).as("one append larger than a write goes alone").containsExactly(huge);
    assertThat(queue.isEmpty()).isTrue();
    assertThat(queue.bytes()).isZero();
  }

  @Test
  void deadLettersNeverShareAWriteWithOtherAppends() {
    AppendQueue queue = new AppendQueue();
    AppendQueue.Pending produce = append(10);
    AppendQueue.Pending dead1 = deadLetter(10);
    AppendQueue.Pending dead2 = deadLetter(10);
    AppendQueue.Pending produce2 = append(10);
    for (AppendQueue.Pending p : List.of(produce, dead1, dead2, produce2)) {
      queue.offer(p, Long.MAX_VALUE);
    }
    assertThat(queue.next(1000, 0).batch).containsExactly(produce);
    assertThat(queue.next(1000, 0).batch).containsExactly(dead1, dead2);
    assertThat(queue.next(1000, 0).batch).containsExactly(produce2);
  }

  @Test
  void failingAllAnswersEveryAppendAndEmptiesTheQueue() {
    AppendQueue queue = new AppendQueue();
    AppendQueue.Pending a = append(10);
    AppendQueue.Pending b = append(10);
    queue.offer(a, 100);
    queue.offer(b, 100);
    IllegalStateException cause = new IllegalStateException("closed");
    queue.failAll(cause);
    for (Future<AppendResult> f : List.of(a.promise().future(), b.promise().future())) {
      assertThat(f.failed()).isTrue();
      assertThat(f.cause()).isSameAs(cause);
    }
    assertThat(queue.isEmpty()).isTrue();
    assertThat(queue.bytes()).isZero();
    assertThat(queue.offer(append(100), 100)).isTrue();
  }
}
