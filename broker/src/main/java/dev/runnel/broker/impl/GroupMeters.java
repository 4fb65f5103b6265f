package dev.runnel.broker.impl;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.InstantSource;
import java.util.List;

/**
 * The meters of one consumer group on one topic, shared by the group's state machines of the topic's partitions and
 * looked up once, when the group first works on the topic. Counters are counted where the outcome takes effect (a
 * dead letter once it is stored). The lag gauges read what the group's tick last published ({@link #publishLag}, on
 * the group's context): a scrape never looks into a state machine, which belongs to the group's context. Counted and
 * sampled on the group's context; read by scrapes on any thread.
 */
final class GroupMeters {

  final Counter delivered;
  final Counter acked;
  final Counter nacked;
  final Counter rejected;
  final Counter leaseExpired;
  /** From a record's append to its first delivery to this group. */
  final Timer deliveryLatency;
  /** By reason: the dead letter's {@code runnel.dlq.reason}. */
  private final Counter deadLetteredRejected;
  private final Counter deadLetteredMaxRetries;
  private final Counter deadLetteredExpired;

  /** The topic's name. */
  final String topic;
  private final Lag lag;
  private final List<Meter> meters;

  /**
   * The lag gauges' values: summed over the topic's partitions by the group's tick (on the group's context), then
   * published for scrapes (any thread).
   */
  private static final class Lag {
    private final InstantSource clock;
    /** Published by the group's tick, read by scrapes. */
    private volatile long records;
    /** The append time of the oldest record not yet done, or -1 when there is none. */
    private volatile long oldestTimestamp = -1;

    // The tick's sums over the topic's partitions; the group's context only.
    private long sumRecords;
    private long minTimestamp;

    Lag(InstantSource clock) {
      this.clock = clock;
    }

    double oldestAgeSeconds() {
      long ts = oldestTimestamp;
      return ts < 0 ? 0 : Math.max(0, clock.millis() - ts) / 1000.0;
    }

    void start() {
      sumRecords = 0;
      minTimestamp = Long.MAX_VALUE;
    }

    void add(long records, long oldestTimestamp) {
      sumRecords += records;
      if (oldestTimestamp >= 0 && oldestTimestamp < minTimestamp) {
        minTimestamp = oldestTimestamp;
      }
    }

    void publish() {
      records = sumRecords;
      oldestTimestamp = sumRecords == 0 || minTimestamp == Long.MAX_VALUE ? -1 : minTimestamp;
    }
  }

  GroupMeters(MeterRegistry registry, InstantSource clock, String group, String topic) {
    this.topic = topic;
    this.lag = new Lag(clock);
    delivered = counter(registry, "runnel.delivered.records", group, topic,
        "Deliveries handed to the group's consumers (every attempt counts)");
    acked = counter(registry, "runnel.acked.records", group, topic, "Deliveries acked");
    nacked = counter(registry, "runnel.nacked.records", group, topic,
        "Deliveries nacked (each schedules a retry, or a dead letter once the retries are used up)");
    rejected = counter(registry, "runnel.rejected.records", group, topic,
        "Deliveries rejected (dead-lettered at once)");
    deadLetteredRejected = deadLettered(registry, group, topic, PartitionDelivery.REJECTED);
    deadLetteredMaxRetries = deadLettered(registry, group, topic, PartitionDelivery.MAX_RETRIES);
    deadLetteredExpired = deadLettered(registry, group, topic, PartitionDelivery.EXPIRED);
    leaseExpired = counter(registry, "runnel.lease.expired.records", group, topic,
        "Deliveries whose lease ran out or whose member's session expired (counted as failed attempts)");
    deliveryLatency = Timer.builder("runnel.delivery.latency").tag("group", group).tag("topic", topic)
        .description("Time from a record's append to its first delivery to the group (a redriven record's first "
            + "delivery after the redrive included)")
        .serviceLevelObjectives(ProduceMeters.LATENCY_BUCKETS).register(registry);
    Gauge records = Gauge.builder("runnel.group.lag.records", lag, l -> l.records)
        .tag("group", group).tag("topic", topic).strongReference(true)
        .description("Records of the topic the group has not finished: past its committed offsets, plus parked retries "
            + "(sampled by the group's tick)")
        .register(registry);
    Gauge age = Gauge.builder("runnel.group.lag.oldest.age", lag, Lag::oldestAgeSeconds)
        .tag("group", group).tag("topic", topic).baseUnit("seconds").strongReference(true)
        .description("Age of the oldest record of the topic the group has not finished (0 when none)")
        .register(registry);
    meters = List.of(delivered, acked, nacked, rejected, deadLetteredRejected, deadLetteredMaxRetries,
        deadLetteredExpired, leaseExpired, deliveryLatency, records, age);
  }

  /** Counts a dead letter once it is stored. */
  void deadLettered(String reason) {
    switch (reason) {
      case PartitionDelivery.REJECTED -> deadLetteredRejected.increment();
      case PartitionDelivery.MAX_RETRIES -> deadLetteredMaxRetries.increment();
      case PartitionDelivery.EXPIRED -> deadLetteredExpired.increment();
      default -> throw new IllegalArgumentException("no such dead-letter reason: " + reason);
    }
  }

  private static Counter deadLettered(MeterRegistry registry, String group, String topic, String reason) {
    return Counter.builder("runnel.dead.lettered.records").tag("group", group).tag("topic", topic).tag("reason", reason)
        .description("Records dead-lettered (reason: rejected, max-retries, or expired by retention), counted once "
            + "stored").register(registry);
  }

  /**
   * Takes these meters out of the registry (the broker is closing, and another may start on the same registry; or the
   * topic was deleted).
   */
  void remove(MeterRegistry registry) {
    meters.forEach(registry::remove);
  }

  private static Counter counter(MeterRegistry registry, String name, String group, String topic, String description) {
    return Counter.builder(name).tag("group", group).tag("topic", topic).description(description).register(registry);
  }

  /** Starts a tick's sample. */
  void startLag() {
    lag.start();
  }

  /** One partition's lag: its records not done, and the append time of its oldest (-1: none, or not known yet). */
  void addLag(long records, long oldestTimestamp) {
    lag.add(records, oldestTimestamp);
  }

  /** Ends a tick's sample: what the gauges show until the next tick. */
  void publishLag() {
    lag.publish();
  }
}
