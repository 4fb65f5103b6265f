package dev.runnel.broker.impl;

import java.util.BitSet;
import java.util.Comparator;
import java.util.TreeSet;

/**
 * The in-flight leases of one state machine: a deadline queue that holds only what is in flight (a lease leaves it
 * when it ends), the lease ids handed out, whether each of the latest {@value #RECENT} leases ended in an ack, so
 * that acking twice answers OK, and the rule of a member's leave: free (no attempt counted) for a member of its own,
 * free only {@code maxFreeReleases} times per record for a link-bound one (an AMQP link: {@code JoinRequest.LinkBound},
 * DESIGN.md section 7). Confined to its state machine's context, like the state machine.
 *
 * @param <T> what holds a lease (the state machine's record entry)
 */
final class Leases<T> {

  /** How many of the latest leases remember whether they were acked. */
  static final int RECENT = 16_384;

  /** The leave allowance of a member of its own (not link-bound): its leave never counts an attempt. */
  static final int OWN_MEMBER = Integer.MAX_VALUE;

  /**
   * A lease: its holder's, to a member, until a deadline; and how many times its holder's record was given back for
   * free by a leaving member so far (carried from lease to lease of that record; in memory only, as DESIGN.md section
   * 7 says). Immutable, so that the queue's order cannot change under it (a queue cleaned lazily at the deadline kept
   * every acked lease for its whole lease length, tens of megabytes that each young collection copied).
   */
  record Lease<T>(long deadline, long id, T holder, String member, int freeReleases) {

    /**
     * Whether its member's leave counts an attempt (as a failure): when the leaving member is link-bound and this
     * record was given back for free {@code maxFreeReleases} times already, so that a record whose consumer keeps
     * crashing is dead-lettered in the end.
     *
     * @param maxFreeReleases the leaving member's allowance: {@code JoinRequest.LinkBound}'s for a link-bound member,
     *                        {@link #OWN_MEMBER} for a member of its own
     */
    boolean leaveCountsAttempt(int maxFreeReleases) {
      return freeReleases >= maxFreeReleases;
    }
  }

  private final TreeSet<Lease<T>> queue = new TreeSet<>(Comparator.<Lease<T>>comparingLong(Lease::deadline)
      .thenComparingLong(Lease::id));
  private final BitSet acked = new BitSet(RECENT);
  private long lastId;

  /** A new lease id, not acked yet. */
  long nextId() {
    long id = ++lastId;
    acked.clear(slot(id));
    return id;
  }

  /** Puts a lease in the deadline queue; {@link #end} takes it out. */
  Lease<T> start(long id, long deadline, T holder) {
    return queued(new Lease<>(deadline, id, holder, null, 0));
  }

  /**
   * Leases {@code holder} to {@code member} until {@code deadline} under a new id, in the deadline queue.
   *
   * @param previous the holder's latest lease, ended (its free releases go on), or null
   */
  Lease<T> lease(T holder, String member, long deadline, Lease<T> previous) {
    return queued(new Lease<>(deadline, nextId(), holder, member, previous == null ? 0 : previous.freeReleases()));
  }

  /** The same lease until a new deadline (an extension): it moves to its new place in the queue. */
  Lease<T> extend(Lease<T> lease, long deadline) {
    end(lease);
    return queued(new Lease<>(deadline, lease.id(), lease.holder(), lease.member(), lease.freeReleases()));
  }

  /**
   * Ends a lease its member's leave gives back for free ({@link Lease#leaveCountsAttempt} said no): the ended lease,
   * with one more free release, for its holder to keep until its next lease.
   */
  Lease<T> releasedFree(Lease<T> lease) {
    end(lease);
    return new Lease<>(lease.deadline(), lease.id(), lease.holder(), lease.member(), lease.freeReleases() + 1);
  }

  private Lease<T> queued(Lease<T> lease) {
    queue.add(lease);
    return lease;
  }

  void end(Lease<T> lease) {
    queue.remove(lease);
  }

  /** Takes the earliest lease due at {@code now} out of the queue and answers its holder; null when none is due. */
  T pollDue(long now) {
    return queue.isEmpty() || queue.first().deadline() > now ? null : queue.pollFirst().holder();
  }

  /** Ends every lease at once (a seek, a stop); the ids and acks are kept. */
  void clear() {
    queue.clear();
  }

  int inQueue() {
    return queue.size();
  }

  void acked(long id) {
    acked.set(slot(id));
  }

  /** Whether lease {@code id}, one of the latest {@value #RECENT} handed out, ended in an ack. */
  boolean wasAcked(long id) {
    return id <= lastId && id > lastId - RECENT && acked.get(slot(id));
  }

  private static int slot(long id) {
    return (int) Math.floorMod(id, (long) RECENT);
  }
}
