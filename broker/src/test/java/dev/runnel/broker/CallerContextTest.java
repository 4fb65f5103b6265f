package dev.runnel.broker;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static dev.runnel.broker.BrokerFixture.unique;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Broker's contract that a future completes on its caller's context, which transports rely on to touch their
 * connections on the right thread (DESIGN.md section 7: every proton object on its connection's context). A group's
 * first call loads the token key on one context; calls made on another context must still complete on theirs.
 */
class CallerContextTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private BrokerFixture f;

  @BeforeEach
  void open() {
    f = new BrokerFixture(PG, o -> { });
  }

  @AfterEach
  void close() {
    f.close();
  }

  @Test
  void groupCallsCompleteOnTheCallersContext() throws Exception {
    String topic = f.topic(1, TopicConfig.DEFAULT);
    f.produce(topic, "k=v");
    String group = unique("g");
    VertxInternal vertx = (VertxInternal) f.vertx;
    ContextInternal first = vertx.createEventLoopContext();
    ContextInternal second = vertx.createEventLoopContext();
    assertThat(second.nettyEventLoop()).as("two event loops").isNotSameAs(first.nettyEventLoop());

    JoinRequest request = new JoinRequest(List.of(topic), GroupMode.SHARED, 30_000, 30_000, false);
    Completion<Membership> joined = await(first, () -> f.broker.join(group, request));
    Membership member = joined.result();
    Map<String, Supplier<Future<?>>> calls = new LinkedHashMap<>();
    calls.put("join", () -> f.broker.join(group, request));
    calls.put("heartbeat", () -> f.broker.heartbeat(group, member.memberId()));
    calls.put("fetch", () -> f.broker.fetch(group, member.memberId(), 10, 1 << 20, 0));
    calls.put("long poll", () -> f.broker.fetch(group, member.memberId(), 10, 1 << 20, 50));
    calls.put("describeGroup", () -> f.broker.describeGroup(group));
    calls.put("produce", () -> f.broker.produce(topic, List.of(new ProduceRecord(null, new byte[]{1}, "text/plain",
        List.of(), null, null))));
    calls.put("read", () -> f.broker.read(topic, 0, 0, 10, 1 << 20));
    calls.put("describeTopic", () -> f.broker.describeTopic(topic));
    calls.put("settle", () -> f.broker.settle(group, new Outcomes(List.of(), List.of(), List.of(), List.of())));
    calls.put("leave", () -> f.broker.leave(group, member.memberId()));
    for (Map.Entry<String, Supplier<Future<?>>> call : calls.entrySet()) {
      Completion<?> c = await(second, call.getValue());
      assertThat(c.context()).as(call.getKey() + " completes on its caller's context").isSameAs(second);
    }
  }

  private record Completion<T>(T result, Context context) {
  }

  private static <T> Completion<T> await(Context context, Supplier<? extends Future<?>> call) throws Exception {
    CompletableFuture<Completion<T>> done = new CompletableFuture<>();
    context.runOnContext(v -> call.get().onComplete(ar -> {
      if (ar.failed()) {
        done.completeExceptionally(ar.cause());
      } else {
        @SuppressWarnings("unchecked")
        T result = (T) ar.result();
        done.complete(new Completion<>(result, Vertx.currentContext()));
      }
    }));
    return done.get(10, TimeUnit.SECONDS);
  }
}
