package dev.runnel.durability.impl;

import dev.runnel.durability.LogRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.PartitionLog;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The multi-row read query fetches only the batch rows a read needs: a consumer asking for a window's worth of
 * records must not pull megabytes of blocks it will throw away (it once read four times what it used).
 */
class BatchReadQueryTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static Vertx vertx;
  private static PgLogStore store;
  private static TopicMetadata topic;
  private static long segment;
  private static int blockBytes;

  @BeforeAll
  static void tenBatchesOfAHundred() {
    vertx = Vertx.vertx();
    store = (PgLogStore) LogStore.open(vertx, PG.options()).await();
    topic = store.createTopic("batches", 1, TopicConfig.DEFAULT).await().topic();
    PartitionLog log = store.partition(topic, 0);
    for (int b = 0; b < 10; b++) {
      List<LogRecord> batch = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        batch.add(LogRecord.of(null, new byte[1000], "application/octet-stream", List.of(), null));
      }
      log.append(batch).await();  // one at a time: one batch row each
    }
    Row start = store.readClient().query("SELECT segment_no FROM segment_starts WHERE topic_id = '" + topic.id() + "'")
        .execute().await().iterator().next();
    segment = start.getLong(0);
    blockBytes = store.readClient().query("SELECT max(octet_length(block)) FROM " + Sql.table(topic.id(), segment))
        .execute().await().iterator().next().getInteger(0);
  }

  @AfterAll
  static void close() {
    store.close().await();
    vertx.close().await();
  }

  private static List<Long> rows(long from, int maxRecords, int maxBytes) {
    List<Long> bases = new ArrayList<>();
    store.readClient().preparedQuery(Sql.batchesFrom(topic.id(), segment))
        .execute(Tuple.of(0, from, maxRecords, maxBytes)).await()
        .forEach(row -> bases.add(row.getLong("base_offset")));
    return bases;
  }

  @Test
  void fetchesOnlyTheRowsThatHoldTheRecordsAskedFor() {
    assertThat(rows(0, 100, 64 << 20)).containsExactly(0L);
    assertThat(rows(0, 101, 64 << 20)).containsExactly(0L, 100L);
    assertThat(rows(150, 200, 64 << 20)).containsExactly(100L, 200L, 300L);
    assertThat(rows(150, 251, 64 << 20)).containsExactly(100L, 200L, 300L, 400L);
    assertThat(rows(950, 1000, 64 << 20)).containsExactly(900L);
  }

  @Test
  void stopsAtTheByteBoundButAlwaysReturnsTheFirstRow() {
    assertThat(rows(0, 1000, 1)).containsExactly(0L);
    assertThat(rows(0, 1000, blockBytes + 1)).containsExactly(0L, 100L);
    assertThat(rows(0, 1000, 2 * blockBytes + 1)).containsExactly(0L, 100L, 200L);
  }
}
