package dev.runnel.broker;

import java.util.List;

/**
 * Outcomes of deliveries, by token: ack (done), nack (retry after backoff), reject (dead-letter now), extend (the
 * lease), release (give back without counting an attempt: the consumer never saw it).
 */
public record Outcomes(List<String> acks, List<Nack> nacks, List<Reject> rejects, List<Extend> extensions,
                       List<String> releases) {

  public Outcomes {
    acks = List.copyOf(acks);
    nacks = List.copyOf(nacks);
    rejects = List.copyOf(rejects);
    extensions = List.copyOf(extensions);
    releases = List.copyOf(releases);
  }

  public Outcomes(List<String> acks, List<Nack> nacks, List<Reject> rejects, List<Extend> extensions) {
    this(acks, nacks, rejects, extensions, List.of());
  }

  /** @param delayMs null: the retry policy's backoff; else this delay, clamped to the policy's maxDelayMs */
  public record Nack(String token, Long delayMs, String error) {
  }

  public record Reject(String token, String error) {
  }

  /** @param leaseMs null: the lease length the member joined with; capped at 10 minutes */
  public record Extend(String token, Long leaseMs) {
  }
}
