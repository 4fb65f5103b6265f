package dev.runnel.broker.impl;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The produce meters of one topic, looked up once per topic and kept by the broker: records and bytes stored, and
 * the latency of a produce call from the broker's entry to the commit of all its records. Counted once per
 * partition append and timed once per call, never per record.
 */
final class ProduceMeters {

  /** Histogram buckets of the produce latency: 1 ms to 10 s. */
  /** Histogram buckets of the latency timers (produce, and delivery in {@link GroupMeters}). */
  static final Duration[] LATENCY_BUCKETS = millis(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
      10_000);

  static final String RECORDS = "runnel.produced.records";
  static final String BYTES = "runnel.produced.bytes";
  static final String LATENCY = "runnel.produce.latency";

  final Counter records;
  final Counter bytes;
  private final Timer latency;

  ProduceMeters(MeterRegistry registry, String topic) {
    records = Counter.builder(RECORDS).tag("topic", topic)
        .description("Records produced and committed (duplicates of a deduplicated produce not counted)")
        .register(registry);
    bytes = Counter.builder(BYTES).tag("topic", topic).baseUnit("bytes")
        .description("Encoded bytes of the records produced and committed").register(registry);
    latency = Timer.builder(LATENCY).tag("topic", topic)
        .description("Time of a produce call, from the broker's entry to the commit of all its records")
        .serviceLevelObjectives(LATENCY_BUCKETS).register(registry);
  }

  void committed(long startedNanos) {
    latency.record(System.nanoTime() - startedNanos, TimeUnit.NANOSECONDS);
  }

  /** Takes a deleted topic's produce meters out of the registry. */
  static void remove(MeterRegistry registry, String topic) {
    for (String name : List.of(RECORDS, BYTES, LATENCY)) {
      for (Meter m : registry.find(name).tag("topic", topic).meters()) {
        registry.remove(m);
      }
    }
  }

  static Duration[] millis(long... ms) {
    Duration[] out = new Duration[ms.length];
    for (int i = 0; i < ms.length; i++) {
      out[i] = Duration.ofMillis(ms[i]);
    }
    return out;
  }
}
