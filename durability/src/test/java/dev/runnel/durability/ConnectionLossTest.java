package dev.runnel.durability;

import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.junit5.Checkpoint;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Connections to Postgres are terminated while appends are in flight, at the two moments that matter: before the
 * write committed (the statement waits for a row lock the test holds) and after it committed (the commit waits for a
 * synchronous standby that does not exist, so it is durable locally but unanswered). The writer must re-read the end
 * of the log and answer each append by what is actually stored: acknowledged where the write committed, UNAVAILABLE
 * (and not stored) where it did not, OUTCOME_UNKNOWN only when it could not re-acquire the partition.
 *
 * <p>Runs on a server of its own: {@code synchronous_standby_names} is server-wide and would stall every other test's
 * commits on the shared one.
 */
@ExtendWith(VertxExtension.class)
class ConnectionLossTest {

  private static final String NODE = "conn-loss";
  /** The store's connections: writes, reads and lease acquisitions (application names "runnel NODE", "... leases"). */
  private static final String APPLICATION = "runnel " + NODE + "%";
  private static final int PARTITIONS = 2;
  private static final int LOOPS = 8;
  private static final int ROUNDS = 6;
  private static final long WAIT_MS = 20_000;

  private static Path dir;
  private static EmbeddedPostgres pg;

  @BeforeAll
  static void start() throws Exception {
    dir = Files.createTempDirectory("runnel-conn-loss-pg");
    pg = EmbeddedPostgres.start(dir, 0);
  }

  @AfterAll
  static void stop() {
    if (pg != null) {
      pg.close();
    }
    TestPostgres.deleteQuietly(dir);
  }

  /**
   * One statement per connection (pipelining 1), so terminating a backend ends exactly the write it runs and never
   * a re-acquisition queued behind it; leases long enough that no renewal runs during the test; a clock that stands
   * still, so no write opens a new segment (its statements are not the appends the kills wait for).
   */
  private static StoreOptions options() {
    return pg.storeOptions().setSchema("runnel").setNodeId(NODE).setRetentionCheckMs(0).setPipeliningLimit(1)
        .setLeaseMs(600_000).setClock(new ManualClock(1_700_000_000_000L));
  }

  @Test
  void everyWriteKilledInFlightIsAnsweredByWhatIsStored(Vertx vertx, VertxTestContext loopsDone) throws Exception {
    LogStore store = LogStore.open(vertx, options()).await();
    TopicMetadata topic = store.createTopic("storm", PARTITIONS, TopicConfig.DEFAULT).await().topic();
    Map<String, String> acked = new ConcurrentHashMap<>();          // "partition/offset" -> value
    Map<String, StorageFailure> failed = new ConcurrentHashMap<>();  // value -> failure
    AtomicLongArray lastAcked = new AtomicLongArray(PARTITIONS);  // the highest acknowledged offset of each partition
    for (int p = 0; p < PARTITIONS; p++) {
      lastAcked.set(p, -1);
    }
    Loops loops = new Loops(vertx, acked, failed, lastAcked, loopsDone, loopsDone.checkpoint(LOOPS));
    long epochsBefore;
    int killedBeforeCommit = 0;
    int killedAfterCommit = 0;
    try (Connection admin = connect(); Connection locker = connect()) {
      for (int l = 0; l < LOOPS; l++) {
        loops.run(store.partition(topic, l % PARTITIONS), "loop" + l, 0);
      }
      waitForAcksFrom(new long[PARTITIONS], lastAcked, loopsDone);
      epochsBefore = epochs(admin, topic);
      for (int round = 0; round < ROUNDS; round++) {
        if (round % 2 == 0) {
          killedBeforeCommit += killWritesBlockedOnALock(admin, locker, topic);
        } else {
          killedAfterCommit += killWritesWaitingForAStandby(admin);
        }
        // Every writer must have recovered before the next round stalls it again: it has acknowledged a write past
        // what was stored once the killed ones were gone, which only a write after its re-acquisition can be.
        waitForAcksFrom(storedEnds(admin, "storm"), lastAcked, loopsDone);
      }
      loops.stop = true;
      assertThat(loopsDone.awaitCompletion(WAIT_MS, TimeUnit.MILLISECONDS)).as("append loops finished").isTrue();
      if (loopsDone.failed()) {
        throw new AssertionError("an append failed with something other than a StorageException",
            loopsDone.causeOfFailure());
      }
      // The proof that the storm hit writes in flight, at both moments, and that each one made its writer re-read
      // the end of the log (re-acquiring bumps the epoch once).
      assertThat(killedBeforeCommit).as("writes killed before they committed").isEqualTo(ROUNDS / 2 * PARTITIONS);
      assertThat(killedAfterCommit).as("writes killed after they committed").isEqualTo(ROUNDS / 2 * PARTITIONS);
      assertThat(epochs(admin, topic) - epochsBefore).as("re-acquisitions, one per killed write")
          .isEqualTo(killedBeforeCommit + killedAfterCommit);

      // Postgres stayed up and only the stalled writes were killed, so every writer could always re-acquire and
      // re-read the end: an append is either acknowledged or UNAVAILABLE, never OUTCOME_UNKNOWN.
      assertThat(failed.values()).as("failures (a committed write reported failed, or a writer that gave up)")
          .containsOnly(StorageFailure.UNAVAILABLE);

      // After the storm, appends work again and continue the offsets.
      for (int p = 0; p < PARTITIONS; p++) {
        PartitionLog log = store.partition(topic, p);
        long end = log.offsets().await().highWatermark();
        AppendResult after = log.append(List.of(record("after-" + p))).await();
        assertThat(after.baseOffset()).isEqualTo(end);
        acked.put(p + "/" + end, "after-" + p);
      }
      store.close().await();

      // What Postgres holds, read in SQL (not through the store's tail cache).
      Map<String, String> stored = storedRecords(admin, "storm");
      assertThat(stored.values()).as("appends answered UNAVAILABLE but stored").doesNotContainAnyElementsOf(failed.keySet());
      assertThat(stored).as("stored records, each at the offset its append was told").isEqualTo(acked);
    } finally {
      loops.stop = true;
      store.close().await();
    }
  }

  @Test
  void anAppendIsOutcomeUnknownWhenItsWriterCannotReacquire(Vertx vertx) throws Exception {
    LogStore store = LogStore.open(vertx, options()).await();
    try (Connection admin = connect(); Connection locker = connect()) {
      TopicMetadata topic = store.createTopic("unknown", 1, TopicConfig.DEFAULT).await().topic();
      PartitionLog log = store.partition(topic, 0);
      assertThat(log.append(List.of(record("first"))).await().baseOffset()).isZero();

      lockPartitions(locker, topic);
      Future<AppendResult> lost = log.append(List.of(record("lost")));
      assertThat(terminate(admin, waitForBackends(admin, "query LIKE 'INSERT INTO log_%' AND wait_event_type = 'Lock'", 1)))
          .isEqualTo(1);
      // The writer re-acquires, which waits for the row lock too: kill every attempt, so it cannot re-read the end.
      int killedAcquisitions = 0;
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
      while (!lost.isComplete() && System.nanoTime() < deadline) {
        killedAcquisitions += terminate(admin, backends(admin,
            "query LIKE 'UPDATE partitions p%SET epoch = p.epoch + 1%' AND wait_event_type = 'Lock'"));
        Thread.sleep(5);
      }
      assertThat(killedAcquisitions).isPositive();
      assertThatThrownBy(lost::await).isInstanceOfSatisfying(StorageException.class,
          e -> assertThat(e.failure()).isEqualTo(StorageFailure.OUTCOME_UNKNOWN));
      locker.rollback();

      // The next append acquires again, finds the lost write was not stored, and reuses its offset.
      assertThat(log.append(List.of(record("next"))).await().baseOffset()).isEqualTo(1);
      store.close().await();
      assertThat(storedRecords(admin, "unknown")).containsExactly(Map.entry("0/0", "first"), Map.entry("0/1", "next"));
    } finally {
      store.close().await();
    }
  }

  // ---- the two kinds of kill --------------------------------------------------------------------------------------

  /** Holds the partitions' rows FOR UPDATE, so the next write of each waits before it can commit; kills those. */
  private static int killWritesBlockedOnALock(Connection admin, Connection locker, TopicMetadata topic) throws Exception {
    lockPartitions(locker, topic);
    try {
      return terminate(admin, waitForBackends(admin,
          "query LIKE 'INSERT INTO log_%' AND wait_event_type = 'Lock'", PARTITIONS));
    } finally {
      locker.rollback();
    }
  }

  /**
   * Names a synchronous standby that never connects: a commit is then written and flushed locally, and waits for
   * the standby before it answers. Terminating the backend there leaves the write committed and unanswered.
   */
  private static int killWritesWaitingForAStandby(Connection admin) throws Exception {
    admin.createStatement().execute("ALTER SYSTEM SET synchronous_standby_names = 'runnel_nobody'");
    admin.createStatement().execute("SELECT pg_reload_conf()");
    try {
      return terminate(admin, waitForBackends(admin,
          "query LIKE 'INSERT INTO log_%' AND wait_event = 'SyncRep'", PARTITIONS));
    } finally {
      // The re-acquisitions commit too: they go on once no standby is waited for.
      admin.createStatement().execute("ALTER SYSTEM RESET synchronous_standby_names");
      admin.createStatement().execute("SELECT pg_reload_conf()");
    }
  }

  private static void lockPartitions(Connection locker, TopicMetadata topic) throws SQLException {
    locker.setAutoCommit(false);
    try (PreparedStatement s = locker.prepareStatement("SELECT 1 FROM partitions WHERE topic_id = ? FOR UPDATE")) {
      s.setObject(1, topic.id());
      s.executeQuery().close();
    }
  }

  /** Waits until exactly {@code count} of this node's backends are active and match {@code condition}; their pids. */
  private static List<Integer> waitForBackends(Connection admin, String condition, int count) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
    List<Integer> pids = List.of();
    while (System.nanoTime() < deadline) {
      pids = backends(admin, condition);
      if (pids.size() == count) {
        return pids;
      }
      Thread.sleep(5);
    }
    StringBuilder all = new StringBuilder();
    try (ResultSet rs = admin.createStatement().executeQuery("SELECT pid, state, wait_event_type, wait_event,"
        + " left(query, 60) FROM pg_stat_activity WHERE backend_type = 'client backend'")) {
      while (rs.next()) {
        all.append("\n  ").append(rs.getInt(1)).append(' ').append(rs.getString(2)).append(' ').append(rs.getString(3))
            .append('/').append(rs.getString(4)).append(' ').append(rs.getString(5));
      }
    }
    throw new AssertionError("expected " + count + " backends with " + condition + ", found " + pids + "; backends:" + all);
  }

  /** This node's active backends that match {@code condition}, now. */
  private static List<Integer> backends(Connection admin, String condition) throws SQLException {
    List<Integer> pids = new ArrayList<>();
    try (PreparedStatement s = admin.prepareStatement("SELECT pid FROM pg_stat_activity"
        + " WHERE application_name LIKE ? AND state = 'active' AND " + condition)) {
      s.setString(1, APPLICATION);
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          pids.add(rs.getInt(1));
        }
      }
    }
    return pids;
  }

  /** Terminates the backends and waits until each is gone; how many were. */
  private static int terminate(Connection admin, List<Integer> pids) throws SQLException {
    int terminated = 0;
    for (int pid : pids) {
      try (ResultSet rs = admin.createStatement().executeQuery("SELECT pg_terminate_backend(" + pid + ", " + WAIT_MS + ")")) {
        rs.next();
        terminated += rs.getBoolean(1) ? 1 : 0;
      }
    }
    return terminated;
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  /** Appends one record after another on a partition until told to stop, recording each answer. */
  private static final class Loops {
    final Map<String, String> acked;
    final Map<String, StorageFailure> failed;
    final AtomicLongArray lastAcked;
    final VertxTestContext context;
    final Checkpoint done;
    final Vertx vertx;
    volatile boolean stop;

    Loops(Vertx vertx, Map<String, String> acked, Map<String, StorageFailure> failed, AtomicLongArray lastAcked,
          VertxTestContext context, Checkpoint done) {
      this.vertx = vertx;
      this.acked = acked;
      this.failed = failed;
      this.lastAcked = lastAcked;
      this.context = context;
      this.done = done;
    }

    void run(PartitionLog log, String name, int i) {
      if (stop) {
        done.flag();
        return;
      }
      String value = name + "-" + i;
      log.append(List.of(record(value))).onComplete(ar -> {
        if (ar.succeeded()) {
          acked.put(log.partition() + "/" + ar.result().baseOffset(), value);
          lastAcked.accumulateAndGet(log.partition(), ar.result().baseOffset(), Math::max);
        } else if (ar.cause() instanceof StorageException e) {
          failed.put(value, e.failure());
        } else {
          context.failNow(ar.cause());
          return;
        }
        // Not inline: an answer can come back on the same stack (a refused append), and the loop would recurse.
        vertx.runOnContext(v -> run(log, name, i + 1));
      });
    }
  }

  /** Waits until every partition acknowledged an append at or beyond {@code ends}. */
  private static void waitForAcksFrom(long[] ends, AtomicLongArray lastAcked, VertxTestContext loops) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
    for (int p = 0; p < ends.length; p++) {
      while (lastAcked.get(p) < ends[p]) {
        if (loops.failed()) {
          throw new AssertionError("an append loop failed", loops.causeOfFailure());
        }
        if (System.nanoTime() > deadline) {
          throw new AssertionError("partition " + p + " acknowledged nothing after the kills: its writer did not recover");
        }
        Thread.sleep(5);
      }
    }
  }

  /** Where each partition's stored log ends now. */
  private static long[] storedEnds(Connection admin, String topic) throws SQLException {
    long[] ends = new long[PARTITIONS];
    try (PreparedStatement s = admin.prepareStatement(
        "SELECT partition, max(record_offset) + 1 FROM runnel_records(?) GROUP BY partition")) {
      s.setString(1, topic);
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          ends[rs.getInt(1)] = rs.getLong(2);
        }
      }
    }
    return ends;
  }

  private static long epochs(Connection admin, TopicMetadata topic) throws SQLException {
    try (PreparedStatement s = admin.prepareStatement("SELECT sum(epoch) FROM partitions WHERE topic_id = ?")) {
      s.setObject(1, topic.id());
      try (ResultSet rs = s.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  /** "partition/offset" → value of every record stored in the topic, decoded in SQL. */
  private static Map<String, String> storedRecords(Connection admin, String topic) throws SQLException {
    Map<String, String> stored = new TreeMap<>();
    Map<Integer, Long> next = new HashMap<>();
    try (PreparedStatement s = admin.prepareStatement("SELECT partition, record_offset, convert_from(value, 'UTF8')"
        + " FROM runnel_records(?) ORDER BY partition, record_offset")) {
      s.setString(1, topic);
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          int partition = rs.getInt(1);
          long offset = rs.getLong(2);
          assertThat(offset).as("gapless offsets in partition %d", partition).isEqualTo(next.getOrDefault(partition, 0L));
          next.put(partition, offset + 1);
          stored.put(partition + "/" + offset, rs.getString(3));
        }
      }
    }
    return stored;
  }

  /** A JDBC connection whose statements give up after 30 s (a JDBC read cannot be interrupted by JUnit's timeout). */
  private static Connection connect() throws SQLException {
    Connection c = pg.connect();
    try (Statement s = c.createStatement()) {
      s.execute("SET search_path TO runnel");
      s.execute("SET statement_timeout = '30s'");
    }
    return c;
  }

  private static LogRecord record(String value) {
    return LogRecord.of(null, value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), null);
  }
}
