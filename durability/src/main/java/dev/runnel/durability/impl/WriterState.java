package dev.runnel.durability.impl;

import java.util.EnumSet;
import java.util.Set;

/**
 * The life of a {@link PartitionWriter}: acquire (bump the epoch, read the end) → write while the lease is current →
 * release. {@link #to} refuses a move the writer's rules do not have, so a wrong one fails loudly where it happens.
 */
enum WriterState {
  /** Never acquired. */
  NEW,
  /** Taking the lease and reading the end of the log. */
  ACQUIRING,
  /** Holds the lease: writes. */
  ACTIVE,
  /** Fenced, or the lease ran out, or a write's outcome is unknown: must acquire again before writing. */
  LOST,
  /** Draining its queue before it releases the lease. */
  CLOSING,
  /** Released, or its topic was deleted: writes nothing more. */
  CLOSED;

  private Set<WriterState> next;

  static {
    NEW.next = EnumSet.of(ACQUIRING, CLOSING, CLOSED);
    ACQUIRING.next = EnumSet.of(ACTIVE, LOST, CLOSING, CLOSED);
    ACTIVE.next = EnumSet.of(LOST, CLOSING, CLOSED);
    LOST.next = EnumSet.of(ACQUIRING, CLOSING, CLOSED);
    CLOSING.next = EnumSet.of(LOST, CLOSING, CLOSED);  // a drain can lose the lease, then acquire from LOST
    CLOSED.next = EnumSet.of(CLOSED);  // an abort and a release may both end it
  }

  /** {@code next}, if this state may move to it; else an {@link IllegalStateException}. */
  WriterState to(WriterState target) {
    if (!next.contains(target)) {
      throw new IllegalStateException("a partition writer cannot go from " + this + " to " + target);
    }
    return target;
  }
}
