package dev.runnel.broker;

import java.util.List;

/**
 * A member joining a group.
 *
 * @param sessionTimeoutMs the member is expired when it neither fetches nor heartbeats for this long
 * @param leaseMs          default lease of a delivery (capped at 10 minutes)
 * @param startAtLatest    where a group with no committed position starts: the log start (false) or the end (true)
 */
public record JoinRequest(List<String> topics, GroupMode mode, long sessionTimeoutMs, long leaseMs, boolean startAtLatest) {

  public static final long DEFAULT_SESSION_TIMEOUT_MS = 30_000;
  public static final long DEFAULT_LEASE_MS = 30_000;
  public static final long MAX_LEASE_MS = 600_000;

  public JoinRequest {
    topics = List.copyOf(topics);
  }
}
