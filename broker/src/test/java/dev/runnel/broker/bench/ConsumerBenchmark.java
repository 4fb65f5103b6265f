package dev.runnel.broker.bench;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerOptions;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.durability.EmbeddedPostgres;
import dev.runnel.durability.LogStore;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.HdrHistogram.Histogram;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Consumer groups in-process (no transport), on a fresh embedded PostgreSQL with fsync on: one group, 8 partitions,
 * 1 KB keyed records (10,000 keys, so per-key ordering is in force), partitioned mode with one member per partition.
 * Each member loops: fetch up to 500, ack them all in one call.
 *
 * <ol>
 *   <li>drain a preloaded backlog: delivered-and-acked records/s;</li>
 *   <li>steady produce plus consume: both at full speed, for {@code BENCH_SECONDS};</li>
 *   <li>end-to-end latency at a fixed 10,000 records/s: from each record's intended send time to its delivery.</li>
 * </ol>
 */
public final class ConsumerBenchmark {

  private static final int PARTITIONS = 8;
  private static final int VALUE_BYTES = 1024;
  private static final int KEYS = 10_000;

  public static void main(String[] args) throws Exception {
    int seconds = Integer.parseInt(System.getenv().getOrDefault("BENCH_SECONDS", "20"));
    int backlog = Integer.parseInt(System.getenv().getOrDefault("BENCH_BACKLOG", "400000"));
    Path dir = Files.createTempDirectory("runnel-consumer-bench");
    EmbeddedPostgres pg = EmbeddedPostgres.start(dir, 0);
    StringBuilder report = new StringBuilder("Consumer benchmark, " + LocalDate.now() + ", "
        + Runtime.getRuntime().availableProcessors() + " cores, Java " + System.getProperty("java.version")
        + ", embedded PostgreSQL 17.6 (fsync on), 1 group, 8 partitions, 1 KB records, 10,000 keys\n\n");
    Vertx vertx = Vertx.vertx();
    LogStore store = LogStore.open(vertx, pg.storeOptions().setSchema("bench").setRetentionCheckMs(0)
        .setTailCacheBytes(Long.parseLong(System.getenv().getOrDefault("BENCH_TAIL_CACHE_MB", "64")) << 20)).await();
    Broker broker = Broker.create(vertx, store, new BrokerOptions()
        .setWindowRecords(Integer.parseInt(System.getenv().getOrDefault("BENCH_WINDOW", "1000"))));
    try {
      // Warm-up: the JIT compiles the read, hand-out and ack paths on a separate topic and group first, so the
      // measured drain is the broker's steady state rather than the compiler's (a 150,000/s drain lasts seconds).
      int warmup = Integer.parseInt(System.getenv().getOrDefault("BENCH_WARMUP", "200000"));
      if (warmup > 0) {
        broker.createTopic("warmup", PARTITIONS, TopicConfig.DEFAULT).await();
        produceAtFullSpeed(broker, "warmup", warmup, Long.MAX_VALUE, new AtomicBoolean());
        AtomicLong warmed = new AtomicLong();
        consume(broker, "warmup", "warmup", warmed, new Histogram(3), () -> warmed.get() >= warmup,
            System.nanoTime() + TimeUnit.MINUTES.toNanos(5));
        System.out.printf("warmed up on %,d records%n", warmup);
      }
      String only = System.getenv().getOrDefault("BENCH_ONLY", "");
      if (!only.equals("latency")) {
        drainAndSteady(broker, backlog, seconds, only, report);
      }
      if (only.equals("drain")) {
        return;
      }
      Histogram produceAcked = new Histogram(60_000_000, 3);
      Histogram e2e = fixedRate(broker, 10_000, seconds, produceAcked);
      report.append(String.format("- end to end at a fixed 10,000 records/s, %d s (open loop, from the intended send "
              + "time to delivery): p50 %.2f ms, **p99 %.2f ms** (target 20), **p99.9 %.2f ms** (target 50), max %.2f ms, "
              + "%,d records%n", seconds, e2e.getValueAtPercentile(50) / 1000.0, e2e.getValueAtPercentile(99) / 1000.0,
          e2e.getValueAtPercentile(99.9) / 1000.0, e2e.getMaxValue() / 1000.0, e2e.getTotalCount()));
      report.append(String.format("  - the producer's answers in the same run (intended send time to the answer of "
              + "its produce call, which waits for every partition its 10 or so records went to): p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms%n", produceAcked.getValueAtPercentile(50) / 1000.0,
          produceAcked.getValueAtPercentile(99) / 1000.0, produceAcked.getValueAtPercentile(99.9) / 1000.0,
          produceAcked.getMaxValue() / 1000.0));
    } finally {
      broker.close();
      store.close().await();
      vertx.close().await();
      pg.close();
      TestPostgres.deleteQuietly(dir);  // a run writes gigabytes
    }
    System.out.println(report);
    Files.writeString(Path.of("target", "consumer-benchmark.md"), report);
  }

  /** Phases 1 and 2: drain a preloaded backlog, then produce and consume at full speed together. */
  private static void drainAndSteady(Broker broker, int backlog, int seconds, String only, StringBuilder report)
      throws Exception {
    broker.createTopic("backlog", PARTITIONS, TopicConfig.DEFAULT).await();
    long t0 = System.nanoTime();
    produceAtFullSpeed(broker, "backlog", backlog, Long.MAX_VALUE, new AtomicBoolean());
    double preload = backlog / ((System.nanoTime() - t0) / 1e9);
    System.out.printf("preloaded %,d records at %,.0f/s%n", backlog, preload);

    long t1 = System.nanoTime();
    AtomicLong acked = new AtomicLong();
    Thread progress = new Thread(() -> {
      try {
        while (acked.get() < backlog) {
          Thread.sleep(1000);
          System.out.printf("drain progress: %,d acked after %.0f s%n", acked.get(), (System.nanoTime() - t1) / 1e9);
          if (System.getenv("BENCH_DEBUG") != null) {
            broker.describeGroup("drain").onSuccess(d -> d.partitions().forEach(p -> System.out.printf(
                "  p%d committed %d hw %d lag %d%n", p.partition(), p.committedOffset(), p.highWatermark(), p.records())));
          }
        }
      } catch (InterruptedException ignored) {
        // done
      }
    });
    progress.setDaemon(true);
    progress.start();
    Histogram ignored = new Histogram(3);
    consume(broker, "drain", "backlog", acked, ignored, () -> acked.get() >= backlog, System.nanoTime() + TimeUnit.MINUTES.toNanos(5));
    double drain = acked.get() / ((System.nanoTime() - t1) / 1e9);
    report.append(String.format("- drain a backlog of %,d: **%,.0f delivered-and-acked records/s** (target 150,000)%n",
        backlog, drain));
    System.out.println(report);

    if (only.equals("drain")) {
      return;
    }
    broker.createTopic("steady", PARTITIONS, TopicConfig.DEFAULT).await();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicLong consumed = new AtomicLong();
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    Future<Long> producing = Future.fromCompletionStage(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
      try {
        return produceAtFullSpeed(broker, "steady", Integer.MAX_VALUE, end, stop);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    }));
    long t2 = System.nanoTime();
    consume(broker, "steady-group", "steady", consumed, new Histogram(3), () -> System.nanoTime() >= end, end + 1);
    double elapsed = (System.nanoTime() - t2) / 1e9;
    long produced = producing.toCompletionStage().toCompletableFuture().get();
    report.append(String.format("- steady produce plus consume, %d s: produced **%,.0f/s**, consumed and acked "
        + "**%,.0f/s** (target 50,000), left unconsumed at the end: %,d%n", seconds, produced / elapsed,
        consumed.get() / elapsed, produced - consumed.get()));
    System.out.println(report);
  }

  /** Random values and keys made once: generating them per record would cost the benchmark more than the broker. */
  private static final byte[][] VALUES = new byte[256][];
  private static final byte[][] KEY_BYTES = new byte[KEYS][];

  static {
    Random random = new Random(42);
    for (int i = 0; i < VALUES.length; i++) {
      VALUES[i] = new byte[VALUE_BYTES];
      random.nextBytes(VALUES[i]);
    }
    for (int i = 0; i < KEYS; i++) {
      KEY_BYTES[i] = ("key-" + i).getBytes();
    }
  }

  private static ProduceRecord record(Random random, long intendedNanos) {
    byte[] value = VALUES[random.nextInt(VALUES.length)].clone();
    ByteBuffer.wrap(value).putLong(intendedNanos);
    return new ProduceRecord(KEY_BYTES[random.nextInt(KEYS)], value, "application/octet-stream", List.of(), null, null);
  }

  /** 64 producers with 8 requests of 10 records in flight each, until {@code count} records or {@code end}. */
  private static long produceAtFullSpeed(Broker broker, String topic, int count, long end, AtomicBoolean stop)
      throws Exception {
    AtomicLong sent = new AtomicLong();
    AtomicLong acked = new AtomicLong();
    List<Future<Void>> loops = new ArrayList<>();
    for (int p = 0; p < 64; p++) {
      Random random = new Random(p);
      for (int i = 0; i < 8; i++) {
        Promise<Void> done = Promise.promise();
        produceLoop(broker, topic, random, count, end, stop, sent, acked, done);
        loops.add(done.future());
      }
    }
    Future.all(loops).toCompletionStage().toCompletableFuture().get(10, TimeUnit.MINUTES);
    return acked.get();
  }

  private static void produceLoop(Broker broker, String topic, Random random, int count, long end, AtomicBoolean stop,
                                  AtomicLong sent, AtomicLong acked, Promise<Void> done) {
    if (stop.get() || System.nanoTime() >= end || sent.addAndGet(10) > count) {
      done.tryComplete();
      return;
    }
    List<ProduceRecord> batch = new ArrayList<>(10);
    for (int i = 0; i < 10; i++) {
      batch.add(record(random, System.nanoTime()));
    }
    broker.produce(topic, batch).onComplete(ar -> {
      if (ar.succeeded()) {
        acked.addAndGet(10);
      } else {
        System.err.println("produce failed: " + ar.cause());
      }
      produceLoop(broker, topic, random, count, end, stop, sent, acked, done);
    });
  }

  /** One member per partition, each fetching up to 500 and acking them in one call, until {@code done}. */
  private static void consume(Broker broker, String group, String topic, AtomicLong acked, Histogram latency,
                              java.util.function.BooleanSupplier done, long deadline) throws Exception {
    List<Future<Void>> members = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    for (int m = 0; m < PARTITIONS; m++) {
      ids.add(broker.join(group, new JoinRequest(List.of(topic), GroupMode.PARTITIONED, 60_000, 60_000, false))
          .await().memberId());
    }
    for (String id : ids) {
      Promise<Void> finished = Promise.promise();
      consumeLoop(broker, group, id, acked, latency, done, deadline, finished);
      members.add(finished.future());
    }
    Future.all(members).toCompletionStage().toCompletableFuture().get(10, TimeUnit.MINUTES);
    for (String id : ids) {
      broker.leave(group, id).await();
    }
  }

  private static void consumeLoop(Broker broker, String group, String member, AtomicLong acked, Histogram latency,
                                  java.util.function.BooleanSupplier done, long deadline, Promise<Void> finished) {
    if (done.getAsBoolean() || System.nanoTime() >= deadline) {
      finished.tryComplete();
      return;
    }
    broker.fetch(group, member, 500, 4 << 20, 100).compose(deliveries -> {
      long now = System.nanoTime();
      List<String> tokens = new ArrayList<>(deliveries.size());
      for (Delivery d : deliveries) {
        tokens.add(d.token());
        synchronized (latency) {
          latency.recordValue(Math.max(0, (now - ByteBuffer.wrap(d.record().value()).getLong()) / 1000));
        }
      }
      if (tokens.isEmpty()) {
        return Future.succeededFuture();
      }
      return broker.settle(group, new Outcomes(tokens, List.of(), List.of(), List.of()))
          .map(results -> {
            acked.addAndGet(results.size());
            return null;
          });
    }).onComplete(ar -> {
      if (ar.failed()) {
        System.err.println("consume failed: " + ar.cause());
      }
      consumeLoop(broker, group, member, acked, latency, done, deadline, finished);
    });
  }

  /**
   * Produces at a fixed rate (open loop) while the group consumes; latency from intended send time to delivery, and
   * into {@code acked} from intended send time to the answer of the produce call that carried the record.
   */
  private static Histogram fixedRate(Broker broker, int rate, int seconds, Histogram acked) throws Exception {
    broker.createTopic("latency", PARTITIONS, TopicConfig.DEFAULT).await();
    Histogram latency = new Histogram(60_000_000, 3);
    Histogram warm = new Histogram(60_000_000, 3);
    // The first seconds (BENCH_LATENCY_WARMUP, default 2) warm up and are not counted.
    int warmupSeconds = Integer.parseInt(System.getenv().getOrDefault("BENCH_LATENCY_WARMUP", "2"));
    long total = (long) rate * seconds;
    AtomicLong consumed = new AtomicLong();
    Vertx timerVertx = Vertx.vertx();
    long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
    double interval = 1e9 / rate;
    AtomicLong sent = new AtomicLong();
    Random random = new Random(1);
    long timer = timerVertx.setPeriodic(1, id -> {
      long due = Math.min(total, (long) ((System.nanoTime() - start) / interval));
      List<ProduceRecord> batch = new ArrayList<>();
      List<Long> intended = new ArrayList<>();
      for (long k = sent.get(); k < due; k = sent.incrementAndGet()) {
        intended.add(start + (long) (k * interval));
        batch.add(record(random, intended.get(intended.size() - 1)));
      }
      if (!batch.isEmpty()) {
        broker.produce("latency", batch).onComplete(ar -> {
          if (ar.failed()) {
            System.err.println("produce failed: " + ar.cause());
            return;
          }
          long now = System.nanoTime();
          if (now > start + TimeUnit.SECONDS.toNanos(warmupSeconds)) {
            synchronized (acked) {
              intended.forEach(t -> acked.recordValue(Math.max(0, (now - t) / 1000)));
            }
          }
        });
      }
    });
    long warmupEnd = start + TimeUnit.SECONDS.toNanos(warmupSeconds);
    Histogram recorder = new Histogram(60_000_000, 3) {
      @Override
      public void recordValue(long value) {
        if (System.nanoTime() > warmupEnd) {
          latency.recordValue(value);
        } else {
          warm.recordValue(value);
        }
      }
    };
    consume(broker, "latency-group", "latency", consumed, recorder, () -> consumed.get() >= total,
        System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds + 60L));
    timerVertx.cancelTimer(timer);
    timerVertx.close().toCompletionStage().toCompletableFuture().get();
    return latency;
  }
}
