package dev.runnel.durability.impl;

import dev.runnel.durability.LogRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The fences, pinned with two connections and no timing: a takeover runs the production acquire statement
 * ({@link Sql#ACQUIRE} for a partition, {@link Sql#GROUP_ACQUIRE} for a group) in a transaction it has not committed
 * yet, and a writer holding the old epoch runs the production write ({@link Sql#appendRows},
 * {@link PgGroupStateStore#SAVE}).
 * The write must wait for the takeover and then store nothing. The same test against a copy of the acquire without
 * its {@code FOR UPDATE} shows what that clause is for: the stale write lands.
 */
class LeaseFenceTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  /** What a stale writer's append did while a takeover was in flight. */
  enum StaleWrite {
    /** It waited for the takeover's lock and, once that committed, inserted 0 rows: fenced. */
    WAITED_AND_WROTE_NOTHING,
    /** It inserted its batch while the takeover had not committed. */
    LANDED_BESIDE_THE_TAKEOVER,
    /** It waited, but inserted its batch after the takeover committed. */
    LANDED_AFTER_THE_TAKEOVER
  }

  private static Vertx vertx;
  private static TopicMetadata topic;
  private static long segment;

  @BeforeAll
  static void aPartitionWithASegment() throws Exception {
    vertx = Vertx.vertx();
    LogStore store = LogStore.open(vertx, PG.options()).await();
    topic = store.createTopic("fenced", 1, TopicConfig.DEFAULT).await().topic();
    long timestamp = store.partition(topic, 0)
        .append(List.of(LogRecord.of(null, "first".getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null)))
        .await().timestamp();
    segment = Math.floorDiv(timestamp, topic.config().segmentMs());
    store.close().await();  // releases the lease: the row is free for the takeover below
  }

  @AfterAll
  static void close() {
    vertx.close().await();
  }

  @Test
  void aStaleWriteWaitsForATakeoverAndThenStoresNothing() throws Exception {
    assertThat(staleAppendDuringTakeover(Sql.ACQUIRE)).isEqualTo(StaleWrite.WAITED_AND_WROTE_NOTHING);
  }

  @Test
  void withoutForUpdateTheStaleWriteLands() throws Exception {
    String withoutForUpdate = Sql.ACQUIRE.replace("FOR UPDATE", "");
    assertThat(withoutForUpdate).isNotEqualTo(Sql.ACQUIRE);
    assertThat(staleAppendDuringTakeover(withoutForUpdate)).isEqualTo(StaleWrite.LANDED_BESIDE_THE_TAKEOVER);
  }

  @Test
  void aStaleGroupSaveWaitsForAGroupTakeoverAndThenStoresNothing() throws Exception {
    assertThat(staleGroupSaveDuringTakeover(Sql.GROUP_ACQUIRE)).isEqualTo(StaleWrite.WAITED_AND_WROTE_NOTHING);
  }

  @Test
  void withoutForUpdateTheStaleGroupSaveLands() throws Exception {
    String withoutForUpdate = Sql.GROUP_ACQUIRE.replace("FOR UPDATE", "");
    assertThat(withoutForUpdate).isNotEqualTo(Sql.GROUP_ACQUIRE);
    assertThat(staleGroupSaveDuringTakeover(withoutForUpdate)).isEqualTo(StaleWrite.LANDED_BESIDE_THE_TAKEOVER);
  }

  /** A write on its own connection; answers how many rows it stored (0: fenced). */
  private interface StaleWriteStatement {
    int run(Statement s) throws SQLException;
  }

  private static StaleWrite staleAppendDuringTakeover(String acquire) throws Exception {
    try (Connection watch = PG.jdbc()) {
      long oldEpoch = epoch(watch, "SELECT epoch FROM partitions WHERE topic_id = '" + topic.id() + "'");
      long nextOffset = nextOffset(watch);
      StaleWrite outcome = staleWriteDuringTakeover(
          acquire, "EXECUTE acquire('" + topic.id() + "', 0, 'other-node', 60000, 'other-incarnation', false)",
          Sql.appendRows(topic.id(), segment),
          s -> {
            try (ResultSet rs = s.executeQuery("EXECUTE write('" + topic.id() + "', '{0}', '{" + oldEpoch + "}', '{"
                + nextOffset + "}', '{" + nextOffset + "}', '{0}', '{1}', ARRAY['\\x00'::bytea])")) {
              int written = 0;
              while (rs.next()) {
                written++;
              }
              return written;
            }
          }, oldEpoch);
      // The other test must find the partition's log as this one found it.
      watch.createStatement().executeUpdate("DELETE FROM " + Sql.table(topic.id(), segment) + " WHERE base_offset = "
          + nextOffset);
      return outcome;
    }
  }

  private static StaleWrite staleGroupSaveDuringTakeover(String acquire) throws Exception {
    try (Connection watch = PG.jdbc()) {
      watch.createStatement().execute("INSERT INTO group_leases (group_name) VALUES ('fenced-group')"
          + " ON CONFLICT DO NOTHING");
      long oldEpoch = epoch(watch, "SELECT epoch FROM group_leases WHERE group_name = 'fenced-group'");
      StaleWrite outcome = staleWriteDuringTakeover(
          acquire, "EXECUTE acquire('fenced-group', 'other-node', 60000, 'other-incarnation', false)",
          PgGroupStateStore.SAVE,
          s -> {
            try (ResultSet rs = s.executeQuery("EXECUTE write('fenced-group', '" + topic.id() + "', 0, " + oldEpoch
                + ", 7, 0, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')")) {
              rs.next();
              return (int) rs.getLong("saved");
            }
          }, oldEpoch);
      watch.createStatement().executeUpdate("DELETE FROM group_offsets WHERE group_name = 'fenced-group'");
      return outcome;
    }
  }

  /**
   * Runs {@code acquire} on one connection without committing, then the old epoch's write on another, and reports
   * what the write did.
   */
  private static StaleWrite staleWriteDuringTakeover(String acquire, String executeAcquire, String write,
                                                     StaleWriteStatement executeWrite, long oldEpoch) throws Exception {
    try (Connection takeover = PG.jdbc(); Connection stale = PG.jdbc(); Connection watch = PG.jdbc()) {
      stale.createStatement().execute("PREPARE write AS " + write);
      int stalePid = backendPid(stale);

      takeover.setAutoCommit(false);
      takeover.createStatement().execute("PREPARE acquire AS " + acquire);
      try (ResultSet taken = takeover.createStatement().executeQuery(executeAcquire)) {
        assertThat(taken.next()).as("the takeover takes the free lease").isTrue();
        assertThat(taken.getLong("epoch")).isEqualTo(oldEpoch + 1);
      }

      CompletableFuture<Integer> written = CompletableFuture.supplyAsync(() -> {
        try (Statement s = stale.createStatement()) {
          return executeWrite.run(s);
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });
      // Either the write finishes, or its backend waits on a lock; nothing else can happen, so no timing is read.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!written.isDone() && !waitsOnALock(watch, stalePid)) {
        assertThat(System.nanoTime()).as("the stale write neither finished nor waited").isLessThan(deadline);
        Thread.sleep(2);
      }
      if (written.isDone()) {
        int rows = written.get();
        takeover.rollback();
        assertThat(rows).isEqualTo(1);
        return StaleWrite.LANDED_BESIDE_THE_TAKEOVER;
      }
      takeover.commit();
      return written.get(30, TimeUnit.SECONDS) == 0 ? StaleWrite.WAITED_AND_WROTE_NOTHING
          : StaleWrite.LANDED_AFTER_THE_TAKEOVER;
    }
  }

  private static long epoch(Connection c, String query) throws SQLException {
    try (ResultSet rs = c.createStatement().executeQuery(query)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static long nextOffset(Connection c) throws SQLException {
    try (ResultSet rs = c.createStatement().executeQuery(
        "SELECT max(last_offset) + 1 FROM " + Sql.table(topic.id(), segment))) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static int backendPid(Connection c) throws SQLException {
    try (ResultSet rs = c.createStatement().executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private static boolean waitsOnALock(Connection watch, int pid) throws SQLException {
    try (ResultSet rs = watch.createStatement().executeQuery(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = " + pid)) {
      return rs.next() && rs.getBoolean(1);
    }
  }
}
