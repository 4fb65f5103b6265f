package dev.runnel.load;

import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.Driver;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import org.HdrHistogram.ConcurrentHistogram;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * One run of the workload against one target: prepare the topic, join the consumers, run the producers through the
 * warmup and the measured duration, drain, leave, verify.
 *
 * <p>Latency and throughput count only what was intended inside the measured window (after the warmup); the
 * verifier checks every record of the run, warmup included. End-to-end latency is the receive time minus the
 * intended send time carried in the value (one JVM, one {@code System.nanoTime} clock).
 */
public final class LoadRun {

  private final Workload w;
  private final String target;
  private final int round;
  private final Driver driver;
  private final PrintStream out;
  private final boolean quiet;

  private final int run = ThreadLocalRandom.current().nextInt(1, Integer.MAX_VALUE);
  private final Histogram produceAck = new ConcurrentHistogram(3);
  private final Histogram endToEnd = new ConcurrentHistogram(3);
  private final Recorder intervalAck = new Recorder(3);
  private final AtomicLong ackedInWindow = new AtomicLong();
  private final AtomicLong consumedInWindow = new AtomicLong();
  private final AtomicLong ackedTotal = new AtomicLong();
  private final AtomicLong consumedTotal = new AtomicLong();
  private final AtomicLong errors = new AtomicLong();
  private final Outages outages;
  private final AtomicLong unanswered = new AtomicLong();
  private final AtomicReference<String> firstError = new AtomicReference<>();
  private final List<Pacer> pacers = new ArrayList<>();
  private volatile long measureStart;
  private volatile long end;

  public LoadRun(Workload workload, String target, int round, Driver driver, PrintStream out, boolean quiet) {
    this.w = workload;
    this.target = target;
    this.round = round;
    this.driver = driver;
    this.out = out;
    this.quiet = quiet;
    this.outages = new Outages(workload.outageThresholdValue().toMillis(), System::currentTimeMillis);
  }

  /** The group names of this run. */
  public List<String> groupNames() {
    String prefix = w.groupPrefix != null ? w.groupPrefix : "runnel-load-" + Integer.toHexString(run);
    List<String> names = new ArrayList<>();
    if (w.consumers > 0) {
      for (int g = 0; g < w.groups; g++) {
        names.add(prefix + "-" + g);
      }
    }
    return names;
  }

  /** Runs it; a target that cannot be reached fails with {@link ConnectionFailure}. */
  public TargetResult run() {
    int partitions;
    try {
      partitions = driver.prepareTopic(w.topic, w.partitions).toCompletableFuture().get(60, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new ConnectionFailure("cannot prepare topic " + w.topic + " on " + target + ": " + rootMessage(e));
    }
    List<String> groups = groupNames();
    Verifier verifier = new Verifier(run, w.producers, groups);
    log("topic %s (%d partitions), %d producer(s), %d group(s) × %d consumer(s), run id %x", w.topic, partitions,
        w.producers, groups.size(), w.consumers, run);
    if (!driver.acksNamePositions()) {
      log("acknowledgements name no position: each record is placed where the groups receive it");
    }
    if (!driver.keepsKeys()) {
      log("records are stored unkeyed (webhook deliveries): no per-key order is checked; loss and duplicates are");
    }

    List<ConsumerClient> consumers = new ArrayList<>();
    if (!w.catchUp) {
      startConsumers(groups, verifier, consumers);
    }

    long t0 = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(20);
    measureStart = t0 + w.warmupValue().toNanos();
    end = measureStart + w.durationValue().toNanos();
    ValueCodec codec = new ValueCodec(w.valueKind, w.size, driver.eventType());
    boolean keyed = driver.keepsKeys();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < w.producers; i++) {
      Pacer pacer = new Pacer(i, w.producers, w.rate, w.batch, w.maxInFlight, t0, measureStart, end);
      pacers.add(pacer);
      int producer = i;
      Thread t = new Thread(() -> produce(producer, pacer, codec, keyed, verifier), "load-producer-" + i);
      t.setDaemon(true);
      threads.add(t);
    }
    threads.forEach(Thread::start);

    Progress progress = new Progress(w.progressIntervalValue().toNanos());
    while (threads.stream().anyMatch(Thread::isAlive)) {
      join(threads.get(0).isAlive() ? threads.get(0) : threads.stream().filter(Thread::isAlive).findFirst().orElse(null),
          Math.max(1, TimeUnit.NANOSECONDS.toMillis(progress.next - System.nanoTime())));
      progress.tick(System.nanoTime());
    }

    long catchUpStart = System.nanoTime();
    if (w.catchUp) {
      startConsumers(groups, verifier, consumers);
    }
    // Drain: until every group has every acknowledged record, or nothing arrived for drainTimeout.
    long idle = w.drainTimeoutValue().toNanos();
    long seen = consumedTotal.get();
    long lastChange = System.nanoTime();
    while (!groups.isEmpty() && !verifier.complete()) {
      long now = System.nanoTime();
      if (consumedTotal.get() != seen) {
        seen = consumedTotal.get();
        lastChange = now;
      } else if (now - lastChange >= idle) {
        break;
      }
      progress.tick(now);
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(w.catchUp ? 5 : 100));
    }
    long catchUpEnd = System.nanoTime();
    // All leave together: each may be in a long poll.
    List<java.util.concurrent.CompletableFuture<Void>> leaving = new ArrayList<>();
    for (ConsumerClient c : consumers) {
      leaving.add(c.stop().toCompletableFuture());
    }
    for (java.util.concurrent.CompletableFuture<Void> l : leaving) {
      try {
        l.get(30, TimeUnit.SECONDS);
      } catch (Exception e) {
        log("a consumer did not leave cleanly: %s", rootMessage(e));
      }
    }

    Verifier.Outcome o = verifier.verify();
    if (o.acked() == 0 && errors.get() > 0) {
      throw new ConnectionFailure("no send to " + target + " was acknowledged; the first failure: " + firstError.get());
    }
    double seconds = w.durationValue().toNanos() / 1e9;
    double produceRate = ackedInWindow.get() / seconds;
    double consumeRate = w.catchUp ? consumedTotal.get() / Math.max(1e-9, (catchUpEnd - catchUpStart) / 1e9)
        : consumedInWindow.get() / seconds;
    long late = pacers.stream().mapToLong(p -> {
      synchronized (p) {
        return p.lateRecords();
      }
    }).sum();
    long skipped = pacers.stream().mapToLong(p -> {
      synchronized (p) {
        return p.skippedRecords();
      }
    }).sum();
    List<String> problems = new ArrayList<>(o.problems());
    if (firstError.get() != null) {
      problems.add(errors.get() + " send(s) failed, the first: " + firstError.get());
    }
    if (unanswered.get() > 0) {
      problems.add(unanswered.get() + " send(s) still unanswered " + w.drainTimeoutValue().toMillis()
          + " ms after the end (counted as produced, not acknowledged)");
    }
    if (o.foreign() > 0) {
      problems.add(o.foreign() + " record(s) received that this run did not write (ignored)");
    }
    problems.addAll(driver.notes());
    return new TargetResult(target, round, o.produced(), o.acked(), o.unacknowledged(), o.consumed(), o.lost(),
        o.reordered(), o.duplicates(), late, skipped, errors.get(), produceRate, consumeRate, produceRate * w.size / 1e6,
        consumeRate * w.size / 1e6, LatencySummary.of(produceAck), LatencySummary.of(endToEnd), problems,
        outages.all());
  }

  private void startConsumers(List<String> groups, Verifier verifier, List<ConsumerClient> consumers) {
    try {
      for (String group : groups) {
        for (int c = 0; c < w.consumers; c++) {
          ConsumerClient consumer = driver.consumer(w.topic, group, w.mode, (key, value, partition, offset, at) -> {
            Identity id = ValueCodec.decode(value);
            if (id == null || id.run() != run || id.producer() < 0 || id.producer() >= w.producers) {
              verifier.received(group, value, partition, offset);  // counted as foreign
              return;
            }
            verifier.received(group, id.producer(), id.sequence(), partition, offset);
            outages.consumed(partition);
            consumedTotal.incrementAndGet();
            if (at >= measureStart && at < end) {
              consumedInWindow.incrementAndGet();
            }
            if (id.intendedNanos() >= measureStart && id.intendedNanos() < end) {
              endToEnd.recordValue(Math.max(0, (at - id.intendedNanos()) / 1000));
            }
          });
          consumers.add(consumer);
          consumer.start();
        }
      }
    } catch (RuntimeException e) {
      consumers.forEach(ConsumerClient::close);
      throw new ConnectionFailure("cannot start the consumers on " + target + ": " + rootMessage(e));
    }
  }

  private void produce(int producer, Pacer pacer, ValueCodec codec, boolean keyed, Verifier verifier) {
    try (ProducerClient client = driver.producer(w.topic)) {
      Producer p = new Producer(producer, pacer, codec, keyed, verifier, client);
      while (true) {
        long now = System.nanoTime();
        long wake;
        synchronized (pacer) {
          if (pacer.doneSending(now)) {
            break;
          }
        }
        if (p.sendOne(now)) {
          continue;
        }
        synchronized (pacer) {
          wake = pacer.wakeAt();
        }
        // Sleep until the next intended time or a completion (which unparks in the open loop; in the closed loop
        // completions send the next request themselves); never longer than 100 ms.
        long nanos = wake == Long.MAX_VALUE ? TimeUnit.MILLISECONDS.toNanos(100) : Math.min(wake - now,
            TimeUnit.MILLISECONDS.toNanos(100));
        if (nanos > 0) {
          LockSupport.parkNanos(nanos);
        }
      }
      // Let what is in flight complete, bounded by the drain timeout.
      long deadline = System.nanoTime() + w.drainTimeoutValue().toNanos();
      while (true) {
        synchronized (pacer) {
          if (pacer.inFlight() == 0) {
            break;
          }
          if (System.nanoTime() >= deadline) {
            unanswered.addAndGet(pacer.inFlight());
            break;
          }
        }
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
      }
    } catch (RuntimeException e) {
      errors.incrementAndGet();
      firstError.compareAndSet(null, "producer " + producer + ": " + rootMessage(e));
    }
  }

  /**
   * One producer's sends. Its thread sends what the pacer allows; in the closed loop each acknowledged request sends
   * the next one from its completion, on the client's own thread, so a request costs no hand-over between threads
   * (which on two cores cost the client as much as the request itself). The pacer's lock guards the sequence too.
   */
  private final class Producer {
    final int producer;
    final Pacer pacer;
    final ValueCodec codec;
    /** Whether the records go with their key (false: the system stores them unkeyed, see Driver#keepsKeys). */
    final boolean keyed;
    final Verifier verifier;
    final ProducerClient client;
    final Thread thread = Thread.currentThread();
    final KeyChooser keys;
    long seq;

    Producer(int producer, Pacer pacer, ValueCodec codec, boolean keyed, Verifier verifier, ProducerClient client) {
      this.producer = producer;
      this.pacer = pacer;
      this.codec = codec;
      this.keyed = keyed;
      this.verifier = verifier;
      this.client = client;
      this.keys = new KeyChooser(w.keyDistribution, w.keys, w.zipfExponent, (long) run * 31 + producer);
    }

    /** Sends one request if the pacer has one due and a slot free. */
    boolean sendOne(long now) {
      List<OutgoingRecord> records = new ArrayList<>(w.batch);
      long first;
      long intended;
      synchronized (pacer) {
        if (pacer.doneSending(now)) {
          return false;
        }
        intended = pacer.poll(now);
        if (intended == Pacer.NONE) {
          return false;
        }
        first = seq;
        for (int j = 0; j < w.batch; j++) {
          int key = keys.next();
          verifier.sent(producer, seq, key, keyed);
          records.add(new OutgoingRecord(keyed ? KeyChooser.keyName(key) : null, codec.encode(new Identity(run,
              producer, key, seq, intended)), w.headers));
          seq++;
        }
      }
      send(records, first, intended);
      return true;
    }

    private void send(List<OutgoingRecord> records, long first, long intended) {
      java.util.concurrent.CompletionStage<List<Ack>> sent;
      try {
        sent = client.send(records);
      } catch (RuntimeException e) {
        sent = java.util.concurrent.CompletableFuture.failedFuture(e);
      }
      sent.whenComplete((acks, err) -> {
        long done = System.nanoTime();
        boolean ok = err == null && acks != null && acks.size() == records.size();
        if (ok) {
          for (int j = 0; j < acks.size(); j++) {
            Ack ack = acks.get(j);
            if (ack.placed()) {
              verifier.acked(producer, first + j, ack.partition(), ack.offset(), done);
              outages.produced(ack.partition());
            } else {
              verifier.ackedWithoutPosition(producer, first + j, done);  // AMQP: the receptions will place it
            }
          }
          long micros = Math.max(0, (done - intended) / 1000);
          ackedTotal.addAndGet(records.size());
          intervalAck.recordValueWithCount(micros, records.size());
          if (intended >= measureStart && intended < end) {
            produceAck.recordValueWithCount(micros, records.size());
            ackedInWindow.addAndGet(records.size());
          }
        } else {
          errors.incrementAndGet();
          firstError.compareAndSet(null, err != null ? rootMessage(err)
              : "the answer held " + (acks == null ? "no" : acks.size()) + " acks for " + records.size() + " records");
        }
        synchronized (pacer) {
          pacer.completed();
        }
        // A failure hands back to the thread, so a node that fails every request at once cannot recurse here.
        if (!(ok && w.rate == null && sendOne(done))) {
          LockSupport.unpark(thread);
        }
      });
    }
  }

  /** The progress line every interval, with the rates since the last one. */
  private final class Progress {
    final long interval;
    long next;
    long lastAt = System.nanoTime();
    long lastAcked;
    long lastConsumed;

    Progress(long interval) {
      this.interval = interval;
      this.next = lastAt + interval;
    }

    void tick(long now) {
      if (now < next) {
        return;
      }
      print(now, lastAt, lastAcked, lastConsumed);
      lastAcked = ackedTotal.get();
      lastConsumed = consumedTotal.get();
      lastAt = now;
      next = now + interval;
    }
  }

  private void print(long now, long lastAt, long lastAcked, long lastConsumed) {
    if (quiet) {
      return;
    }
    double secs = Math.max(1e-9, (now - lastAt) / 1e9);
    Histogram h = intervalAck.getIntervalHistogram();
    long backlog = 0;
    for (Pacer p : pacers) {
      synchronized (p) {
        backlog += p.backlog() + p.inFlight();
      }
    }
    long behind = Math.max(0, ackedTotal.get() - consumedTotal.get() / Math.max(1, groupNames().size()));
    String phase = now < measureStart ? "warmup" : now < end ? "run" : "drain";
    out.printf(Locale.ROOT, "[%s] %-6s %6.1fs produce %,.0f/s p99 %.2f ms consume %,.0f/s errors %d backlog %d "
            + "unconsumed %d%n", target, phase, (now - measureStart) / 1e9, (ackedTotal.get() - lastAcked) / secs,
        h.getTotalCount() == 0 ? 0.0 : h.getValueAtPercentile(99) / 1000.0, (consumedTotal.get() - lastConsumed) / secs,
        errors.get(), backlog, w.consumers == 0 ? 0 : behind);
  }

  private void log(String format, Object... args) {
    if (!quiet) {
      out.printf(Locale.ROOT, "[%s] " + format + "%n", prepend(target, args));
    }
  }

  private static Object[] prepend(Object first, Object[] rest) {
    Object[] all = new Object[rest.length + 1];
    all[0] = first;
    System.arraycopy(rest, 0, all, 1, rest.length);
    return all;
  }

  private static void join(Thread t, long millis) {
    if (t == null) {
      return;
    }
    try {
      t.join(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  static String rootMessage(Throwable e) {
    Throwable t = e;
    while ((t instanceof java.util.concurrent.ExecutionException || t instanceof java.util.concurrent.CompletionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
  }

  /** The target could not be reached or refused the setup (exit 2). */
  public static final class ConnectionFailure extends RuntimeException {
    public ConnectionFailure(String message) {
      super(message);
    }
  }
}
