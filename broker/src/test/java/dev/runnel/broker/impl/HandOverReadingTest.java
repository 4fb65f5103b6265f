package dev.runnel.broker.impl;

import dev.runnel.broker.RetryPolicy;
import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.GroupPartitionState;
import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.PartitionOffsets;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.eventbus.MessageConsumer;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.LongConsumer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A state machine whose group is being handed over reads no more records, so its saves can finish while records keep
 * arriving (before, a hand-over under load waited its whole 10 s bound: some read was always in flight). No Postgres:
 * the log's reads stay pending until the test answers them; futures complete on the test's thread.
 */
class HandOverReadingTest {

  private final TopicMetadata topic = new TopicMetadata(UUID.randomUUID(), "t", 1, TopicConfig.DEFAULT);
  /** The log's reads, answered by the test. */
  private final List<Promise<ReadResult>> reads = new ArrayList<>();
  private LongConsumer commitNotice;
  private int unsubscribed;

  private final PartitionLeader log = new PartitionLeader() {
    @Override
    public Future<AppendResult> append(List<LogRecord> records, boolean deduplicate) {
      throw new UnsupportedOperationException();
    }

    @Override
    public Future<AppendResult> appendDeadLetters(List<LogRecord> records, List<DeadLetterOrigin> origins,
                                                  long groupEpoch) {
      throw new UnsupportedOperationException();
    }

    @Override
    public Future<ReadResult> read(long offset, int maxRecords, int maxBytes) {
      Promise<ReadResult> read = Promise.promise();
      reads.add(read);
      return read.future();
    }

    @Override
    public Future<PartitionOffsets> offsets() {
      return Future.succeededFuture(new PartitionOffsets(0, 0, 0));
    }

    @Override
    public Future<Long> offsetForTimestamp(long timestamp) {
      throw new UnsupportedOperationException();
    }
  };

  /** The group's stored position: offset 0, nothing parked; nothing else is asked of it here. */
  private final GroupStateStore states = (GroupStateStore) Proxy.newProxyInstance(getClass().getClassLoader(),
      new Class<?>[] {GroupStateStore.class}, (proxy, method, args) -> {
        if (method.getName().equals("load")) {
          return Future.succeededFuture(new GroupPartitionState(0, 0, List.of(), List.of()));
        }
        throw new UnsupportedOperationException(method.getName());
      });

  @SuppressWarnings("unchecked")
  private final PartitionDelivery.Host host = new PartitionDelivery.Host() {
    @Override
    public long now() {
      return 0;
    }

    @Override
    public double random() {
      return 0.5;
    }

    @Override
    public int windowRecords() {
      return 100;
    }

    @Override
    public int maxParked() {
      return 100;
    }

    @Override
    public byte[] tokenKey() {
      return new byte[32];
    }

    @Override
    public int groupHash() {
      return 1;
    }

    @Override
    public Future<PartitionLeader> deadLetterLeader(TopicMetadata t, int partition) {
      throw new UnsupportedOperationException();
    }

    @Override
    public MessageConsumer<Long> commitNotices(TopicPartition partition, LongConsumer onHighWatermark) {
      commitNotice = onHighWatermark;
      return (MessageConsumer<Long>) Proxy.newProxyInstance(getClass().getClassLoader(),
          new Class<?>[] {MessageConsumer.class}, (proxy, method, args) -> {
            if (method.getName().equals("unregister")) {
              unsubscribed++;
              return Future.succeededFuture();
            }
            throw new UnsupportedOperationException(method.getName());
          });
    }

    @Override
    public void deliverable() {
    }

    @Override
    public long leaseMs(String member) {
      return 30_000;
    }

    @Override
    public long groupEpoch() {
      return 1;
    }
  };

  private final PartitionDelivery machine = new PartitionDelivery("g", topic, 0, log, states, host,
      RetryPolicy.DEFAULT, new GroupMeters(new SimpleMeterRegistry(), Clock.systemUTC(), "g", "t"));

  @Test
  void aMachineThatStoppedReadingStartsNoReadOnACommitAndIsIdleOnceItsReadReturns() {
    assertThat(machine.load(false).succeeded()).isTrue();
    commitNotice.accept(3);
    assertThat(reads).as("a commit past the window starts a read").hasSize(1);
    assertThat(machine.idle()).isFalse();

    machine.stopReading();
    assertThat(unsubscribed).as("commit notices unsubscribed").isEqualTo(1);
    reads.get(0).complete(records(0, 3));
    commitNotice.accept(6);  // a notice already on its way when the subscription went
    assertThat(reads).as("no read after the stop, though the log grew").hasSize(1);
    assertThat(machine.idle()).as("idle once the read in flight returned").isTrue();
  }

  @Test
  void aMachineStillReadingKeepsReadingAsTheLogGrows() {
    assertThat(machine.load(false).succeeded()).isTrue();
    commitNotice.accept(3);
    reads.get(0).complete(records(0, 3));
    commitNotice.accept(6);
    assertThat(reads).as("the grown log is read").hasSize(2);
    assertThat(machine.idle()).isFalse();
  }

  private static ReadResult records(long from, long to) {
    List<LogRecord> list = new ArrayList<>();
    for (long o = from; o < to; o++) {
      list.add(LogRecord.of(null, ("v" + o).getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null)
          .at(o, 1));
    }
    return new ReadResult(list, to, to, 0);
  }
}
