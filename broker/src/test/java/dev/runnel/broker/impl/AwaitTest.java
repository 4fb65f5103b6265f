package dev.runnel.broker.impl;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/** Waiting on a context for a condition ({@link Await}) on a real Vert.x context. */
class AwaitTest {

  private final Vertx vertx = Vertx.vertx();
  private final ContextInternal context = ((VertxInternal) vertx).createEventLoopContext();

  @AfterEach
  void close() {
    vertx.close().await();
  }

  @Test
  void completesOnceTheConditionHoldsCheckedOnTheContext() throws Exception {
    AtomicInteger checks = new AtomicInteger();
    AtomicInteger offContext = new AtomicInteger();
    Future<Void> done = Await.until(context, () -> {
      if (!context.inThread()) {
        offContext.incrementAndGet();
      }
      return checks.incrementAndGet() == 5;
    }, 1, 60_000, () -> new IllegalStateException("late"));
    done.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertThat(checks).hasValue(5);
    assertThat(offContext).hasValue(0);
  }

  /**
   * A wait of thousands of checks completes. Made of a promise per check, each completed by the next, its end
   * overflowed the stack on its way back and the wait never completed (a hand-over was stuck so, its lease never given
   * back).
   */
  @Test
  void aWaitOfThousandsOfChecksCompletes() throws Exception {
    AtomicInteger checks = new AtomicInteger();
    Future<Void> done = Await.until(context, () -> checks.incrementAndGet() == 3_000, 1, 60_000,
        () -> new IllegalStateException("late"));
    done.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertThat(checks).hasValue(3_000);
  }

  @Test
  void aWaitThatRunsOutFailsWithTheGivenCause() throws Exception {
    Future<Void> done = Await.until(context, () -> false, 1, 50, () -> new IllegalStateException("late"));
    Throwable cause = done.transform(ar -> Future.succeededFuture(ar.cause()))
        .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    assertThat(cause).hasMessage("late");
  }
}
