package dev.runnel.broker.impl;

/**
 * A record's state in a group's delivery state machine ({@link PartitionDelivery}). {@link #to} refuses a move the
 * rules do not have, so a wrong one fails loudly where it happens (the model test drives every kind of move).
 */
enum RecordState {
  /** Waiting to be handed out (a retry waits for its time, a keyed record for its key's head). */
  READY,
  /** Handed out under a lease. */
  IN_FLIGHT,
  /** Its dead letter is being stored (or waits to be retried). */
  DEAD_LETTERING,
  /** Acked, dead-lettered, or gone with retention. Final: a redriven record comes back as a new entry. */
  DONE;

  RecordState to(RecordState target) {
    boolean allowed = switch (this) {
      case READY -> target == IN_FLIGHT || target == DEAD_LETTERING || target == DONE;
      case IN_FLIGHT -> target == READY || target == DEAD_LETTERING || target == DONE;
      case DEAD_LETTERING -> target == DONE || target == READY;  // READY: a seek replays it
      case DONE -> false;
    };
    if (!allowed) {
      throw new IllegalStateException("a record cannot go from " + this + " to " + target);
    }
    return target;
  }
}
