package dev.runnel.broker.impl;

import dev.runnel.broker.Delivery;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * A group's long polls: fetches that found nothing and wait until something is handed to them or their wait ends
 * (then they answer an empty list). A wake makes one pass over them on a later turn of the group's context, so
 * several partitions becoming deliverable at once make one pass and the pass never runs inside a state machine's own
 * update; the polls it fills are answered after the pass, since an answer's callback may fetch again (in-process
 * consumers do) and so add a poll. Confined to the group's context.
 *
 * @param <M> the group's member
 */
final class LongPolls<M> {

  /** Hands out to a member what it may take now (empty: nothing). */
  interface Collector<M> {
    List<Delivery> collect(M member, int maxRecords, long maxBytes);
  }

  private record Poll<M>(M member, int maxRecords, long maxBytes, Promise<List<Delivery>> promise, long timer) {
  }

  private final Vertx vertx;
  private final ContextInternal context;
  private final Collector<M> collector;
  private final List<Poll<M>> polls = new ArrayList<>();
  private boolean wakeScheduled;

  LongPolls(Vertx vertx, ContextInternal context, Collector<M> collector) {
    this.vertx = vertx;
    this.context = context;
    this.collector = collector;
  }

  /** Waits up to {@code waitMs} for deliveries for the member. */
  Future<List<Delivery>> await(M member, int maxRecords, long maxBytes, long waitMs) {
    Promise<List<Delivery>> promise = context.promise();
    long timer = vertx.setTimer(waitMs, id -> {
      polls.removeIf(p -> p.promise == promise);
      promise.tryComplete(List.of());
    });
    polls.add(new Poll<>(member, maxRecords, maxBytes, promise, timer));
    return promise.future();
  }

  /** Something may have become deliverable: a pass on a later turn, if {@code mayHandOut} still says so then. */
  void wake(BooleanSupplier mayHandOut) {
    if (polls.isEmpty() || wakeScheduled) {
      return;
    }
    wakeScheduled = true;
    context.runOnContext(v -> {
      wakeScheduled = false;
      if (!mayHandOut.getAsBoolean()) {
        return;
      }
      List<Poll<M>> answered = new ArrayList<>();
      List<List<Delivery>> answers = new ArrayList<>();
      for (Iterator<Poll<M>> it = polls.iterator(); it.hasNext(); ) {
        Poll<M> p = it.next();
        List<Delivery> deliveries = collector.collect(p.member, p.maxRecords, p.maxBytes);
        if (!deliveries.isEmpty()) {
          it.remove();
          vertx.cancelTimer(p.timer);
          answered.add(p);
          answers.add(deliveries);
        }
      }
      for (int i = 0; i < answered.size(); i++) {
        answered.get(i).promise.tryComplete(answers.get(i));
      }
    });
  }

  /** Answers the member's polls at once (a leave: nothing). */
  void answer(M member, List<Delivery> answer) {
    remove(member).forEach(p -> p.tryComplete(answer));
  }

  /**
   * Removes the member's polls and stops their timers; the caller answers them after (an answer may fetch again).
   */
  List<Promise<List<Delivery>>> remove(M member) {
    List<Promise<List<Delivery>>> removed = new ArrayList<>();
    polls.removeIf(p -> {
      if (p.member != member) {
        return false;
      }
      vertx.cancelTimer(p.timer);
      removed.add(p.promise);
      return true;
    });
    return removed;
  }

  /** Removes every poll and stops its timer; the caller answers them after. */
  List<Promise<List<Delivery>>> removeAll() {
    List<Promise<List<Delivery>>> removed = new ArrayList<>();
    for (Poll<M> p : polls) {
      vertx.cancelTimer(p.timer);
      removed.add(p.promise);
    }
    polls.clear();
    return removed;
  }

  /** A member waiting in a poll is alive. */
  boolean isWaiting(M member) {
    return polls.stream().anyMatch(p -> p.member == member);
  }

  /** No wake pass is pending. */
  boolean idle() {
    return !wakeScheduled;
  }
}
