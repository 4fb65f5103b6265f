package dev.runnel.broker.impl;

import dev.runnel.broker.Delivery;
import dev.runnel.broker.StoredRecord;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link LongPolls} on a real Vert.x context, without Postgres or a broker. */
class LongPollsTest {

  private static final long FOREVER = TimeUnit.HOURS.toMillis(1);
  private final Vertx vertx = Vertx.vertx();
  private final ContextInternal context = ((VertxInternal) vertx).createEventLoopContext();
  /** What each member may take now. */
  private final Map<String, List<Delivery>> available = new HashMap<>();
  private final LongPolls<String> polls = new LongPolls<>(vertx, context,
      (member, max, bytes) -> available.getOrDefault(member, List.of()));

  @AfterEach
  void close() {
    vertx.close().await();
  }

  @Test
  void aWakeAnswersThePollsThatCanTakeSomethingAndLeavesTheOthersWaiting() throws Exception {
    Future<List<Delivery>> a = onContext(() -> polls.await("a", 10, 1 << 20, FOREVER));
    Future<List<Delivery>> b = onContext(() -> polls.await("b", 10, 1 << 20, FOREVER));
    onContext(() -> {
      available.put("a", List.of(delivery(1)));
      polls.wake(() -> true);
      return Future.succeededFuture();
    });
    assertThat(a.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS)).extracting(Delivery::offset)
        .containsExactly(1L);
    assertThat(onContextValue(() -> polls.isWaiting("b"))).isTrue();
    assertThat(b.isComplete()).isFalse();
  }

  @Test
  void aWakeHandsOutNothingWhenTheGroupMayNotHandOut() throws Exception {
    Future<List<Delivery>> a = onContext(() -> polls.await("a", 10, 1 << 20, FOREVER));
    onContext(() -> {
      available.put("a", List.of(delivery(1)));
      polls.wake(() -> false);
      return Future.succeededFuture();
    });
    assertThat(onContextValue(() -> polls.idle() && polls.isWaiting("a"))).as("the pass ran and answered nobody")
        .isTrue();
    assertThat(a.isComplete()).isFalse();
  }

  @Test
  void aPollWhoseWaitEndsAnswersNothingAndARemovedOneIsTheCallersToAnswer() throws Exception {
    Future<List<Delivery>> shortWait = onContext(() -> polls.await("a", 10, 1 << 20, 1));
    assertThat(shortWait.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS)).isEmpty();
    Future<List<Delivery>> removed = onContext(() -> polls.await("b", 10, 1 << 20, FOREVER));
    List<Delivery> leaveAnswer = new ArrayList<>();
    onContext(() -> {
      polls.remove("b").forEach(p -> p.tryComplete(leaveAnswer));
      return Future.succeededFuture();
    });
    assertThat(removed.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS)).isSameAs(leaveAnswer);
    assertThat(onContextValue(() -> polls.isWaiting("b"))).isFalse();
  }

  private <T> Future<T> onContext(Supplier<Future<T>> action) throws Exception {
    CompletableFuture<Future<T>> started = new CompletableFuture<>();
    context.runOnContext(v -> started.complete(action.get()));
    return started.get(10, TimeUnit.SECONDS);
  }

  /** Runs on the context after everything queued before it (a wake's pass included). */
  private <T> T onContextValue(Supplier<T> read) throws Exception {
    CompletableFuture<T> value = new CompletableFuture<>();
    context.runOnContext(v -> context.runOnContext(w -> value.complete(read.get())));
    return value.get(10, TimeUnit.SECONDS);
  }

  private static Delivery delivery(long offset) {
    return new Delivery("t" + offset, "topic", 0, offset, 1, 0,
        new StoredRecord(null, new byte[] {1}, "text/plain", List.of(), null, offset, 0));
  }
}
