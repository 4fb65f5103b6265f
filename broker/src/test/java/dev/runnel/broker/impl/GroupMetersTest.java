package dev.runnel.broker.impl;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** A group's meters on a topic ({@link GroupMeters}): their names and tags, and the lag a tick publishes. */
class GroupMetersTest {

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final AtomicLong now = new AtomicLong(100_000);
  private final InstantSource clock = () -> Instant.ofEpochMilli(now.get());
  private final GroupMeters meters = new GroupMeters(registry, clock, "g", "t");

  private double gauge(String name) {
    return registry.get(name).tag("group", "g").tag("topic", "t").gauge().value();
  }

  @Test
  void theGaugesShowWhatTheLastTickPublishedSummedOverPartitions() {
    assertThat(gauge("runnel.group.lag.records")).isZero();
    assertThat(gauge("runnel.group.lag.oldest.age")).isZero();
    meters.startLag();
    meters.addLag(3, 95_000);
    meters.addLag(4, -1);
    meters.addLag(0, 90_000);
    assertThat(gauge("runnel.group.lag.records")).as("not published yet").isZero();
    meters.publishLag();
    assertThat(gauge("runnel.group.lag.records")).isEqualTo(7);
    assertThat(gauge("runnel.group.lag.oldest.age")).as("the oldest of the partitions, in seconds").isEqualTo(10.0);
    now.addAndGet(2_500);
    assertThat(gauge("runnel.group.lag.oldest.age")).as("ages between ticks").isEqualTo(12.5);

    meters.startLag();
    meters.addLag(0, 90_000);
    meters.publishLag();
    assertThat(gauge("runnel.group.lag.records")).isZero();
    assertThat(gauge("runnel.group.lag.oldest.age")).as("nothing left: no age").isZero();
  }

  @Test
  void everyMeterHasItsNameAndTagsAndLeavesTheRegistryWhenRemoved() {
    meters.acked.increment();
    meters.deadLettered(PartitionDelivery.EXPIRED);
    assertThat(registry.get("runnel.acked.records").tag("group", "g").tag("topic", "t").counter().count()).isEqualTo(1);
    assertThat(registry.get("runnel.dead.lettered.records").tag("reason", "expired").counter().count()).isEqualTo(1);
    assertThat(registry.get("runnel.dead.lettered.records").tag("reason", "rejected").counter().count()).isZero();
    // (A simple registry also shows the latency timer's buckets, as meters of its own.)
    assertThat(registry.getMeters()).extracting(m -> m.getId().getName())
        .filteredOn(name -> !name.equals("runnel.delivery.latency.histogram")).containsExactlyInAnyOrder(
        "runnel.delivered.records", "runnel.acked.records", "runnel.nacked.records", "runnel.rejected.records",
        "runnel.dead.lettered.records", "runnel.dead.lettered.records", "runnel.dead.lettered.records",
        "runnel.lease.expired.records", "runnel.delivery.latency", "runnel.group.lag.records",
        "runnel.group.lag.oldest.age");
    meters.remove(registry);
    assertThat(registry.getMeters()).extracting(m -> m.getId().getName())
        .filteredOn(name -> !name.equals("runnel.delivery.latency.histogram")).isEmpty();
  }
}
