package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.durability.GroupStateStore;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;

/**
 * Deleting a group (broker README, Administration): refused while it has members unless forced; then its runtime ends
 * (calls that come meanwhile wait, and then go to the group's next runtime), its members go, its state machines stop
 * and the storage work they have in flight finishes, so no save or dead letter lands after the one statement that
 * deletes every stored row of the group under its epoch. Runs on the group's context.
 */
final class GroupDeletion {

  private static final long DRAIN_MS = 30_000;

  private final String group;
  private final ContextInternal context;
  private final GroupStateStore states;
  private final GroupMembership membership;
  private final GroupPartitions partitions;
  private final GroupOwnership ownership;
  /** Removes the members (their long polls fail UNKNOWN_MEMBER) and closes the state machines. */
  private final Runnable stopServing;
  /** The engine forgets the runtime: the next call on the group's name gets a new one. */
  private final Runnable forget;

  GroupDeletion(String group, ContextInternal context, GroupStateStore states, GroupMembership membership,
                GroupPartitions partitions, GroupOwnership ownership, Runnable stopServing, Runnable forget) {
    this.group = group;
    this.context = context;
    this.states = states;
    this.membership = membership;
    this.partitions = partitions;
    this.ownership = ownership;
    this.stopServing = stopServing;
    this.forget = forget;
  }

  /**
   * Deletes the group: with members only when forced (they are removed: leases end without an attempt, long polls
   * fail UNKNOWN_MEMBER). Whatever the outcome, the runtime then leaves the engine and gives the group's lease up.
   * NOT_FOUND when nothing of the group was here nor stored.
   */
  Future<Void> delete(boolean force) {
    if (!membership.isEmpty() && !force) {
      return Future.failedFuture(new BrokerException(BrokerError.GROUP_NOT_EMPTY, "group " + group + " has "
          + membership.size() + " member(s) " + membership.ids() + ": they must leave first, or delete with force"));
    }
    boolean known = !membership.isEmpty() || !partitions.isEmpty();
    Promise<Void> gone = ownership.ending();
    stopServing.run();
    return drained()
        .compose(v -> states.deleteGroup(group, ownership.epoch()))
        .transform(ar -> {
          forget.run();
          ownership.release();  // the next runtime of this name takes it again
          gone.complete();
          if (ar.failed()) {
            return Future.failedFuture(ar.cause());
          }
          return ar.result() || known ? Future.<Void>succeededFuture()
              : Future.failedFuture(new BrokerException(BrokerError.NOT_FOUND, "group " + group + " does not exist"));
        });
  }

  /** Completes once no state machine has storage work in flight; fails UNAVAILABLE after {@link #DRAIN_MS}. */
  private Future<Void> drained() {
    return Await.until(context, () -> partitions.all().stream().allMatch(PartitionDelivery::idle), DRAIN_MS,
        () -> new BrokerException(BrokerError.UNAVAILABLE, "group " + group + " still had storage work in flight after "
            + DRAIN_MS + " ms; nothing was deleted: try again"));
  }
}
