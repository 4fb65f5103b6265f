package dev.runnel.load.amqp;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * A producer link's window: messages queued until they may go, and the ones sent but not yet settled. At most
 * {@code limit} are unsettled at a time, and one goes only while the node has granted credit; the node's credit and
 * this limit both bound what is in flight (the smaller wins). Free of proton and of threads: one context uses it.
 */
final class SendWindow<T> {

  private final int limit;
  private final ArrayDeque<T> queued = new ArrayDeque<>();
  private final Set<T> unsettled = Collections.newSetFromMap(new IdentityHashMap<>());
  private int peak;

  SendWindow(int limit) {
    if (limit < 1) {
      throw new IllegalArgumentException("a window holds at least one message");
    }
    this.limit = limit;
  }

  /** Queues a message behind the others. */
  void add(T message) {
    queued.addLast(message);
  }

  /** Queues a message to go before the others (one the node released, sent again). */
  void addFirst(T message) {
    queued.addFirst(message);
  }

  /**
   * The next message to send, now counted as unsettled, or null: none queued, the window full, or no credit.
   *
   * @param credit the node's credit left on the link
   */
  T next(int credit) {
    if (queued.isEmpty() || unsettled.size() >= limit || credit <= 0) {
      return null;
    }
    T next = queued.pollFirst();
    unsettled.add(next);
    peak = Math.max(peak, unsettled.size());
    return next;
  }

  /** The message's outcome came: its slot is free. Answers false when it was not unsettled here (a stale outcome). */
  boolean settled(T message) {
    return unsettled.remove(message);
  }

  /** Every unsettled message, which then no longer is (the link or connection is gone; their outcome is unknown). */
  List<T> takeUnsettled() {
    List<T> all = new ArrayList<>(unsettled);
    unsettled.clear();
    return all;
  }

  /** Every queued message, which then no longer is. */
  List<T> takeQueued() {
    List<T> all = new ArrayList<>(queued);
    queued.clear();
    return all;
  }

  int unsettled() {
    return unsettled.size();
  }

  int queued() {
    return queued.size();
  }

  /** The most messages that were unsettled at once. */
  int peak() {
    return peak;
  }

  int limit() {
    return limit;
  }
}
