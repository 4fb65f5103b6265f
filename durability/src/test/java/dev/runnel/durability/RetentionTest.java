package dev.runnel.durability;

import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.sql.Connection;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RetentionTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private final ManualClock clock = new ManualClock(1_700_000_000_000L);
  private Vertx vertx;
  private LogStore store;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
  }

  @AfterEach
  void close() {
    store.close().await();
    vertx.close().await();
  }

  private static List<LogRecord> records(int n, int size) {
    List<LogRecord> list = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      list.add(LogRecord.of(null, new byte[size], "application/octet-stream", List.of(), null));
    }
    return list;
  }

  @Test
  void expiredSegmentsAreDroppedWholeAndTheLogStartMoves() {
    TopicMetadata topic = store.createTopic("expiring", 2, new TopicConfig(5_000, -1, 1_000, 1 << 20)).await().topic();
    PartitionLog p0 = store.partition(topic, 0);
    PartitionLog p1 = store.partition(topic, 1);
    p0.append(records(10, 100)).await();
    p1.append(records(3, 100)).await();
    clock.advance(3_000);
    p0.append(records(5, 100)).await();

    store.enforceRetention().await();
    assertThat(p0.offsets().await().logStartOffset()).as("nothing is old enough yet").isZero();

    clock.advance(3_000);  // the first segment is now older than 5 s, the second is not
    store.enforceRetention().await();
    assertThat(p0.offsets().await()).isEqualTo(new PartitionOffsets(0, 10, 15));
    assertThat(p1.offsets().await()).isEqualTo(new PartitionOffsets(1, 3, 3));
    assertThatThrownBy(() -> p0.read(0, 10, 1 << 20).await())
        .isInstanceOfSatisfying(StorageException.class,
            e -> assertThat(e.failure()).isEqualTo(StorageFailure.OFFSET_OUT_OF_RANGE));
    assertThat(p0.read(10, 100, 1 << 20).await().records()).hasSize(5);

    // A restart finds the same log start and continues offsets after the last record.
    store.close().await();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    PartitionLog again = store.partition(topic, 0);
    assertThat(again.offsets().await()).isEqualTo(new PartitionOffsets(0, 10, 15));
    assertThat(again.append(records(1, 10)).await().baseOffset()).isEqualTo(15);
    assertThat(store.partition(topic, 1).append(records(1, 10)).await().baseOffset()).isEqualTo(3);
  }

  @Test
  void storageDoesNotGrowOverRepeatedProduceExpireCycles() throws Exception {
    TopicMetadata topic = store.createTopic("cycling", 1, new TopicConfig(2_000, -1, 1_000, 1 << 20)).await().topic();
    PartitionLog log = store.partition(topic, 0);
    long expectedNext = 0;
    long maxTables = 0;
    long maxBytes = 0;
    for (int cycle = 0; cycle < 30; cycle++) {
      AppendResult r = log.append(records(200, 1_000)).await();
      assertThat(r.baseOffset()).isEqualTo(expectedNext);
      expectedNext += 200;
      clock.advance(1_000);
      store.enforceRetention().await();
      long[] usage = segmentUsage(topic);
      if (cycle >= 5) {
        maxTables = Math.max(maxTables, usage[0]);
        maxBytes = Math.max(maxBytes, usage[1]);
      }
    }
    // Retention keeps 2 s of 1 s segments: never more than 3 tables, and the bytes stay flat.
    assertThat(maxTables).isLessThanOrEqualTo(3);
    long[] end = segmentUsage(topic);
    assertThat(end[1]).isLessThanOrEqualTo(maxBytes);
    assertThat(maxBytes).isLessThan(3L * 2 * 200 * 1_000);
    assertThat(log.offsets().await().logStartOffset()).isGreaterThan(expectedNext - 1_000);
  }

  @Test
  void sizeRetentionDropsTheOldestSegmentsButNeverTheNewest() {
    TopicMetadata topic = store.createTopic("bounded", 1, new TopicConfig(-1, 150_000, 1_000, 1 << 20)).await().topic();
    PartitionLog log = store.partition(topic, 0);
    for (int i = 0; i < 6; i++) {
      log.append(records(100, 1_000)).await();
      clock.advance(1_000);
    }
    store.enforceRetention().await();
    PartitionOffsets offsets = log.offsets().await();
    assertThat(offsets.highWatermark()).isEqualTo(600);
    assertThat(offsets.logStartOffset()).isGreaterThanOrEqualTo(400).isLessThan(600);
  }

  /** Number of the topic's segment tables and their total size on disk. */
  private long[] segmentUsage(TopicMetadata topic) throws Exception {
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT count(*), coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0) "
            + "FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'log\\_"
            + topic.id().toString().replace("-", "") + "%'")) {
      rs.next();
      return new long[] {rs.getLong(1), rs.getLong(2)};
    }
  }
}
