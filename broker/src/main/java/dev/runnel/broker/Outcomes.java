package dev.runnel.broker;

import java.util.List;

/** Outcomes of deliveries, by token: ack (done), nack (retry after backoff), reject (dead-letter now), extend. */
public record Outcomes(List<String> acks, List<Nack> nacks, List<Reject> rejects, List<Extend> extensions) {

  public Outcomes {
    acks = List.copyOf(acks);
    nacks = List.copyOf(nacks);
    rejects = List.copyOf(rejects);
    extensions = List.copyOf(extensions);
  }

  /** @param delayMs null: the retry policy's backoff; else this delay, clamped to the policy's maxDelayMs */
  public record Nack(String token, Long delayMs, String error) {
  }

  public record Reject(String token, String error) {
  }

  /** @param leaseMs null: the member's lease length; capped at 10 minutes */
  public record Extend(String token, Long leaseMs) {
  }
}
