package dev.runnel.durability;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;

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

  /**
   * The member sessions the group's previous owner passed on when it gave the lease up gracefully ({@link
   * #release(JsonObject)}); null when it passed none (it failed, or had no members). Read once, at the acquisition.
   */
  JsonObject sessions();

  /** Gives the lease up, so another owner need not wait for it to expire; later writes under its epoch are fenced. */
  default Future<Void> release() {
    return release(null);
  }

  /** As {@link #release()}, passing {@code sessions} (null: none) to whoever acquires the lease next. */
  Future<Void> release(JsonObject sessions);
}
