package dev.runnel.broker.impl;


/**
 * The append time of a state machine's oldest unfinished record, for the lag gauge, when that record is not in memory
 * (a parked record after a restart): read from the log once per offset, in the background, and shown from the next
 * sample on (the age shown is at most a sample too high meanwhile). Confined to its group's context.
 */
final class OldestRecordTime {

  private static final int READ_BYTES = 4 * 1024 * 1024;

  private final PartitionLeader log;
  /** The offset last read; -1: none. */
  private long offset = -1;
  private long timestamp;
  private boolean reading;

  OldestRecordTime(PartitionLeader log) {
    this.log = log;
  }

  /** The time of the record at {@code oldest} once read, until then an older one's; -1 before any was read. */
  long at(long oldest) {
    if (offset != oldest && !reading) {
      reading = true;
      log.read(oldest, 1, READ_BYTES).onComplete(ar -> {
        reading = false;
        if (ar.succeeded() && !ar.result().records().isEmpty() && ar.result().records().get(0).offset() == oldest) {
          offset = oldest;
          timestamp = ar.result().records().get(0).timestamp();
        }
      });
    }
    return offset >= 0 ? timestamp : -1;
  }
}
