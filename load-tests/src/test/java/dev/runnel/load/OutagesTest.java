package dev.runnel.load;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

class OutagesTest {

  @Test
  void aStretchLongerThanTheThresholdBetweenTwoSuccessesOfAPartitionIsAnOutage() {
    AtomicLong now = new AtomicLong(1_000);
    Outages outages = new Outages(200, now::get);
    outages.produced(0);
    outages.produced(1);
    now.set(1_150);
    outages.produced(0);  // 150 ms: not one
    now.set(1_500);
    outages.produced(0);  // 350 ms after the last: one, from 1,150 to 1,500
    outages.consumed(0);  // the first reception: nothing before it to measure from
    now.set(1_900);
    outages.consumed(0);
    outages.produced(1);  // 900 ms
    assertThat(outages.all()).containsExactly(new Outages.Outage("produce", 0, 1_150, 1_500),
        new Outages.Outage("consume", 0, 1_500, 1_900), new Outages.Outage("produce", 1, 1_000, 1_900));
    assertThat(outages.all().get(2).millis()).isEqualTo(900);
  }

  @Test
  void aSuccessStampedEarlierThanTheLastDoesNotMoveItBack() {
    AtomicLong now = new AtomicLong(5_000);
    Outages outages = new Outages(100, now::get);
    outages.produced(3);
    now.set(4_000);  // a thread that read the clock before another's success
    outages.produced(3);
    now.set(5_050);
    outages.produced(3);
    assertThat(outages.all()).as("measured from 5,000, the latest success").isEmpty();
  }
}
