package dev.runnel.broker.impl;

import dev.runnel.broker.Delivery;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/**
 * Hands a group to another node gracefully (DESIGN.md section 6): it stops handing out (waiting long polls answer
 * empty, new calls wait) and reading records, and <em>drains</em>: outcomes for the deliveries in flight are still
 * accepted, for up to {@code drainMs}, while the lease is current; then what is unsaved is saved (for up to {@link
 * #SAVE_MS}), the runtime leaves the engine, the lease is released with the members' sessions passed on, and the
 * waiting calls fail {@link NotHere}, so the routes send them to the next owner, which takes the sessions over: the
 * members go on without joining again. A delivery not settled in the drain comes back from the next owner, as after a
 * failure. Runs on the group's context.
 */
final class GroupHandOver {

  private static final Logger LOG = LoggerFactory.getLogger(GroupHandOver.class);
  /** How long a hand-over waits for the group's changes to be saved. */
  static final long SAVE_MS = 10_000;
  /** How often the drain counts the deliveries still in flight (a scan of the windows). */
  private static final long DRAIN_CHECK_MS = 10;

  private final String group;
  private final ContextInternal context;
  private final long drainMs;
  private final GroupMembership membership;
  private final GroupPartitions partitions;
  private final GroupOwnership ownership;
  private final LongPolls<GroupMembership.Member> polls;
  private final Runnable stopServing;
  private final Runnable forget;
  /** Written on the group's context, read from any thread (a forwarded outcome asks before it hops there). */
  private volatile boolean draining;
  /** The hand-over under way; null before it starts. */
  private Future<Void> running;

  GroupHandOver(String group, ContextInternal context, long drainMs, GroupMembership membership,
                GroupPartitions partitions, GroupOwnership ownership, LongPolls<GroupMembership.Member> polls,
                Runnable stopServing, Runnable forget) {
    this.group = group;
    this.context = context;
    this.drainMs = drainMs;
    this.membership = membership;
    this.partitions = partitions;
    this.ownership = ownership;
    this.polls = polls;
    this.stopServing = stopServing;
    this.forget = forget;
  }

  boolean draining() {
    return draining;
  }

  /** Whether outcomes are accepted now although the runtime has ended: it drains, and its lease is current. */
  boolean acceptsOutcomes() {
    return draining && ownership.current();
  }

  /** Completes once the group is handed over; a second call answers the hand-over under way. */
  Future<Void> handOver() {
    if (running != null) {
      return running;
    }
    if (ownership.ended()) {
      return Future.succeededFuture();
    }
    running = drainAndRelease();
    return running;
  }

  private Future<Void> drainAndRelease() {
    Promise<Void> moved = ownership.ending();
    draining = true;
    partitions.stopReading();  // else, under load, a read is always in flight and the saves never look finished
    for (Promise<List<Delivery>> poll : polls.removeAll()) {
      poll.tryComplete(List.of());  // its member fetches again, and that fetch goes to the next owner
    }
    return Await.until(context, () -> partitions.inFlight() == 0 || !ownership.current(), DRAIN_CHECK_MS, drainMs,
            () -> new IllegalStateException(partitions.inFlight() + " deliveries still in flight"))
        .transform(drained -> {
          draining = false;
          if (drained.failed()) {
            LOG.info("group {} is handed over after its {} ms drain: {} (they come back from the next owner)", group,
                drainMs, drained.cause().getMessage());
          }
          return Await.until(context, () -> partitions.idle(true), SAVE_MS,
              () -> new IllegalStateException("still saving"));
        })
        .transform(saved -> {
          if (saved.failed()) {
            LOG.warn("group {} is handed over with changes unsaved after {} ms: {}", group, SAVE_MS,
                saved.cause().getMessage());
          }
          JsonObject sessions = ownership.current() ? membership.sessions() : null;
          stopServing.run();
          forget.run();
          return ownership.release(sessions).transform(released -> {
            moved.fail(new NotHere("group " + group + " was handed to another node"));
            return Future.<Void>succeededFuture();
          });
        });
  }
}
