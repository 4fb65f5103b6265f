package dev.runnel.load;

import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The open-loop arithmetic on a clock the test moves by hand (times are nanoseconds from 0). */
class PacerTest {

  static final long MS = 1_000_000;
  static final long S = 1_000_000_000;

  @Test
  void producersShareTheRateEvenlyWithInterleavedIntendedTimes() {
    // 1,000 records/s over 4 producers: each sends every 4 ms, producer i offset by i ms.
    List<Long> all = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      Pacer p = new Pacer(i, 4, 1000.0, 1, 100, 0, 0, S);
      assertThat(p.intended(0)).isEqualTo(i * MS);
      assertThat(p.intended(1)).isEqualTo(i * MS + 4 * MS);
      assertThat(p.intended(249)).isEqualTo(i * MS + 996 * MS);
      for (long k = 0; p.intended(k) < S; k++) {
        all.add(p.intended(k));
      }
    }
    all.sort(Long::compare);
    assertThat(all).hasSize(1000);
    for (int n = 0; n < all.size(); n++) {
      assertThat(all.get(n)).as("send %d of the whole run", n).isEqualTo(n * MS);
    }
  }

  @Test
  void aBatchIsOneRequestPerBatchOfRecords() {
    // 1,000 records/s in batches of 10 over 2 producers: 100 requests/s, each producer every 20 ms.
    Pacer p = new Pacer(1, 2, 1000.0, 10, 100, 0, 0, S);
    assertThat(p.intended(0)).isEqualTo(10 * MS);
    assertThat(p.intended(1)).isEqualTo(30 * MS);
  }

  @Test
  void sendsComeDueAtTheirIntendedTimesAndNoneAtOrAfterTheEnd() {
    Pacer p = new Pacer(0, 1, 100.0, 1, 10, 5 * MS, 5 * MS, 5 * MS + 50 * MS);  // every 10 ms, 5 sends
    assertThat(p.poll(4 * MS)).isEqualTo(Pacer.NONE);
    assertThat(p.wakeAt()).isEqualTo(5 * MS);
    assertThat(p.poll(5 * MS)).isEqualTo(5 * MS);
    assertThat(p.poll(5 * MS)).as("the next is not due yet").isEqualTo(Pacer.NONE);
    assertThat(p.wakeAt()).isEqualTo(15 * MS);
    // Late wake-up: two are due, both go out, each with its own intended time.
    assertThat(p.poll(27 * MS)).isEqualTo(15 * MS);
    assertThat(p.poll(27 * MS)).isEqualTo(25 * MS);
    assertThat(p.poll(27 * MS)).isEqualTo(Pacer.NONE);
    assertThat(p.poll(60 * MS)).isEqualTo(35 * MS);
    assertThat(p.poll(60 * MS)).isEqualTo(45 * MS);
    assertThat(p.poll(60 * MS)).as("55 ms is the end: not sent").isEqualTo(Pacer.NONE);
    assertThat(p.doneSending(60 * MS)).isTrue();
    assertThat(p.lateRecords()).isZero();
    assertThat(p.inFlight()).isEqualTo(5);
  }

  /** A producer that first looks after the end still owes what was due before it: not done until it sent them. */
  @Test
  void aProducerThatWakesAfterTheEndIsNotDoneUntilItSentWhatWasDue() {
    Pacer p = new Pacer(0, 1, 100.0, 1, 10, 0, 0, 50 * MS);  // due at 0, 10, 20, 30, 40 ms
    assertThat(p.poll(0)).isEqualTo(0);
    assertThat(p.doneSending(70 * MS)).as("four still due, never polled").isFalse();
    for (long due = 10; due <= 40; due += 10) {
      assertThat(p.poll(70 * MS)).isEqualTo(due * MS);
    }
    assertThat(p.doneSending(70 * MS)).isTrue();
  }

  @Test
  void sendsDueWhileEveryInFlightSlotIsTakenAreLateAndKeepTheirIntendedTime() {
    Pacer p = new Pacer(0, 1, 1000.0, 1, 2, 0, 0, S);  // every 1 ms, 2 in flight at most
    assertThat(p.poll(0)).isEqualTo(0);
    assertThat(p.poll(MS)).isEqualTo(MS);
    // Both slots taken: the sends due at 2, 3 and 4 ms find no slot.
    assertThat(p.poll(4 * MS)).isEqualTo(Pacer.NONE);
    assertThat(p.lateRecords()).isEqualTo(3);
    assertThat(p.backlog()).isEqualTo(3);
    assertThat(p.wakeAt()).as("waits for a completion").isEqualTo(Long.MAX_VALUE);
    p.completed();
    assertThat(p.poll(4 * MS + 500_000)).as("the oldest waiting send goes out, timed from 2 ms").isEqualTo(2 * MS);
    assertThat(p.poll(4 * MS + 500_000)).isEqualTo(Pacer.NONE);
    p.completed();
    p.completed();
    assertThat(p.poll(5 * MS)).isEqualTo(3 * MS);
    assertThat(p.poll(5 * MS)).isEqualTo(4 * MS);
    // The send due at 5 ms: both slots were taken again when it came due.
    assertThat(p.lateRecords()).isEqualTo(4);
    p.completed();
    assertThat(p.poll(5 * MS)).isEqualTo(5 * MS);
    assertThat(p.lateRecords()).as("counted once").isEqualTo(4);
  }

  @Test
  void lateCountsRecordsOfABatch() {
    Pacer p = new Pacer(0, 1, 1000.0, 5, 1, 0, 0, S);  // a request of 5 every 5 ms, 1 in flight
    assertThat(p.poll(0)).isEqualTo(0);
    assertThat(p.poll(5 * MS)).isEqualTo(Pacer.NONE);
    assertThat(p.lateRecords()).isEqualTo(5);
  }

  /**
   * A server that answers in 1 ms but stalls 100 ms once, at 1,000/s with one request in flight: the latency from
   * the intended time shows every send the stall delayed (about a hundred), where timing from the actual send shows
   * one slow answer and hides the rest (coordinated omission).
   */
  @Test
  void aStallShowsInTheLatencyOfEverySendItDelayed() {
    Pacer p = new Pacer(0, 1, 1000.0, 1, 1, 0, 0, S);
    Histogram corrected = new Histogram(3);
    Histogram naive = new Histogram(3);
    long now = 0;
    Deque<long[]> inFlight = new ArrayDeque<>();  // {intended, sentAt, answeredAt}
    while (!p.finished(now)) {
      long intended = p.poll(now);
      if (intended != Pacer.NONE) {
        long service = now >= 200 * MS && now < 201 * MS ? 100 * MS : MS / 2;
        inFlight.add(new long[] {intended, now, now + service});
        continue;
      }
      long next = inFlight.isEmpty() ? p.wakeAt() : Math.min(inFlight.peek()[2], p.wakeAt());
      if (next == Long.MAX_VALUE) {
        break;
      }
      now = Math.max(now, next);
      while (!inFlight.isEmpty() && inFlight.peek()[2] <= now) {
        long[] done = inFlight.poll();
        p.completed();
        corrected.recordValue((now - done[0]) / 1000);
        naive.recordValue((now - done[1]) / 1000);
      }
    }
    assertThat(corrected.getTotalCount()).isEqualTo(1000);
    assertThat(naive.getCountBetweenValues(10_000, Long.MAX_VALUE)).as("timed from the send: one slow answer")
        .isEqualTo(1);
    // The sends due from 201 to 299 ms waited behind the stalled one: each at least 1 ms late, the first ~99 ms.
    assertThat(corrected.getCountBetweenValues(1_000, Long.MAX_VALUE)).isGreaterThanOrEqualTo(99);
    assertThat(corrected.getMaxValue()).isBetween(100_000L, 101_000L);
    assertThat(corrected.getValueAtPercentile(99)).isGreaterThan(50_000);
    assertThat(p.lateRecords()).isGreaterThanOrEqualTo(99);
  }

  @Test
  void closedLoopSendsWheneverASlotIsFreeTimedFromTheSend() {
    Pacer p = new Pacer(0, 1, null, 1, 2, 0, 0, 10 * MS);
    assertThat(p.poll(3)).isEqualTo(3);
    assertThat(p.poll(4)).isEqualTo(4);
    assertThat(p.poll(5)).isEqualTo(Pacer.NONE);
    p.completed();
    assertThat(p.poll(7)).isEqualTo(7);
    assertThat(p.lateRecords()).isZero();
    assertThat(p.poll(10 * MS)).as("past the end").isEqualTo(Pacer.NONE);
  }

  @Test
  void inTheWarmUpARequestWithNoSlotIsSkippedSoNoBacklogReachesTheMeasuredWindow() {
    // Every 1 ms, 1 in flight, a warm-up of 10 ms; the first request stays unanswered until 25 ms.
    Pacer p = new Pacer(0, 1, 1000.0, 1, 1, 0, 10 * MS, S);
    assertThat(p.poll(0)).isEqualTo(0);
    assertThat(p.poll(9 * MS)).as("no slot: the warm-up's requests 1-9 are skipped").isEqualTo(Pacer.NONE);
    assertThat(p.skippedRecords()).isEqualTo(9);
    assertThat(p.backlog()).isZero();
    assertThat(p.lateRecords()).isZero();
    // From 10 ms the measured requests wait for the slot, late, and go out in order with their intended times.
    assertThat(p.poll(24 * MS)).isEqualTo(Pacer.NONE);
    assertThat(p.backlog()).isEqualTo(15);
    assertThat(p.lateRecords()).isEqualTo(15);
    p.completed();
    assertThat(p.poll(25 * MS)).as("the first measured request, not a warm-up one").isEqualTo(10 * MS);
    assertThat(p.skippedRecords()).isEqualTo(9);
  }

  @Test
  void inTheWarmUpTheOldestWaitingRequestGivesWayToTheNewOne() {
    // A request of 1 every 1 ms with 3 slots (in flight plus waiting): at 2 ms three are due at once and all wait;
    // one goes out. At 5 ms three more come due with one in flight and two waiting: each finds no slot, so the
    // oldest waiting one gives way each time (1, 2, 3), and the oldest left (4) goes out.
    Pacer p = new Pacer(0, 1, 1000.0, 1, 3, 0, 100 * MS, S);
    assertThat(p.poll(2 * MS)).isEqualTo(0);
    assertThat(p.backlog()).isEqualTo(2);
    assertThat(p.poll(5 * MS)).isEqualTo(4 * MS);
    assertThat(p.skippedRecords()).isEqualTo(3);
    assertThat(p.backlog()).as("5 waits").isEqualTo(1);
    assertThat(p.lateRecords()).isZero();
  }
}
