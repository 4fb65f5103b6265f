package dev.runnel.broker.impl;

import dev.runnel.durability.GroupLease;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.json.JsonObject;
import io.vertx.core.internal.ContextInternal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Whether a group's runtime serves its group (DESIGN.md section 6): it holds the group's lease, taken at its first call,
 * whose epoch fences every write of the group's state, and it has not ended. It ends when the lease is found lost (ran
 * out unrenewed, or taken: then it stops at once) or when the group is deleted; calls that come after go to the
 * group's next runtime. Confined to the group's context.
 */
final class GroupOwnership {

  private static final Logger LOG = LoggerFactory.getLogger(GroupOwnership.class);

  private final String group;
  private final ContextInternal context;
  private final Supplier<Future<GroupLease>> acquire;
  private final Function<GroupLease, Future<Void>> onTaken;
  private final Runnable onLost;
  private GroupLease lease;
  private Future<Void> leasing;
  /** Set when the runtime ends (deleted, or its lease lost); completes once it is no longer the engine's. */
  private Future<Void> end;

  /**
   * @param acquire takes the group's lease (failing UNAVAILABLE, naming the owner, while another node holds it)
   * @param onTaken runs on the group's context once the lease is held, before any call (it takes over the sessions a
   *                previous owner passed on); its failure fails no call
   * @param onLost  stops the runtime at once, on the group's context, when its lease is found lost
   */
  GroupOwnership(String group, ContextInternal context, Supplier<Future<GroupLease>> acquire,
                 Function<GroupLease, Future<Void>> onTaken, Runnable onLost) {
    this.group = group;
    this.context = context;
    this.acquire = acquire;
    this.onTaken = onTaken;
    this.onLost = onLost;
  }

  /**
   * Holds the group's lease: takes it at the first call (one acquisition for the calls that wait for it). A lease
   * found lost ends the runtime ({@link #lose}) and completes: the caller, seeing {@link #ended}, goes to the next
   * runtime, which takes the lease again and loads the group's state from storage.
   */
  Future<Void> owned() {
    if (leasing != null) {
      return leasing;  // being taken, and what was passed on with it being taken over
    }
    if (lease != null && lease.isCurrent()) {
      return Future.succeededFuture();
    }
    if (lease != null) {
      lose();
      return Future.succeededFuture();
    }
    Promise<Void> taken = context.promise();
    leasing = taken.future();
    acquire.get().onComplete(ar -> context.emit(v -> {
      if (ar.failed()) {
        leasing = null;
        taken.fail(ar.cause());
        return;
      }
      lease = ar.result();
      if (end != null) {
        // Ended (handed over, deleted) while the lease was being taken, so nothing released it: give it straight
        // back, or the store would renew it for no runtime and keep the group from the node it is placed on.
        LOG.info("group {} ended while its lease was being taken: {} is given back", group, lease);
        lease.release(lease.sessions());
        leasing = null;
        taken.complete();
        return;
      }
      Future<Void> takenOver;
      try {
        takenOver = onTaken.apply(lease);
      } catch (RuntimeException e) {
        takenOver = Future.failedFuture(e);
      }
      takenOver.onComplete(x -> {
        leasing = null;
        taken.complete();
      });
    }));
    return leasing;
  }

  /**
   * The lease ran out unrenewed or was taken: stop handing out and accepting outcomes at once ({@code onLost}); what
   * was saved under the lease is what the next owner loads.
   */
  private void lose() {
    LOG.warn("group {} lost its lease ({}): its members must join again", group, lease);
    end = Future.succeededFuture();
    onLost.run();
  }

  /** False when the runtime ended or its lease is held no longer (then it ends now): the caller hands out nothing. */
  boolean stillOwned() {
    if (lease != null && !lease.isCurrent() && end == null) {
      lose();
    }
    return end == null;
  }

  /** Whether the lease is held and current (a draining runtime accepts outcomes only so). */
  boolean current() {
    return lease != null && lease.isCurrent();
  }

  /** Whether the runtime ended (deleted or being deleted, or its lease lost). */
  boolean ended() {
    return end != null;
  }

  /** Completes once the ended runtime is no longer the engine's; only when {@link #ended}. */
  Future<Void> end() {
    return end;
  }

  /**
   * The runtime ends (a deletion, a hand-over): calls wait until the caller completes the promise (the engine forgot
   * the runtime), then go to the next runtime; or, when it fails, fail with its cause.
   */
  Promise<Void> ending() {
    Promise<Void> gone = context.promise();
    end = gone.future();
    return gone;
  }

  /** Gives the lease up (a deleted or handed-over group): the next runtime of the group's name takes it again. */
  Future<Void> release() {
    return release(null);
  }

  /** As {@link #release()}, passing the members' {@code sessions} (null: none) to the next owner. */
  Future<Void> release(JsonObject sessions) {
    return lease != null ? lease.release(sessions) : Future.succeededFuture();
  }

  /** The lease's epoch, which fences every write of the group's state; -1 before the lease is taken. */
  long epoch() {
    return lease == null ? -1 : lease.epoch();
  }
}
