package dev.runnel.load;

import java.util.List;

/**
 * What one run against one target measured and verified; {@link Report} writes it in the pinned JSON shape.
 * {@code skipped}: warm-up records never sent because no slot was free at their time (see {@link Pacer}).
 */
public record TargetResult(String target, int round, long produced, long acked, long unacknowledged, long consumed,
                           long lost, long reordered, long duplicates, long late, long skipped, long errors,
                           double produceMsgsPerS, double consumeMsgsPerS, double produceMBPerS, double consumeMBPerS,
                           LatencySummary produceAck, LatencySummary endToEnd, List<String> problems,
                           List<Outages.Outage> outages) {

  /** A result with no outages recorded. */
  public TargetResult(String target, int round, long produced, long acked, long unacknowledged, long consumed,
                      long lost, long reordered, long duplicates, long late, long skipped, long errors,
                      double produceMsgsPerS, double consumeMsgsPerS, double produceMBPerS, double consumeMBPerS,
                      LatencySummary produceAck, LatencySummary endToEnd, List<String> problems) {
    this(target, round, produced, acked, unacknowledged, consumed, lost, reordered, duplicates, late, skipped, errors,
        produceMsgsPerS, consumeMsgsPerS, produceMBPerS, consumeMBPerS, produceAck, endToEnd, problems, List.of());
  }

  public boolean failed() {
    return lost != 0 || reordered != 0;
  }
}
