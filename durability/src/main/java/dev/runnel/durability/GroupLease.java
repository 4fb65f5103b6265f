package dev.runnel.durability;

import io.vertx.core.Future;

/**
 * A consumer group's lease, held by this store's {@link Incarnation}: its epoch fences every write of the group's
 * state ({@link GroupStateStore}, dead letters through {@link PartitionLog#appendDeadLetters}). The store renews it
 * with the partition leases and releases it when closed. Thread-safe.
 */
public interface GroupLease {

  String group();

  long epoch();

  /**
   * False once a renewal found the lease taken, or its local deadline passed without a renewal: the group's owner
   * must stop handing out and accepting outcomes, and acquire again.
   */
  boolean isCurrent();

  /** Gives the lease up, so another owner need not wait for it to expire; later writes under its epoch are fenced. */
  Future<Void> release();
}
