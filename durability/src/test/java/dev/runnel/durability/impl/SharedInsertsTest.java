package dev.runnel.durability.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.test.TestPostgres;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link SharedInserts} against a real Postgres, with no timing: a test connection holds two partitions' rows
 * {@code FOR UPDATE}, so the statements of their writes (the {@link SharedInserts#IN_FLIGHT} allowed) wait in Postgres
 * and the next writes of other partitions queue in the store; one of those partitions is fenced meanwhile. Once the
 * rows are free, the queued writes go in one statement: the fenced partition stores nothing and the other commits.
 */
class SharedInsertsTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private Vertx vertx;
  private SimpleMeterRegistry meters;
  private PgLogStore store;
  private TopicMetadata topic;

  @BeforeEach
  void fourPartitionsEachWithARecord() {
    vertx = Vertx.vertx();
    meters = new SimpleMeterRegistry();
    store = (PgLogStore) LogStore.open(vertx, PG.options().setMeterRegistry(meters)).await();
    topic = store.createTopic("shared-" + System.nanoTime(), 4, TopicConfig.DEFAULT).await().topic();
    for (int p = 0; p < 4; p++) {
      assertThat(append(p, "first").await().baseOffset()).isZero();
    }
  }

  @AfterEach
  void close() {
    store.close().await();
    vertx.close().await();
  }

  @Test
  void writesQueuedBehindTheStatementsInFlightGoInOneAndAFencedPartitionStoresNothing() throws Exception {
    DistributionSummary rows = meters.get("runnel.storage.insert.rows").summary();
    long statementsBefore = rows.count();
    double rowsBefore = rows.totalAmount();
    Future<AppendResult> p0;
    Future<AppendResult> p1;
    Future<AppendResult> p2;
    Future<AppendResult> p3;
    try (Connection holder = PG.jdbc()) {
      holder.setAutoCommit(false);
      Statement s = holder.createStatement();
      String where = "WHERE topic_id = '" + topic.id() + "' AND partition";
      s.executeQuery("SELECT 1 FROM partitions " + where + " IN (0, 1) FOR UPDATE").close();
      p0 = append(0, "second");
      p1 = append(1, "second");
      // Neither can complete: each waits for its row's lock, or behind the other on one connection.
      awaitCondition(() -> store.sharedInserts().inFlight() == 2, "both writes' statements are in flight");
      p2 = append(2, "second");
      p3 = append(3, "second");
      awaitCondition(() -> store.sharedInserts().waiting() == 2, "the next two writes queue in the store");
      s.executeUpdate("UPDATE partitions SET epoch = epoch + 1 " + where + " = 3");
      holder.commit();
    }
    assertThat(p0.await().baseOffset()).isEqualTo(1);
    assertThat(p1.await().baseOffset()).isEqualTo(1);
    assertThat(p2.await().baseOffset()).isEqualTo(1);
    Throwable fenced = p3.transform(Future::succeededFuture).await().cause();
    assertThat(fenced).isInstanceOf(StorageException.class).hasMessageContaining("lost its lease");
    assertThat(((StorageException) fenced).failure()).isEqualTo(StorageFailure.UNAVAILABLE);
    assertThat(rows.count() - statementsBefore).as("statements").isEqualTo(3);
    assertThat(rows.totalAmount() - rowsBefore).as("rows in them").isEqualTo(4);
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT partition, count(*) FROM " + Sql.table(topic.id(), segment()) + " GROUP BY partition ORDER BY 1")) {
      int[] batches = new int[4];
      while (rs.next()) {
        batches[rs.getInt(1)] = rs.getInt(2);
      }
      assertThat(batches).containsExactly(2, 2, 2, 1);
    }
  }

  private Future<AppendResult> append(int partition, String value) {
    return store.partition(topic, partition)
        .append(List.of(LogRecord.of(null, value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null)));
  }

  private long segment() {
    return Math.floorDiv(store.partition(topic, 0).read(0, 1, 1024).await().records().get(0).timestamp(),
        topic.config().segmentMs());
  }

  /** Waits (bounded) for a condition the test cannot be told about. */
  private static void awaitCondition(BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("waiting until " + what).isLessThan(deadline);
      Thread.sleep(5);
    }
  }
}
