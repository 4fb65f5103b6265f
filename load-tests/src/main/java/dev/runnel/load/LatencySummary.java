package dev.runnel.load;

import org.HdrHistogram.Histogram;

/** Percentiles of a latency histogram recorded in microseconds, reported in milliseconds. */
public record LatencySummary(long count, double p50, double p99, double p999, double max) {

  static final LatencySummary EMPTY = new LatencySummary(0, 0, 0, 0, 0);

  static LatencySummary of(Histogram micros) {
    if (micros.getTotalCount() == 0) {
      return EMPTY;
    }
    return new LatencySummary(micros.getTotalCount(), ms(micros.getValueAtPercentile(50)),
        ms(micros.getValueAtPercentile(99)), ms(micros.getValueAtPercentile(99.9)), ms(micros.getMaxValue()));
  }

  private static double ms(long micros) {
    return Math.round(micros / 10.0) / 100.0;  // 0.01 ms resolution
  }
}
