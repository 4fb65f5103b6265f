package dev.runnel.broker.impl;

import dev.runnel.durability.GroupLease;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.assertj.core.api.Assertions.assertThat;

/** A group runtime's lease and end ({@link GroupOwnership}) on a real Vert.x context, with a fake lease store. */
class GroupOwnershipTest {

  private final Vertx vertx = Vertx.vertx();
  private final ContextInternal context = ((VertxInternal) vertx).createEventLoopContext();
  /** The acquisitions asked for, answered by the test. */
  private final List<Promise<GroupLease>> acquisitions = new ArrayList<>();
  private int lost;
  private final GroupOwnership ownership = new GroupOwnership("g", context, () -> {
    Promise<GroupLease> p = Promise.promise();
    acquisitions.add(p);
    return p.future();
  }, lease -> Future.succeededFuture(), () -> lost++);

  /** A lease whose currency the test decides. */
  private static final class FakeLease implements GroupLease {
    volatile boolean current = true;
    int released;

    @Override
    public String group() {
      return "g";
    }

    @Override
    public long epoch() {
      return 7;
    }

    @Override
    public boolean isCurrent() {
      return current;
    }

    @Override
    public JsonObject sessions() {
      return null;
    }

    @Override
    public Future<Void> release(JsonObject sessions) {
      released++;
      return Future.succeededFuture();
    }
  }

  @AfterEach
  void close() {
    vertx.close().await();
  }

  @Test
  void callsWaitingForTheLeaseShareOneAcquisitionAndAFailedOneIsTriedAgain() throws Exception {
    Future<Void> first = onContext(ownership::owned);
    Future<Void> second = onContext(ownership::owned);
    assertThat(onContext(acquisitions::size)).isEqualTo(1);
    acquisitions.get(0).fail(new IllegalStateException("held by node b"));
    assertThat(await(first).cause()).hasMessage("held by node b");
    assertThat(await(second).cause()).hasMessage("held by node b");
    assertThat(onContext(ownership::epoch)).isEqualTo(-1);

    Future<Void> third = onContext(ownership::owned);
    FakeLease lease = new FakeLease();
    acquisitions.get(1).complete(lease);
    assertThat(await(third).succeeded()).isTrue();
    assertThat(onContext(ownership::owned).succeeded()).as("held: no acquisition").isTrue();
    assertThat(acquisitions).hasSize(2);
    assertThat(onContext(ownership::epoch)).isEqualTo(7);
    assertThat(lost).isZero();
  }

  @Test
  void aLeaseFoundLostByATickEndsTheRuntimeOnceAndHandsOutNothingMore() throws Exception {
    FakeLease lease = held();
    assertThat(onContext(ownership::stillOwned)).isTrue();
    lease.current = false;
    assertThat(onContext(ownership::stillOwned)).isFalse();
    assertThat(onContext(ownership::ended)).isTrue();
    assertThat(onContext(ownership::stillOwned)).isFalse();
    assertThat(lost).as("stopped once").isEqualTo(1);
    assertThat(onContext(ownership::end).succeeded()).isTrue();
    assertThat(acquisitions).as("this runtime never takes the lease again").hasSize(1);
  }

  @Test
  void aLeaseFoundLostByACallEndsTheRuntimeAndTheCallGoesOn() throws Exception {
    FakeLease lease = held();
    lease.current = false;
    assertThat(onContext(ownership::owned).succeeded()).as("the caller sees the end and goes elsewhere").isTrue();
    assertThat(onContext(ownership::ended)).isTrue();
    assertThat(onContext(ownership::stillOwned)).isFalse();
    assertThat(lost).isEqualTo(1);
    assertThat(acquisitions).hasSize(1);
  }

  @Test
  void aDeletionEndsTheRuntimeUntilItCompletesAndGivesTheLeaseUp() throws Exception {
    FakeLease lease = held();
    Promise<Void> gone = onContext(ownership::ending);
    assertThat(onContext(ownership::stillOwned)).isFalse();
    assertThat(onContext(() -> ownership.end().isComplete())).isFalse();
    onContext(() -> {
      ownership.release();
      gone.complete();
      return null;
    });
    assertThat(onContext(() -> ownership.end().succeeded())).isTrue();
    assertThat(lease.released).isEqualTo(1);
    assertThat(lost).as("a deletion is not a lost lease").isZero();
  }

  @Test
  void aLeaseThatArrivesAfterTheRuntimeEndedIsGivenStraightBack() throws Exception {
    // A hand-over (the view changed) while the first call's acquisition is in flight: the runtime is forgotten with
    // no lease to release; the lease that arrives after must not stay held (renewed for no runtime, it would keep the
    // group from the node it is placed on for ever).
    Future<Void> owned = onContext(ownership::owned);
    Promise<Void> gone = onContext(ownership::ending);
    onContext(() -> {
      ownership.release();
      gone.complete();
      return null;
    });
    FakeLease late = new FakeLease();
    acquisitions.get(0).complete(late);
    await(owned);
    assertThat(late.released).as("released as it arrived").isEqualTo(1);
    assertThat(onContext(ownership::stillOwned)).isFalse();
  }

  private FakeLease held() throws Exception {
    Future<Void> owned = onContext(ownership::owned);
    FakeLease lease = new FakeLease();
    acquisitions.get(0).complete(lease);
    assertThat(await(owned).succeeded()).isTrue();
    return lease;
  }

  private static <T> Future<T> await(Future<T> f) throws Exception {
    CompletableFuture<Future<T>> done = new CompletableFuture<>();
    f.onComplete(ar -> done.complete(f));
    return done.get(10, TimeUnit.SECONDS);
  }

  /** What {@code read} answers on the group's context (a future: as it is then). */
  private <T> T onContext(Supplier<T> read) throws Exception {
    CompletableFuture<T> value = new CompletableFuture<>();
    context.runOnContext(v -> value.complete(read.get()));
    return value.get(10, TimeUnit.SECONDS);
  }
}
