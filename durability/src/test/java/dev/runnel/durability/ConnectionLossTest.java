package dev.runnel.durability;

import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Connections to Postgres are terminated while appends are in flight. Whatever happens, every acknowledged append
 * is stored at the offsets it was told, offsets stay gapless, failures say UNAVAILABLE or OUTCOME_UNKNOWN, and the
 * writers recover by themselves.
 */
class ConnectionLossTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final int LOOPS = 12;
  private static final int APPENDS_PER_LOOP = 150;

  @Test
  void everyAcknowledgedAppendSurvivesTerminatedConnections() throws Exception {
    Vertx vertx = Vertx.vertx();
    LogStore store = LogStore.open(vertx, PG.options().setNodeId("conn-loss")).await();
    try {
      TopicMetadata topic = store.createTopic("lossy", 2, TopicConfig.DEFAULT).await().topic();
      Map<String, String> acked = new ConcurrentHashMap<>();
      Map<StorageFailure, AtomicInteger> failures = new ConcurrentHashMap<>();
      List<Future<Void>> loops = new ArrayList<>();
      for (int l = 0; l < LOOPS; l++) {
        Promise<Void> done = Promise.promise();
        appendLoop(store.partition(topic, l % 2), "loop" + l, 0, acked, failures, done);
        loops.add(done.future());
      }
      int terminated = 0;
      try (Connection c = PG.jdbc()) {
        for (int round = 0; round < 6; round++) {
          Thread.sleep(60);
          try (ResultSet rs = c.createStatement().executeQuery("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
              + "FROM pg_stat_activity WHERE application_name = 'runnel conn-loss'")) {
            rs.next();
            terminated += rs.getInt(1);
          }
        }
      }
      Future.all(loops).await();
      assertThat(terminated).as("backends terminated").isPositive();
      assertThat(failures.keySet()).isSubsetOf(StorageFailure.UNAVAILABLE, StorageFailure.OUTCOME_UNKNOWN);

      // After the storm, appends work again and continue the offsets.
      for (int p = 0; p < 2; p++) {
        PartitionLog log = store.partition(topic, p);
        long end = log.offsets().await().highWatermark();
        assertThat(log.append(List.of(record("after"))).await().baseOffset()).isEqualTo(end);
        List<LogRecord> all = LogStoreTest.readAll(log, 0);
        for (int i = 0; i < all.size(); i++) {
          assertThat(all.get(i).offset()).as("gapless offsets in partition %d", p).isEqualTo(i);
        }
        for (LogRecord r : all) {
          String expected = acked.remove(p + "/" + r.offset());
          if (expected != null) {
            assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo(expected);
          }
        }
      }
      assertThat(acked).as("acknowledged appends missing from the log").isEmpty();
    } finally {
      store.close().await();
      vertx.close().await();
    }
  }

  private static LogRecord record(String value) {
    return LogRecord.of(null, value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null);
  }

  private static void appendLoop(PartitionLog log, String name, int i, Map<String, String> acked,
                                 Map<StorageFailure, AtomicInteger> failures, Promise<Void> done) {
    if (i == APPENDS_PER_LOOP) {
      done.complete();
      return;
    }
    String value = name + "-" + i;
    log.append(List.of(record(value))).onComplete(ar -> {
      if (ar.succeeded()) {
        acked.put(log.partition() + "/" + ar.result().baseOffset(), value);
      } else if (ar.cause() instanceof StorageException e) {
        failures.computeIfAbsent(e.failure(), k -> new AtomicInteger()).incrementAndGet();
      } else {
        done.fail(ar.cause());
        return;
      }
      appendLoop(log, name, i + 1, acked, failures, done);
    });
  }
}
