package dev.runnel.broker.impl;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.internal.ContextInternal;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Waits on a context for a condition, checked every {@link #EVERY_MS} ms, with a bound. One promise for the whole wait:
 * a promise per check, each completed by the next, makes a chain thousands deep that overflows the stack when it
 * completes at last (it did, in a 10 s hand-over: the group was never released, and its next owner never ready).
 */
final class Await {

  static final long EVERY_MS = 2;

  private Await() {
  }

  /** Completes once {@code condition} holds; fails with {@code late} once {@code boundMs} passed without it. */
  static Future<Void> until(ContextInternal context, BooleanSupplier condition, long boundMs,
                            Supplier<Throwable> late) {
    return until(context, condition, EVERY_MS, boundMs, late);
  }

  /** As {@link #until(ContextInternal, BooleanSupplier, long, Supplier)}, checking every {@code everyMs} ms. */
  static Future<Void> until(ContextInternal context, BooleanSupplier condition, long everyMs, long boundMs,
                            Supplier<Throwable> late) {
    Promise<Void> done = context.promise();
    long giveUpAt = System.nanoTime() + boundMs * 1_000_000;
    context.runOnContext(v -> check(context, condition, everyMs, giveUpAt, late, done));
    return done.future();
  }

  private static void check(ContextInternal context, BooleanSupplier condition, long everyMs, long giveUpAt,
                            Supplier<Throwable> late, Promise<Void> done) {
    if (condition.getAsBoolean()) {
      done.complete();
    } else if (System.nanoTime() - giveUpAt > 0) {
      done.fail(late.get());
    } else {
      context.setTimer(everyMs, id -> check(context, condition, everyMs, giveUpAt, late, done));
    }
  }
}
