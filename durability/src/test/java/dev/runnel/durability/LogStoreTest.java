package dev.runnel.durability;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LogStoreTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final AtomicInteger TOPICS = new AtomicInteger();

  private Vertx vertx;
  private LogStore store;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options()).await();
  }

  @AfterEach
  void close() {
    store.close().await();
    vertx.close().await();
  }

  private TopicMetadata topic(int partitions) {
    return store.createTopic("topic-" + TOPICS.incrementAndGet(), partitions, TopicConfig.DEFAULT).await().topic();
  }

  private static LogRecord record(String key, String value, Header... headers) {
    return LogRecord.of(key == null ? null : key.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8),
        "text/plain", List.of(headers), null);
  }

  private static String text(byte[] bytes) {
    return bytes == null ? null : new String(bytes, StandardCharsets.UTF_8);
  }

  /** While the store is told appends must be refused (a nearly full disk), they fail with the reason; reads go on. */
  @Test
  void appendsAreRefusedWhileUnwritableAndReadsGoOn() {
    java.util.concurrent.atomic.AtomicReference<String> unwritable = new java.util.concurrent.atomic.AtomicReference<>();
    LogStore watched = LogStore.open(vertx, PG.options().setUnwritable(unwritable::get)).await();
    try {
      TopicMetadata topic = watched.createTopic("topic-" + TOPICS.incrementAndGet(), 1, TopicConfig.DEFAULT).await().topic();
      PartitionLog log = watched.partition(topic, 0);
      log.append(List.of(record("k", "before"))).await();
      watched.ping().await();

      unwritable.set("only 3 MiB free under /data (storage.minFreeBytes is 1 GiB)");
      assertThatThrownBy(() -> log.append(List.of(record("k", "refused"))).await())
          .isInstanceOfSatisfying(StorageException.class, e -> assertThat(e.failure()).isEqualTo(StorageFailure.UNAVAILABLE))
          .hasMessageContaining("storage.minFreeBytes");
      assertThatThrownBy(() -> watched.ping().await()).hasMessageContaining("only 3 MiB free");
      ReadResult read = log.read(0, 10, 1 << 20).await();
      assertThat(read.records()).extracting(r -> text(r.value())).containsExactly("before");

      unwritable.set(null);
      log.append(List.of(record("k", "after"))).await();
      watched.ping().await();
      assertThat(log.read(0, 10, 1 << 20).await().records()).extracting(r -> text(r.value()))
          .containsExactly("before", "after");
    } finally {
      watched.close().await();
    }
  }

  @Test
  void roundTripKeepsKeyValueHeadersAndOrder() {
    TopicMetadata topic = topic(2);
    PartitionLog log = store.partition(topic, 1);
    LogRecord first = LogRecord.of("k1".getBytes(), new byte[] {0, 1, 2, (byte) 255}, "application/octet-stream",
        List.of(new Header("trace", "abc".getBytes()), new Header("trace", new byte[0]), new Header("ü-name", new byte[] {9})),
        "idem-1");
    LogRecord second = record(null, "{\"a\":1}");
    AppendResult a = log.append(List.of(first, second)).await();
    AppendResult b = log.append(List.of(record("k2", "third"))).await();
    assertThat(a.baseOffset()).isEqualTo(0);
    assertThat(b.baseOffset()).isEqualTo(2);
    assertThat(b.timestamp()).isGreaterThanOrEqualTo(a.timestamp());

    ReadResult fromCache = log.read(0, 100, 1 << 20).await();
    // A fresh store has an empty cache: the same records must come back from Postgres.
    store.close().await();
    store = LogStore.open(vertx, PG.options()).await();
    ReadResult fromDisk = store.partition(topic, 1).read(0, 100, 1 << 20).await();

    for (ReadResult read : List.of(fromCache, fromDisk)) {
      assertThat(read.records()).hasSize(3);
      assertThat(read.nextOffset()).isEqualTo(3);
      assertThat(read.highWatermark()).isEqualTo(3);
      LogRecord r0 = read.records().get(0);
      assertThat(r0.offset()).isEqualTo(0);
      assertThat(r0.key()).isEqualTo("k1".getBytes());
      assertThat(r0.value()).containsExactly(0, 1, 2, 255);
      assertThat(r0.contentType()).isEqualTo("application/octet-stream");
      assertThat(r0.idempotencyKey()).isEqualTo("idem-1");
      assertThat(r0.headers()).extracting(Header::name).containsExactly("trace", "trace", "ü-name");
      assertThat(r0.headers()).extracting(h -> text(h.value())).containsExactly("abc", "", "\t");
      assertThat(r0.timestamp()).isEqualTo(a.timestamp());
      assertThat(read.records().get(1).key()).isNull();
      assertThat(text(read.records().get(1).value())).isEqualTo("{\"a\":1}");
      assertThat(read.records().get(2).offset()).isEqualTo(2);
      assertThat(text(read.records().get(2).key())).isEqualTo("k2");
    }
    // The other partition is untouched.
    assertThat(store.partition(topic, 0).offsets().await().highWatermark()).isZero();
  }

  @Test
  void offsetsAreGaplessAndOrderedUnderFiftyConcurrentProducers() {
    TopicMetadata topic = topic(1);
    PartitionLog log = store.partition(topic, 0);
    int producers = 50;
    int appendsEach = 20;
    // Each producer keeps several appends in flight; the records of one producer must keep their order.
    List<Future<AppendResult>> futures = new ArrayList<>();
    Map<Future<AppendResult>, String[]> sent = new HashMap<>();
    for (int round = 0; round < appendsEach; round++) {
      for (int p = 0; p < producers; p++) {
        int n = 1 + (round + p) % 3;
        String[] values = new String[n];
        List<LogRecord> records = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          values[i] = "p" + p + "-r" + round + "-" + i;
          records.add(record("p" + p, values[i]));
        }
        Future<AppendResult> f = log.append(records);
        futures.add(f);
        sent.put(f, values);
      }
    }
    Future.all(futures).await();
    TreeMap<Long, String> expected = new TreeMap<>();
    for (Future<AppendResult> f : futures) {
      String[] values = sent.get(f);
      for (int i = 0; i < values.length; i++) {
        assertThat(expected.put(f.result().baseOffset() + i, values[i])).as("offset assigned twice").isNull();
      }
    }
    long total = expected.size();
    assertThat(expected.firstKey()).isZero();
    assertThat(expected.lastKey()).isEqualTo(total - 1);

    List<LogRecord> all = readAll(log, 0);
    assertThat(all).hasSize((int) total);
    Map<String, Integer> lastRoundOfProducer = new HashMap<>();
    for (int i = 0; i < all.size(); i++) {
      LogRecord r = all.get(i);
      assertThat(r.offset()).isEqualTo(i);
      assertThat(text(r.value())).isEqualTo(expected.get((long) i));
      String[] parts = text(r.value()).split("-");
      int roundNo = Integer.parseInt(parts[1].substring(1));
      Integer previous = lastRoundOfProducer.put(parts[0], roundNo);
      assertThat(previous == null || previous <= roundNo).as("producer order kept for %s", parts[0]).isTrue();
    }
  }

  @Test
  void restartContinuesOffsetsAndKeepsRecords() {
    TopicMetadata topic = topic(3);
    for (int i = 0; i < 5; i++) {
      store.partition(topic, 2).append(List.of(record("k", "before-" + i))).await();
    }
    // Throw away every in-memory structure, without a clean release of the lease (as after a crash). The restart is
    // a new incarnation that proved its predecessor dead (a node does so by holding its data directory's lock).
    vertx.close().await();
    vertx = Vertx.vertx();
    StoreOptions restarted = PG.options();
    store = LogStore.open(vertx, restarted.setIncarnation(restarted.getIncarnation().asSoleHolder())).await();
    TopicMetadata again = store.topic(topic.name()).await();
    assertThat(again.id()).isEqualTo(topic.id());
    AppendResult next = store.partition(again, 2).append(List.of(record("k", "after"))).await();
    assertThat(next.baseOffset()).isEqualTo(5);
    List<LogRecord> all = readAll(store.partition(again, 2), 0);
    assertThat(all).extracting(r -> text(r.value()))
        .containsExactly("before-0", "before-1", "before-2", "before-3", "before-4", "after");
  }

  @Test
  void aWriterWhoseEpochChangedIsFencedAndStoresNothing() throws Exception {
    TopicMetadata topic = topic(1);
    PartitionLog log = store.partition(topic, 0);
    log.append(List.of(record(null, "one"))).await();
    try (Connection c = PG.jdbc()) {
      // Another writer took the partition over.
      c.createStatement().executeUpdate("UPDATE partitions SET epoch = epoch + 1, leader = 'other-node', "
          + "lease_until = now() + interval '1 hour' WHERE topic_id = '" + topic.id() + "'");
    }
    assertThatThrownBy(() -> log.append(List.of(record(null, "two"))).await())
        .isInstanceOfSatisfying(StorageException.class, e -> assertThat(e.failure()).isEqualTo(StorageFailure.UNAVAILABLE));
    // While the other node's lease is current, this node cannot take the partition back.
    assertThatThrownBy(() -> log.append(List.of(record(null, "three"))).await())
        .isInstanceOfSatisfying(StorageException.class, e -> assertThat(e.getMessage()).contains("other-node"));
    try (Connection c = PG.jdbc()) {
      c.createStatement().executeUpdate("UPDATE partitions SET lease_until = now() - interval '1 second'");
    }
    AppendResult afterTakeover = log.append(List.of(record(null, "four"))).await();
    assertThat(afterTakeover.baseOffset()).isEqualTo(1);
    assertThat(readAll(log, 0)).extracting(r -> text(r.value())).containsExactly("one", "four");
  }

  @Test
  void anAppendBeyondThePartitionsQueueBoundIsRefusedOverloadedAndNotStored() throws Exception {
    String node = "small-queue";
    LogStore small = LogStore.open(vertx, PG.options().setNodeId(node).setMaxQueuedBytesPerPartition(4096)).await();
    try (Connection locker = PG.jdbc(); Connection admin = PG.jdbc()) {
      TopicMetadata topic = small.createTopic("topic-" + TOPICS.incrementAndGet(), 1, TopicConfig.DEFAULT).await().topic();
      PartitionLog log = small.partition(topic, 0);
      log.append(List.of(record(null, "first"))).await();
      String big = "x".repeat(3000);

      // Hold the partition's row so the next write waits in Postgres, and appends behind it queue.
      locker.setAutoCommit(false);
      locker.createStatement().executeQuery("SELECT 1 FROM partitions WHERE topic_id = '" + topic.id() + "' FOR UPDATE")
          .close();
      Future<AppendResult> inFlight = log.append(List.of(record(null, "in-flight")));
      waitForAppendWaitingOnALock(admin, "runnel " + node);
      Future<AppendResult> queued = log.append(List.of(record(null, "queued-" + big)));
      Future<AppendResult> refused = log.append(List.of(record(null, "refused-" + big)));
      // Refused on arrival, while the write in flight still waits on the lock and the queued append fills the queue
      // (released first, the queue could drain before the refused append arrives).
      assertThatThrownBy(() -> refused.await(20, TimeUnit.SECONDS)).isInstanceOfSatisfying(StorageException.class,
          e -> assertThat(e.failure()).isEqualTo(StorageFailure.OVERLOADED));
      locker.rollback();

      assertThat(inFlight.await().baseOffset()).isEqualTo(1);
      assertThat(queued.await().baseOffset()).isEqualTo(2);
      // Once the queue drained, the same append goes through.
      assertThat(log.append(List.of(record(null, "after-" + big))).await().baseOffset()).isEqualTo(3);
      try (var rs = admin.createStatement().executeQuery("SELECT left(convert_from(value, 'UTF8'), 9) FROM runnel_records('"
          + topic.name() + "') ORDER BY record_offset")) {
        List<String> stored = new ArrayList<>();
        while (rs.next()) {
          stored.add(rs.getString(1));
        }
        assertThat(stored).containsExactly("first", "in-flight", "queued-xx", "after-xxx");
      }
    } finally {
      small.close().await();
    }
  }

  /** Waits until one of the node's appends waits on a lock in Postgres. */
  private static void waitForAppendWaitingOnALock(Connection admin, String application) throws Exception {
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (true) {
      try (var rs = admin.createStatement().executeQuery("SELECT count(*) FROM pg_stat_activity WHERE application_name = '"
          + application + "' AND state = 'active' AND query LIKE 'INSERT INTO log_%' AND wait_event_type = 'Lock'")) {
        rs.next();
        if (rs.getInt(1) == 1) {
          return;
        }
      }
      assertThat(System.nanoTime()).as("an append waiting on the lock").isLessThan(deadline);
      Thread.sleep(5);
    }
  }

  @Test
  void readsHonourBoundsAndRefuseOffsetsOutsideTheLog() {
    TopicMetadata topic = topic(1);
    PartitionLog log = store.partition(topic, 0);
    String big = "x".repeat(10_000);
    log.append(List.of(record(null, big), record(null, "small"), record(null, "small2"))).await();
    ReadResult one = log.read(0, 100, 10).await();
    assertThat(one.records()).hasSize(1).first().extracting(LogRecord::offset).isEqualTo(0L);
    assertThat(one.nextOffset()).isEqualTo(1);
    assertThat(log.read(1, 1, 1 << 20).await().records()).extracting(r -> text(r.value())).containsExactly("small");
    ReadResult atEnd = log.read(3, 10, 1000).await();
    assertThat(atEnd.records()).isEmpty();
    assertThat(atEnd.nextOffset()).isEqualTo(3);
    assertThatThrownBy(() -> log.read(4, 10, 1000).await())
        .isInstanceOfSatisfying(StorageException.class,
            e -> assertThat(e.failure()).isEqualTo(StorageFailure.OFFSET_OUT_OF_RANGE));
    assertThatThrownBy(() -> log.read(-1, 10, 1000).await())
        .isInstanceOfSatisfying(StorageException.class,
            e -> assertThat(e.failure()).isEqualTo(StorageFailure.OFFSET_OUT_OF_RANGE));
  }

  @Test
  void topicsAreCreatedOnceListedAndDeletedWithTheirRecords() throws Exception {
    TopicCreation first = store.createTopic("orders", 4, TopicConfig.DEFAULT).await();
    TopicCreation second = store.createTopic("orders", 8, TopicConfig.DEFAULT).await();
    assertThat(first.created()).isTrue();
    assertThat(second.created()).isFalse();
    assertThat(second.topic()).isEqualTo(first.topic());
    store.partition(first.topic(), 0).append(List.of(record("a", "b"))).await();
    assertThat(store.topics().await()).extracting(TopicMetadata::name).contains("orders");

    assertThat(store.deleteTopic("orders").await()).isTrue();
    assertThat(store.deleteTopic("orders").await()).isFalse();
    assertThat(store.topic("orders").await()).isNull();
    try (Connection c = PG.jdbc(); var rs = c.createStatement().executeQuery(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'log_"
            + first.topic().id().toString().replace("-", "") + "%'")) {
      rs.next();
      assertThat(rs.getInt(1)).as("segment tables left after delete").isZero();
    }
    TopicCreation recreated = store.createTopic("orders", 2, TopicConfig.DEFAULT).await();
    assertThat(recreated.created()).isTrue();
    assertThat(recreated.topic().id()).isNotEqualTo(first.topic().id());
    assertThat(store.partition(recreated.topic(), 0).offsets().await().highWatermark()).isZero();
  }

  static List<LogRecord> readAll(PartitionLog log, long from) {
    List<LogRecord> out = new ArrayList<>();
    long offset = from;
    while (true) {
      ReadResult r = log.read(offset, 1000, 1 << 20).await();
      if (r.records().isEmpty()) {
        return Collections.unmodifiableList(out);
      }
      out.addAll(r.records());
      offset = r.nextOffset();
    }
  }
}
