package dev.runnel.durability.bench;

import dev.runnel.durability.EmbeddedPostgres;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.PartitionLog;
import dev.runnel.durability.StoreOptions;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Vertx;
import org.HdrHistogram.Histogram;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Durable appends through the {@link LogStore}, in-process (no transport), side by side with the raw ceiling of the
 * same PostgreSQL: server-side {@code INSERT ... SELECT ... generate_series} into the same layout.
 *
 * <p>Environment: {@code BENCH_SECONDS} (per throughput run, default 20), {@code BENCH_PG_URL} (an external
 * {@code host:port:user:password} instead of a fresh embedded server).
 */
public final class StorageBenchmark {

  private static final int PARTITIONS = 8;
  private static final int APPENDERS = 64;
  private static final int IN_FLIGHT = 32;
  private static final int CEILING_CLIENTS = 4;
  private static final int RECORDS_PER_COMMIT = 1_000;

  public static void main(String[] args) throws Exception {
    int seconds = Integer.parseInt(System.getenv().getOrDefault("BENCH_SECONDS", "20"));
    Path dir = Files.createTempDirectory("runnel-bench");
    EmbeddedPostgres pg = EmbeddedPostgres.start(dir, 0);
    StringBuilder report = new StringBuilder();
    try {
      report.append("Storage benchmark, ").append(LocalDate.now()).append(", ")
          .append(Runtime.getRuntime().availableProcessors()).append(" cores, Java ")
          .append(System.getProperty("java.version")).append(", embedded PostgreSQL 17.6 (fsync on)\n\n");
      report.append("| value size | Runnel appends/s | ceiling, batch rows of the same size (rec/s) | ratio "
          + "| ceiling, 1 row per record (rec/s) | records per write | ack p50 / p99 ms (saturated) |\n");
      report.append("|---|---|---|---|---|---|---|\n");
      boolean latencyOnly = "latency".equals(System.getenv("BENCH_ONLY"));
      for (int size : latencyOnly ? new int[0] : new int[] {100, 1024}) {
        Throughput t = throughput(pg, size, seconds);
        double batchCeiling = ceiling(pg, size, Math.max(1, Math.round(t.recordsPerWrite)), seconds / 2);
        double rowCeiling = ceiling(pg, size, 0, seconds / 2);
        report.append(String.format("| %d B | %,.0f | %,.0f | %.2f | %,.0f | %.0f | %.2f / %.2f |%n", size,
            t.recordsPerSecond, batchCeiling, t.recordsPerSecond / batchCeiling, rowCeiling, t.recordsPerWrite,
            t.latency.getValueAtPercentile(50) / 1000.0, t.latency.getValueAtPercentile(99) / 1000.0));
        System.out.println(report);
      }
      Histogram fixed = fixedRate(pg, 1024, 10_000, seconds);
      report.append(String.format("%nAppend latency at a fixed 10,000 records/s (1 KB, 8 partitions, open loop, from "
              + "the intended send time), %d s: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%d appends)%n",
          seconds, fixed.getValueAtPercentile(50) / 1000.0, fixed.getValueAtPercentile(99) / 1000.0,
          fixed.getValueAtPercentile(99.9) / 1000.0, fixed.getMaxValue() / 1000.0, fixed.getTotalCount()));
    } finally {
      pg.close();
      TestPostgres.deleteQuietly(dir);  // a run writes gigabytes
    }
    System.out.println(report);
    Files.writeString(Path.of("target", "storage-benchmark.md"), report);
  }

  private record Throughput(double recordsPerSecond, double recordsPerWrite, Histogram latency) {
  }

  private static StoreOptions options(EmbeddedPostgres pg, String schema) {
    return pg.storeOptions().setSchema(schema).setRetentionCheckMs(0).setNodeId("bench");
  }

  private static List<LogRecord> oneRecord(int size, int i) {
    byte[] value = new byte[size];
    new Random(i).nextBytes(value);
    return List.of(LogRecord.of(("key-" + i).getBytes(), value, "application/octet-stream", List.of(), null));
  }

  /** 64 appenders, each with 32 single-record appends in flight, for {@code seconds} after a warm-up. */
  private static Throughput throughput(EmbeddedPostgres pg, int size, int seconds) throws Exception {
    Vertx vertx = Vertx.vertx();
    LogStore store = LogStore.open(vertx, options(pg, "bench_" + size)).await();
    try {
      TopicMetadata topic = store.createTopic("bench", PARTITIONS, TopicConfig.DEFAULT).await().topic();
      PartitionLog[] logs = new PartitionLog[PARTITIONS];
      for (int p = 0; p < PARTITIONS; p++) {
        logs[p] = store.partition(topic, p);
        logs[p].offsets().await();
      }
      long warmupEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      long end = warmupEnd + TimeUnit.SECONDS.toNanos(seconds);
      AtomicLong counted = new AtomicLong();
      Histogram latency = new Histogram(60_000_000, 3);
      CountDownLatch done = new CountDownLatch(APPENDERS * IN_FLIGHT);
      for (int a = 0; a < APPENDERS; a++) {
        List<LogRecord> record = oneRecord(size, a);
        PartitionLog log = logs[a % PARTITIONS];
        for (int i = 0; i < IN_FLIGHT; i++) {
          loop(log, record, warmupEnd, end, counted, latency, done);
        }
      }
      done.await();
      long hw = 0;
      for (PartitionLog log : logs) {
        hw += log.offsets().await().highWatermark();
      }
      long writes = countWrites(pg, "bench_" + size);
      return new Throughput(counted.get() / (double) seconds, hw / (double) writes, latency);
    } finally {
      store.close().await();
      vertx.close().await();
    }
  }

  private static void loop(PartitionLog log, List<LogRecord> record, long warmupEnd, long end, AtomicLong counted,
                           Histogram latency, CountDownLatch done) {
    long sent = System.nanoTime();
    if (sent >= end) {
      done.countDown();
      return;
    }
    log.append(record).onComplete(ar -> {
      long now = System.nanoTime();
      if (ar.failed()) {
        System.err.println("append failed: " + ar.cause());
      } else if (sent >= warmupEnd && now <= end) {
        counted.incrementAndGet();
        synchronized (latency) {
          latency.recordValue((now - sent) / 1000);
        }
      }
      loop(log, record, warmupEnd, end, counted, latency, done);
    });
  }

  private static long countWrites(EmbeddedPostgres pg, String schema) throws Exception {
    try (Connection c = pg.connect(); Statement s = c.createStatement()) {
      s.execute("SET search_path TO " + schema);
      long writes = 0;
      List<String> tables = new ArrayList<>();
      try (var rs = s.executeQuery("SELECT table_name FROM segments")) {
        while (rs.next()) {
          tables.add(rs.getString(1));
        }
      }
      for (String t : tables) {
        try (var rs = s.executeQuery("SELECT count(*) FROM " + t)) {
          rs.next();
          writes += rs.getLong(1);
        }
      }
      return writes;
    }
  }

  /**
   * The raw ceiling: {@value #CEILING_CLIENTS} clients, each committing {@value #RECORDS_PER_COMMIT} records per
   * statement generated server-side, for {@code seconds}. {@code recordsPerRow} 0 means one row per record.
   */
  private static double ceiling(EmbeddedPostgres pg, int size, long recordsPerRow, int seconds) throws Exception {
    String table = recordsPerRow == 0 ? "ceiling_rows_" + size : "ceiling_batches_" + size;
    try (Connection c = pg.connect(); Statement s = c.createStatement()) {
      s.execute("DROP TABLE IF EXISTS " + table);
      if (recordsPerRow == 0) {
        s.execute("CREATE TABLE " + table + " (partition int NOT NULL, record_offset bigint NOT NULL, "
            + "ts bigint NOT NULL, key bytea, value bytea NOT NULL, PRIMARY KEY (partition, record_offset))");
      } else {
        s.execute("CREATE TABLE " + table + " (partition int NOT NULL, base_offset bigint NOT NULL, last_offset bigint "
            + "NOT NULL, max_timestamp bigint NOT NULL, record_count int NOT NULL, block bytea NOT NULL, "
            + "PRIMARY KEY (partition, base_offset))");
        s.execute("ALTER TABLE " + table + " ALTER COLUMN block SET STORAGE EXTERNAL");
      }
    }
    long rows = recordsPerRow == 0 ? RECORDS_PER_COMMIT : Math.max(1, RECORDS_PER_COMMIT / recordsPerRow);
    long recordsPerStatement = recordsPerRow == 0 ? RECORDS_PER_COMMIT : rows * recordsPerRow;
    // Each record of a block carries its value plus ~30 bytes of framing, as RecordBlock does.
    long payloadBytes = recordsPerRow == 0 ? size : recordsPerRow * (size + 30L);
    // The payload is random bytes made once, server-side: generating it per row (repeat, convert_to) would cost more
    // CPU than storing it, and constant bytes would hide what compression could do.
    try (Connection c = pg.connect(); Statement s = c.createStatement()) {
      s.execute("DROP TABLE IF EXISTS ceiling_payload");
      s.execute("CREATE TABLE ceiling_payload AS SELECT substr(decode(string_agg(lpad(to_hex((random() * 2147483647)::int), "
          + "8, '0'), ''), 'hex'), 1, " + payloadBytes + ") AS v FROM generate_series(1, " + (payloadBytes / 4 + 1) + ")");
    }
    String sql = recordsPerRow == 0
        ? "INSERT INTO " + table + " SELECT ?, ? + g, 0, convert_to('key-' || g, 'UTF8'), p.v "
            + "FROM generate_series(0, " + (rows - 1) + ") g, ceiling_payload p"
        : "INSERT INTO " + table + " SELECT ?, ? + g * " + recordsPerRow + ", ? + g * " + recordsPerRow + " + "
            + (recordsPerRow - 1) + ", 0, " + recordsPerRow + ", p.v "
            + "FROM generate_series(0, " + (rows - 1) + ") g, ceiling_payload p";
    AtomicLong records = new AtomicLong();
    long start = System.nanoTime();
    long end = start + TimeUnit.SECONDS.toNanos(seconds);
    List<Thread> clients = new ArrayList<>();
    for (int client = 0; client < CEILING_CLIENTS; client++) {
      int partition = client;
      clients.add(started(() -> {
        try (Connection c = pg.connect(); PreparedStatement ps = c.prepareStatement(sql)) {
          long offset = 0;
          while (System.nanoTime() < end) {
            ps.setInt(1, partition);
            ps.setLong(2, offset);
            if (recordsPerRow != 0) {
              ps.setLong(3, offset);
            }
            ps.executeUpdate();
            offset += recordsPerStatement;
            records.addAndGet(recordsPerStatement);
          }
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      }));
    }
    for (Thread t : clients) {
      t.join();
    }
    double elapsed = (System.nanoTime() - start) / 1e9;
    try (Connection c = pg.connect(); Statement s = c.createStatement()) {
      s.execute("DROP TABLE " + table);
    }
    return records.get() / elapsed;
  }

  /** Open-loop appends at a fixed rate; latency from each append's intended send time to its acknowledgement. */
  private static Histogram fixedRate(EmbeddedPostgres pg, int size, int rate, int seconds) throws Exception {
    Vertx vertx = Vertx.vertx();
    LogStore store = LogStore.open(vertx, options(pg, "bench_rate")).await();
    try {
      TopicMetadata topic = store.createTopic("rate", PARTITIONS, TopicConfig.DEFAULT).await().topic();
      PartitionLog[] logs = new PartitionLog[PARTITIONS];
      for (int p = 0; p < PARTITIONS; p++) {
        logs[p] = store.partition(topic, p);
        logs[p].offsets().await();
      }
      List<LogRecord> record = oneRecord(size, 1);
      Histogram latency = new Histogram(60_000_000, 3);
      long total = (long) rate * seconds;
      long warmup = rate * 2L;
      CountDownLatch done = new CountDownLatch((int) total);
      long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(100);
      double intervalNanos = 1e9 / rate;
      AtomicLong sent = new AtomicLong();
      long timer = vertx.setPeriodic(1, id -> {
        long due = Math.min(total, (long) ((System.nanoTime() - start) / intervalNanos));
        for (long k = sent.get(); k < due; k = sent.incrementAndGet()) {
          long intended = start + (long) (k * intervalNanos);
          long index = k;
          logs[(int) (k % PARTITIONS)].append(record).onComplete(ar -> {
            if (ar.failed()) {
              System.err.println("append failed: " + ar.cause());
            } else if (index >= warmup) {
              synchronized (latency) {
                latency.recordValue(Math.max(0, (System.nanoTime() - intended) / 1000));
              }
            }
            done.countDown();
          });
        }
      });
      if (!done.await(seconds + 60L, TimeUnit.SECONDS)) {
        throw new IllegalStateException("fixed-rate run did not finish");
      }
      vertx.cancelTimer(timer);
      return latency;
    } finally {
      store.close().await();
      vertx.close().await();
    }
  }

  private static Thread started(Runnable body) {
    Thread t = new Thread(body);
    t.start();
    return t;
  }
}
