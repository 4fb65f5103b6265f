package dev.runnel.broker.impl;

import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.impl.RecordTable.Entry;
import dev.runnel.durability.LogRecord;
import io.vertx.core.Future;

/**
 * A state machine's lag (DESIGN.md section 4): the records its group has not finished in the partition (past the
 * committed offset, and parked below it) and the age of the oldest of them, answered to a describe and sampled into
 * the group's gauges by the tick. Confined to its group's context.
 */
final class PartitionLag {

  private final PartitionDelivery machine;
  private final PartitionLeader log;
  private final PartitionDelivery.Host host;
  private final GroupMeters meters;
  private final RecordTable table;
  private final DeliveryWindow window;
  private final OldestRecordTime oldestTime;

  PartitionLag(PartitionDelivery machine, PartitionLeader log, PartitionDelivery.Host host, GroupMeters meters,
               RecordTable table, DeliveryWindow window) {
    this.machine = machine;
    this.log = log;
    this.host = host;
    this.meters = meters;
    this.table = table;
    this.window = window;
    this.oldestTime = new OldestRecordTime(log);
  }

  /** The lag now; the oldest record's age is read from the log when that record is not in memory. */
  Future<GroupDescription.PartitionLag> lag() {
    long records = window.unfinished();
    long oldestOffset = window.oldestUnfinished();
    if (oldestOffset < 0) {
      return Future.succeededFuture(lag(records, 0));
    }
    Entry known = table.get(oldestOffset);
    Future<LogRecord> record = known != null && known.record != null ? Future.succeededFuture(known.record)
        : WindowLoader.readOne(log, oldestOffset);
    return record.map(r -> lag(records, r == null ? 0 : Math.max(0, host.now() - r.timestamp())));
  }

  /**
   * Adds this partition's lag to its topic's gauges (the group's tick): what {@link #lag()} reports, from memory, the
   * oldest record's time read in the background when it is not in memory ({@link OldestRecordTime}).
   */
  void sample() {
    long oldestOffset = window.oldestUnfinished();
    long timestamp = -1;
    if (oldestOffset >= 0) {
      Entry known = table.get(oldestOffset);
      timestamp = known != null && known.record != null ? known.record.timestamp() : oldestTime.at(oldestOffset);
    }
    meters.addLag(window.unfinished(), timestamp);
  }

  private GroupDescription.PartitionLag lag(long records, long ageMs) {
    return new GroupDescription.PartitionLag(machine.topic.name(), machine.partition, window.committed(),
        window.end(), records, ageMs, window.skipped(), machine.owner);
  }
}
