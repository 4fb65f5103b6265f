package dev.runnel.broker;

import java.util.List;

/**
 * A member joining a group.
 *
 * @param mode             null: the group's mode while it has members, else {@link GroupMode#SHARED} (an AMQP link
 *                         takes the group as it is)
 * @param sessionTimeoutMs the member is expired when it neither fetches nor heartbeats for this long
 * @param leaseMs          default lease of a delivery (capped at 10 minutes, unless the member is link-bound)
 * @param startAtLatest    where a group with no committed position starts: the log start (false) or the end (true)
 * @param linkBound        null for a member of its own (HTTP); else the member is one protocol link's (AMQP)
 */
public record JoinRequest(List<String> topics, GroupMode mode, long sessionTimeoutMs, long leaseMs, boolean startAtLatest,
                          LinkBound linkBound) {

  public static final long DEFAULT_SESSION_TIMEOUT_MS = 30_000;
  public static final long DEFAULT_LEASE_MS = 30_000;
  public static final long MAX_LEASE_MS = 600_000;

  public JoinRequest {
    topics = List.copyOf(topics);
  }

  public JoinRequest(List<String> topics, GroupMode mode, long sessionTimeoutMs, long leaseMs, boolean startAtLatest) {
    this(topics, mode, sessionTimeoutMs, leaseMs, startAtLatest, null);
  }

  /**
   * A member that lives as long as a protocol link (an AMQP consumer link). Its leases last {@code leaseMs} whatever
   * its length (the link's consumer timeout), and its {@link Broker#leave leave} is a disconnect: a record it held
   * goes back with no attempt counted only {@code maxFreeReleases} times; past that a disconnect counts an attempt,
   * so a record whose consumer keeps crashing is dead-lettered in the end. The count is kept in memory.
   */
  public record LinkBound(int maxFreeReleases) {
    public LinkBound {
      if (maxFreeReleases < 0) {
        throw new IllegalArgumentException("maxFreeReleases must not be negative");
      }
    }
  }
}
