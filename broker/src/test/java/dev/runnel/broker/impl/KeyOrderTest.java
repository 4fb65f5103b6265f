package dev.runnel.broker.impl;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Per-key order ({@link KeyOrder}), without Postgres. */
class KeyOrderTest {

  @Test
  void onlyAKeysLowestUnfinishedOffsetIsItsHead() {
    KeyOrder order = new KeyOrder();
    order.add(7, 5);
    order.add(7, 3);
    order.add(9, 4);
    assertThat(order.isHead(7, 3)).isTrue();
    assertThat(order.isHead(7, 5)).isFalse();
    assertThat(order.isHead(9, 4)).as("another key does not wait").isTrue();
    order.remove(7, 3);
    assertThat(order.isHead(7, 5)).isTrue();
    order.remove(7, 5);
    assertThat(order.isHead(7, 8)).as("a key with nothing unfinished").isTrue();
  }

  @Test
  void anUnkeyedRecordNeverWaits() {
    KeyOrder order = new KeyOrder();
    order.add(null, 1);
    order.add(null, 2);
    assertThat(order.isHead(null, 2)).isTrue();
    order.remove(null, 2);  // no effect, no failure
    assertThat(order.isHead(null, 1)).isTrue();
  }

  @Test
  void aRetryBelowALaterRecordOfItsKeyKeepsItWaiting() {
    KeyOrder order = new KeyOrder();
    order.add(1, 10);  // in retry
    order.add(1, 11);
    order.remove(1, 11);  // removing a later one changes nothing for the head
    order.add(1, 12);
    assertThat(order.isHead(1, 12)).isFalse();
    order.clear();
    assertThat(order.isHead(1, 12)).isTrue();
  }
}
