package dev.runnel.broker;

/** What became of one outcome. */
public record OutcomeResult(String token, Status status) {

  public enum Status {
    /** Applied (or already applied: acking twice is OK). */
    OK,
    /** The lease is no longer current (expired, revoked by a rebalance, a seek or a restart): nothing changed. */
    LEASE_EXPIRED,
    /** Not a token of this group. */
    UNKNOWN_TOKEN
  }
}
