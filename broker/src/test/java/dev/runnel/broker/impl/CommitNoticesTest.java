package dev.runnel.broker.impl;

import dev.runnel.durability.TopicPartition;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link CommitNotices} on a real (local) event bus, without Postgres or a broker. */
class CommitNoticesTest {

  private final Vertx vertx = Vertx.vertx();
  private final CommitNotices notices = new CommitNotices(vertx);
  private final TopicPartition partition = new TopicPartition(UUID.randomUUID(), 3);

  @AfterEach
  void close() {
    vertx.close().await();
  }

  @Test
  void aSubscriberGetsItsPartitionsNoticesInOrderOnItsOwnContextAndNothingAfterUnregistering() throws Exception {
    ContextInternal group = ((VertxInternal) vertx).createEventLoopContext();
    List<Long> seen = new CopyOnWriteArrayList<>();
    List<Boolean> onGroupContext = new CopyOnWriteArrayList<>();
    CompletableFuture<MessageConsumer<Long>> subscribed = new CompletableFuture<>();
    group.runOnContext(v -> subscribed.complete(notices.subscribe(partition, hw -> {
      seen.add(hw);
      onGroupContext.add(ContextInternal.current().unwrap() == group);  // the event bus hands each on a duplicate
    })));
    MessageConsumer<Long> consumer = subscribed.get(10, TimeUnit.SECONDS);
    consumer.completion().await();

    ContextInternal writer = ((VertxInternal) vertx).createEventLoopContext();
    String address = CommitNotices.address(partition);
    String other = CommitNotices.address(new TopicPartition(partition.topicId(), 4));
    writer.runOnContext(v -> {
      notices.publish(address, 5);
      notices.publish(other, 99);
      notices.publish(address, 7);
    });
    awaitSize(seen, 2);
    assertThat(seen).containsExactly(5L, 7L);
    assertThat(onGroupContext).containsExactly(true, true);

    consumer.unregister().await();
    writer.runOnContext(v -> notices.publish(address, 9));
    // A notice published after the unregistration is not delivered; a later subscriber sees only what follows it.
    CompletableFuture<Long> next = new CompletableFuture<>();
    MessageConsumer<Long> later = notices.subscribe(partition, next::complete);
    later.completion().await();
    writer.runOnContext(v -> notices.publish(address, 11));
    assertThat(next.get(10, TimeUnit.SECONDS)).isIn(9L, 11L);
    assertThat(seen).containsExactly(5L, 7L);
  }

  private static void awaitSize(List<?> list, int size) throws InterruptedException {
    for (int i = 0; i < 1000 && list.size() < size; i++) {
      Thread.sleep(10);
    }
  }
}
