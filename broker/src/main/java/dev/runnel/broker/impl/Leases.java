package dev.runnel.broker.impl;

import java.util.BitSet;
import java.util.Comparator;
import java.util.TreeSet;

/**
 * The in-flight leases of one state machine: a deadline queue that holds only what is in flight (a lease leaves it
 * when it ends), the lease ids handed out, and whether each of the latest {@value #RECENT} leases ended in an ack, so
 * that acking twice answers OK. Confined to its state machine's context, like the state machine.
 *
 * @param <T> what holds a lease (the state machine's record entry)
 */
final class Leases<T> {

  /** How many of the latest leases remember whether they were acked. */
  static final int RECENT = 16_384;

  /**
   * A lease in the queue. Immutable, so that the queue's order cannot change under it (a queue cleaned lazily at the
   * deadline kept every acked lease for its whole lease length, tens of megabytes that each young collection copied).
   */
  record Lease<T>(long deadline, long id, T holder) {
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
    Lease<T> lease = new Lease<>(deadline, id, holder);
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
