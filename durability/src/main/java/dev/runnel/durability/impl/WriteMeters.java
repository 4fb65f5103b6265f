package dev.runnel.durability.impl;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The write meters of one topic, shared by its partitions' writers (each looks them up once, when it is created):
 * how long a write takes from leaving the append queue to its commit, and how many records and bytes it stores.
 * Recorded once per write, never per record.
 */
final class WriteMeters {

  /** Histogram buckets of the write latency: 1 ms to 10 s. */
  static final Duration[] LATENCY_BUCKETS = millis(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000);

  static final String LATENCY = "runnel.storage.write.latency";
  static final String RECORDS = "runnel.storage.write.records";
  static final String BYTES = "runnel.storage.write.bytes";

  private final Timer latency;
  private final DistributionSummary records;
  private final DistributionSummary bytes;

  WriteMeters(MeterRegistry registry, String topic) {
    latency = Timer.builder(LATENCY).tag("topic", topic)
        .description("Time of one write (append commit) to Postgres, from leaving the partition's queue to its commit")
        .serviceLevelObjectives(LATENCY_BUCKETS).register(registry);
    records = DistributionSummary.builder(RECORDS).tag("topic", topic).baseUnit("records")
        .description("Records one write stores (a group commit of the appends that queued meanwhile)")
        .register(registry);
    bytes = DistributionSummary.builder(BYTES).tag("topic", topic).baseUnit("bytes")
        .description("Encoded bytes one write stores").register(registry);
  }

  void committed(long startedNanos, int recordCount, int blockBytes) {
    latency.record(System.nanoTime() - startedNanos, TimeUnit.NANOSECONDS);
    records.record(recordCount);
    bytes.record(blockBytes);
  }

  /** Takes a deleted topic's write meters out of the registry. */
  static void remove(MeterRegistry registry, String topic) {
    for (String name : List.of(LATENCY, RECORDS, BYTES)) {
      for (Meter m : registry.find(name).tag("topic", topic).meters()) {
        registry.remove(m);
      }
    }
  }

  private static Duration[] millis(long... ms) {
    Duration[] out = new Duration[ms.length];
    for (int i = 0; i < ms.length; i++) {
      out[i] = Duration.ofMillis(ms[i]);
    }
    return out;
  }
}
