package dev.runnel.broker;

import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random produce / fetch / ack / nack / reject / extend / lease expiry / join / leave / save / crash / clean restart
 * against the real engine on the real Postgres, checked against an exact reference model, one operation at a time.
 * After each operation the test waits until the engine has no storage work in flight ({@link LocalBroker#idle()}),
 * and time is the injected clock only, so a seed replays exactly: each run is made twice and the two traces of what
 * the engine answered must be equal. A restart throws away every in-memory structure (broker, store, Vert.x); a crash
 * restart also loses the saves the engine's pacing held back, a clean one saves everything first.
 *
 * <p>Invariants, each checked where it can be broken:
 * <ul>
 *   <li>a record finished (acked or dead-lettered) in the current incarnation is never delivered again; an acked
 *       record comes back after a restart only if a crash came before its ack was saved; a dead-lettered record
 *       never comes back (its dead letter is stored before the outcome is answered);</li>
 *   <li>each delivery's attempt is exactly one more than the failures counted so far (nacks, rejects, lease expiries;
 *       releases count none), except right after a crash that came before the latest failure was saved, and then
 *       one lower at most; never beyond the policy; a retry never comes before its backoff's lower bound;</li>
 *   <li>a key's records are delivered one at a time, in offset order, each only once the earlier ones finished;</li>
 *   <li>outcomes answer exactly: OK for a current lease, OK for acking twice, LEASE_EXPIRED for a settled lease, a
 *       lease released by a rebalance, or a token from before a restart;</li>
 *   <li>committed offsets never go back, and end at the high watermark with no parked row left; the log holds every
 *       acknowledged record; every record ends acked or in the dead-letter topic exactly once, with the attempts and
 *       reason the model expects, and no acked record is in the dead-letter topic.</li>
 * </ul>
 *
 * <p>The concurrent variant checks the same invariants with {@value #CONCURRENT_MEMBERS} members, each consuming from
 * its own event loop while the test thread produces, and crash or clean restarts between its phases. Time moves only
 * while every member is between fetches with nothing unsettled (a consumer that settles well within its lease), so
 * leases expire only where a member chose to forget a delivery, and the model stays exact. Its interleaving differs
 * between runs; it prints its seed, which replays the members' choices (not their timing) with
 * {@code -Drunnel.model.seed=N}.
 */
class ConsumerGroupModelTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final int PARTITIONS = 2;
  private static final int CONCURRENT_MEMBERS = 4;
  private static final int CONCURRENT_PARTITIONS = 4;
  private static final int MAX_RETRIES = 2;
  private static final long INITIAL_DELAY_MS = 100;
  private static final double JITTER = 0.5;
  private static final JsonObject POLICY = new JsonObject().put("maxRetries", MAX_RETRIES)
      .put("initialDelayMs", INITIAL_DELAY_MS).put("backoffMultiplier", 2).put("maxDelayMs", 1000).put("jitter", JITTER);
  private static final long LEASE_MS = 2_000;
  private static final int OPERATIONS = 2_200;

  private enum Fate { OPEN, ACKED, DEAD }

  /** A produced record and what the model knows of it. */
  private static final class Rec {
    final int partition;
    /** -1 until the produce answered or the record was delivered, whichever came first. */
    long offset = -1;
    final String key;
    final String value;
    Fate fate = Fate.OPEN;
    /** The incarnation in which it was last finished. */
    int finishedIn = -1;
    /** A save came after its finish, so it is stored. */
    boolean finishSaved;
    /** A crash came before its finish was saved: the engine may deliver it again. */
    boolean mayComeBack;
    /** Failed deliveries the engine has counted. */
    int failures;
    boolean failureSaved = true;
    /** A crash came before its latest failure was saved: its next attempt may be one lower. */
    boolean mayHaveLostFailure;
    long lastFailureAt;
    String deadLetterReason;

    Rec(int partition, String key, String value) {
      this.partition = partition;
      this.key = key;
      this.value = value;
    }

    String id() {
      return partition + "/" + offset;
    }
  }

  private static final class Lease {
    final String token;
    final String member;
    final Rec rec;
    long deadline;
    /** The concurrent variant's member never settles it: it expires. */
    boolean forgotten;

    Lease(String token, String member, Rec rec, long deadline) {
      this.token = token;
      this.member = member;
      this.rec = rec;
      this.deadline = deadline;
    }
  }

  private ManualClock clock;
  private Vertx vertx;
  private LogStore store;
  private LocalBroker broker;

  // The state of one run.
  private long seed;
  private String group;  // the run's group
  private int partitions;
  private final Map<String, Rec> records = new HashMap<>();  // "p/offset"
  /** Records being produced, by value: a member may get one before its producer has the answer. */
  private final Map<String, Rec> producing = new HashMap<>();
  private final Map<String, Lease> leases = new LinkedHashMap<>();  // token → lease, in hand-out order
  /** Tokens of leases that ended without an ack in this incarnation, or before a restart. */
  private final List<String> staleTokens = new ArrayList<>();
  /** Tokens acked in this incarnation: acking again answers OK. */
  private final List<String> ackedTokens = new ArrayList<>();
  private final List<String> members = new ArrayList<>();
  private long[] lastCommitted;
  private final List<String> trace = new ArrayList<>();
  private int incarnation;
  private int crashes;
  private int cleanRestarts;
  private int redeliveredAfterCrash;
  // The concurrent variant's members.
  private boolean paused;
  private int fetching;
  private int unsettled;

  private void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    broker = (LocalBroker) Broker.create(vertx, store, new BrokerOptions().setClock(clock).setTickMs(0)
        .setWindowRecords(8).setRandomSeed(seed * 31 + incarnation));
  }

  private void shutDown() {
    broker.close();
    store.close().await();
    vertx.close().await();
    broker = null;
  }

  @AfterEach
  void close() {
    if (broker != null) {
      shutDown();
    }
  }

  @ParameterizedTest(name = "seed {0}, {1}")
  @CsvSource({"20261122, SHARED", "4242, PARTITIONED"})
  @Timeout(180)  // two runs of 2,200 operations, each waiting for its saves: about 25 s on an idle 2-core machine
  void randomOperationsKeepEveryInvariantAndReplayFromTheSeed(long seed, GroupMode mode) throws Exception {
    List<String> first = run(seed, mode, "a");
    List<String> second = run(seed, mode, "b");
    int differs = 0;
    while (differs < Math.min(first.size(), second.size()) && first.get(differs).equals(second.get(differs))) {
      differs++;
    }
    assertThat(differs).as("seed %d: the replay differs at step %d: %s vs %s", seed, differs,
        differs < first.size() ? first.get(differs) : "(end)", differs < second.size() ? second.get(differs) : "(end)")
        .isEqualTo(Math.max(first.size(), second.size()));
  }

  @ParameterizedTest(name = "concurrent, {0}")
  @EnumSource(GroupMode.class)
  @Timeout(120)  // four phases of produce and consume with restarts between them; seconds when the machine is idle
  void concurrentMembersOnSeveralEventLoopsKeepEveryInvariant(GroupMode mode) throws Exception {
    long seed = Long.getLong("runnel.model.seed", System.nanoTime());
    System.out.println("ConsumerGroupModelTest concurrent " + mode + ": seed " + seed);
    reset(seed, CONCURRENT_PARTITIONS);
    Random random = new Random(seed);
    String topic = "concurrent-" + mode.name().toLowerCase() + "-" + Math.abs(seed);
    group = "group-" + topic;
    String context = "concurrent " + mode + " seed " + seed;
    open();
    broker.createTopic(topic, partitions, TopicConfig.DEFAULT.withRetryPolicy(POLICY)).await();
    Vertx clients = Vertx.vertx();
    try {
      List<ContextInternal> loops = new ArrayList<>();
      for (int i = 0; i < CONCURRENT_MEMBERS; i++) {
        loops.add(((VertxInternal) clients).createEventLoopContext());
      }
      assertThat(new HashSet<>(loops.stream().map(ContextInternal::nettyEventLoop).toList()))
          .as("every member on its own event loop").hasSize(CONCURRENT_MEMBERS);
      for (int phase = 0; phase < 4; phase++) {
        String phaseContext = context + ", phase " + phase;
        AtomicBoolean stop = new AtomicBoolean();
        List<Future<Void>> consumers = new ArrayList<>();
        // Every member joins before any consumes: a later join's rebalance would end leases the model cannot see end.
        for (int i = 0; i < CONCURRENT_MEMBERS; i++) {
          String member = broker.join(group, new JoinRequest(List.of(topic), mode, 3_600_000, LEASE_MS, false))
              .await().memberId();
          synchronized (this) {
            members.add(member);
          }
        }
        for (int i = 0; i < CONCURRENT_MEMBERS; i++) {
          String member = members.get(i);
          Random choices = new Random(seed * 31 + phase * CONCURRENT_MEMBERS + i);
          Promise<Void> done = Promise.promise();
          consumers.add(done.future());
          loops.get(i).runOnContext(v -> consume(member, choices, stop, done, phaseContext));
        }
        for (int step = 0; step < 40 && consumers.stream().noneMatch(Future::failed); step++) {
          produce(topic, random);
          if (random.nextInt(3) == 0) {
            produce(topic, random);
          }
          pauseMembers(consumers);
          passTime(random.nextInt(400));
          resumeMembers();
        }
        stop.set(true);
        Future.join(consumers).otherwiseEmpty().await();
        for (Future<Void> c : consumers) {
          if (c.failed()) {
            throw new AssertionError(phaseContext + ": a member failed", c.cause());
          }
        }
        broker.idle().await();
        restart(phase % 2 == 1, phaseContext);  // crash, clean, crash, clean
      }
    } finally {
      clients.close().await();
    }
    drain(topic, mode, context + ", drain");
    checkFinalState(topic, context);
  }

  /**
   * One member's loop on its event loop: fetch, check, then settle each delivery (ack, nack or reject) or, now and
   * then, forget it so that its lease expires. Stops when told, or at its first failed check.
   */
  private void consume(String member, Random choices, AtomicBoolean stop, Promise<Void> done,
                       String context) {
    synchronized (this) {
      if (stop.get()) {
        done.tryComplete();
        return;
      }
      if (paused) {
        ContextInternal.current().owner().setTimer(1, id -> consume(member, choices, stop, done, context));
        return;
      }
      fetching++;
    }
    broker.fetch(group, member, 1 + choices.nextInt(4), 1 << 20, 0).onComplete(ar -> {
      List<Future<OutcomeResult.Status>> answers = new ArrayList<>();
      try {
        List<Outcomes> outcomes = new ArrayList<>();
        synchronized (this) {
          fetching--;
          if (ar.failed()) {
            throw new AssertionError(context + ": fetch failed", ar.cause());
          }
          delivered(member, ar.result(), context);
          for (Delivery d : ar.result()) {
            Lease lease = leases.get(d.token());
            int kind = choices.nextInt(21);
            if (kind == 20) {
              lease.forgotten = true;
              trace.add("forgot " + lease.rec.id());
            } else {
              unsettled++;
              outcomes.add(outcome(lease, kind, clock.millis()));
            }
          }
        }
        for (Outcomes o : outcomes) {
          answers.add(broker.settle(group, o).map(r -> r.get(0).status()).andThen(x -> {
            synchronized (this) {
              unsettled--;
            }
          }));
        }
      } catch (Throwable t) {
        stop.set(true);
        done.tryFail(t);
        return;
      }
      Future.all(answers).onComplete(all -> {
        if (all.failed() || answers.stream().anyMatch(a -> a.result() != OutcomeResult.Status.OK)) {
          stop.set(true);
          done.tryFail(new AssertionError(context + ": an outcome of a current lease answered "
              + answers.stream().map(a -> a.failed() ? a.cause().toString() : String.valueOf(a.result())).toList()));
        } else if (ar.result().isEmpty()) {
          ContextInternal.current().owner().setTimer(1, id -> consume(member, choices, stop, done, context));
        } else {
          consume(member, choices, stop, done, context);
        }
      });
    });
  }

  /** Waits until every member is between fetches with nothing unsettled: time may move. */
  private void pauseMembers(List<Future<Void>> consumers) throws InterruptedException {
    synchronized (this) {
      paused = true;
    }
    for (int i = 0; i < 30_000; i++) {
      synchronized (this) {
        if (fetching == 0 && unsettled == 0 || consumers.stream().anyMatch(Future::failed)) {
          return;
        }
      }
      Thread.sleep(1);
    }
    throw new AssertionError("the members did not settle in 30 s");
  }

  private synchronized void resumeMembers() {
    paused = false;
  }

  private void reset(long seed, int partitions) {
    this.seed = seed;
    this.partitions = partitions;
    clock = new ManualClock(2_000_000_000_000L);
    records.clear();
    producing.clear();
    leases.clear();
    staleTokens.clear();
    ackedTokens.clear();
    members.clear();
    trace.clear();
    lastCommitted = new long[partitions];
    incarnation = 0;
    crashes = 0;
    cleanRestarts = 0;
    redeliveredAfterCrash = 0;
    paused = false;
    fetching = 0;
    unsettled = 0;
  }

  /** One whole run; answers its trace. */
  private List<String> run(long seed, GroupMode mode, String name) throws Exception {
    reset(seed, PARTITIONS);
    Random random = new Random(seed);
    String topic = "model-" + seed + "-" + name;
    group = "group-" + seed + "-" + name;
    open();
    broker.createTopic(topic, partitions, TopicConfig.DEFAULT.withRetryPolicy(POLICY)).await();
    for (int op = 0; op < OPERATIONS; op++) {
      int dice = random.nextInt(100);
      String context = "seed " + seed + " run " + name + ", operation " + op;
      if (dice < 18 && records.size() < 400) {
        produce(topic, random);
      } else if (dice < 22 && members.size() < 3) {
        String member = broker.join(group, new JoinRequest(List.of(topic), mode, 3_600_000, LEASE_MS, false))
            .await().memberId();
        members.add(member);
        trace.add("join " + member);
        probeLeases(mode, context);
      } else if (dice < 24 && members.size() > 1) {
        String leaving = members.remove(random.nextInt(members.size()));
        broker.leave(group, leaving).await();
        trace.add("leave " + leaving);
        leases.values().removeIf(l -> l.member.equals(leaving));  // released: no attempt counted
        probeLeases(mode, context);
      } else if (dice < 50 && !members.isEmpty()) {
        fetch(members.get(random.nextInt(members.size())), 1 + random.nextInt(5), context);
      } else if (dice < 78 && !leases.isEmpty()) {
        settleRandom(random, context);
      } else if (dice < 80 && !staleTokens.isEmpty()) {
        String stale = staleTokens.get(random.nextInt(staleTokens.size()));
        assertThat(status(new Outcomes(List.of(stale), List.of(), List.of(), List.of())))
            .as("%s: ack of a lease that ended unacked or before a restart", context)
            .isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
      } else if (dice < 81 && !ackedTokens.isEmpty()) {
        String acked = ackedTokens.get(random.nextInt(ackedTokens.size()));
        assertThat(status(new Outcomes(List.of(acked), List.of(), List.of(), List.of())))
            .as("%s: acking again in the same incarnation", context).isEqualTo(OutcomeResult.Status.OK);
      } else if (dice < 92) {
        passTime(random.nextInt(1_500));
      } else if (dice < 93) {
        broker.saveAll().await();
        markSaved();
        trace.add("saved");
      } else if (dice < 95) {
        restart(random.nextBoolean(), context);
      } else {
        checkCommittedNeverBack(context);
      }
      broker.idle().await();
    }
    drain(topic, mode, "seed " + seed + " run " + name + ", drain");
    checkFinalState(topic, "seed " + seed + " run " + name);
    shutDown();
    return new ArrayList<>(trace);
  }

  private void produce(String topic, Random random) {
    int n = 1 + random.nextInt(3);
    List<ProduceRecord> batch = new ArrayList<>();
    List<Rec> recs = new ArrayList<>();
    synchronized (this) {
      for (int i = 0; i < n; i++) {
        String key = random.nextInt(5) == 0 ? null : "k" + random.nextInt(4);
        Rec rec = new Rec(random.nextInt(partitions), key, "v" + (records.size() + producing.size()) + "-" + i);
        recs.add(rec);
        producing.put(rec.value, rec);
        batch.add(new ProduceRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
            rec.value.getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), rec.partition, null));
      }
    }
    List<ProduceResult> results = broker.produce(topic, batch).await();
    synchronized (this) {
      for (int i = 0; i < n; i++) {
        ProduceResult r = results.get(i);
        Rec rec = recs.get(i);
        assertThat(r.partition()).as("%s: partition", rec.value).isEqualTo(rec.partition);
        if (producing.remove(rec.value) != null) {
          rec.offset = r.offset();
          assertThat(records.put(rec.id(), rec)).as("offset %s given twice", rec.id()).isNull();
        } else {
          assertThat(rec.offset).as("%s: delivered at another offset than its producer was told", rec.value)
              .isEqualTo(r.offset());
        }
        trace.add("produced " + rec.id());
      }
    }
  }

  /**
   * After a join or a leave, a rebalance may have released leases of partitions that moved (no attempt counted): an
   * extend to the lease's own deadline tells exactly which are still current. In shared mode all of them are.
   */
  private void probeLeases(GroupMode mode, String context) {
    long now = clock.millis();
    for (var it = leases.values().iterator(); it.hasNext(); ) {
      Lease l = it.next();
      OutcomeResult.Status s = status(new Outcomes(List.of(), List.of(), List.of(),
          List.of(new Outcomes.Extend(l.token, l.deadline - now))));
      if (mode == GroupMode.SHARED) {
        assertThat(s).as("%s: a rebalance in shared mode kept the lease of %s", context, l.rec.id())
            .isEqualTo(OutcomeResult.Status.OK);
      }
      if (s == OutcomeResult.Status.LEASE_EXPIRED) {
        it.remove();
        staleTokens.add(l.token);
      }
      trace.add("probe " + l.rec.id() + " " + s);
    }
  }

  /** Time passes; leases past their deadline expire at the tick, counting a failure. */
  private void passTime(long ms) {
    long now;
    synchronized (this) {
      clock.advance(ms);
      now = clock.millis();
      for (var it = leases.values().iterator(); it.hasNext(); ) {
        Lease l = it.next();
        if (l.deadline <= now) {
          it.remove();
          staleTokens.add(l.token);
          failed(l.rec, now, "max-retries");
        }
      }
      trace.add("time " + now);
    }
    broker.tick().await();
  }

  private void failed(Rec rec, long now, String reasonIfLast) {
    rec.failures++;
    rec.failureSaved = false;
    rec.lastFailureAt = now;
    if (rec.failures > MAX_RETRIES || reasonIfLast.equals("rejected")) {
      finished(rec, Fate.DEAD);
      rec.deadLetterReason = reasonIfLast;
    }
  }

  private void finished(Rec rec, Fate fate) {
    rec.fate = fate;
    rec.finishedIn = incarnation;
    rec.finishSaved = false;
  }

  /**
   * Everything is saved: failures are stored, and so are finishes below the committed offset (an ack past it is not
   * stored: the committed offset advances over the done prefix only) and every dead letter.
   */
  private void markSaved() throws Exception {
    Map<Integer, Long> committed = committed();
    for (Rec r : records.values()) {
      r.failureSaved = true;
      if (r.fate == Fate.DEAD || r.fate == Fate.ACKED && r.offset < committed.getOrDefault(r.partition, 0L)) {
        r.finishSaved = true;
      }
    }
  }

  private List<Delivery> fetch(String member, int max, String context) {
    List<Delivery> deliveries = broker.fetch(group, member, max, 1 << 20, 0).await();
    delivered(member, deliveries, context);
    return deliveries;
  }

  /** Checks deliveries against the model, and records their leases. */
  private synchronized void delivered(String member, List<Delivery> deliveries, String context) {
    long now = clock.millis();
    for (Delivery d : deliveries) {
      Rec rec = records.get(d.partition() + "/" + d.offset());
      if (rec == null) {
        // Delivered before its producer heard the answer.
        rec = producing.remove(new String(d.record().value(), StandardCharsets.UTF_8));
        assertThat(rec).as("%s: delivered a record never produced: %s", context, d).isNotNull();
        assertThat(d.partition()).as("%s: partition of %s", context, rec.value).isEqualTo(rec.partition);
        rec.offset = d.offset();
        records.put(rec.id(), rec);
      }
      Rec delivered = rec;
      String what = context + ": " + rec.id() + " attempt " + d.attempt() + " (history: " + history(rec) + ")";
      assertThat(new String(d.record().value(), StandardCharsets.UTF_8)).as(what).isEqualTo(rec.value);
      assertThat(leases.values()).as("%s: delivered while its lease is current", what)
          .noneMatch(l -> l.rec == delivered);
      if (rec.fate == Fate.DEAD) {
        printStored(rec);  // about to fail
      }
      if (rec.fate != Fate.OPEN) {
        assertThat(rec.fate).as("%s: a dead-lettered record delivered again", what).isEqualTo(Fate.ACKED);
        assertThat(rec.finishedIn).as("%s: a record acked in this incarnation delivered again", what)
            .isLessThan(incarnation);
        assertThat(rec.mayComeBack).as("%s: a record whose ack was stored below the committed offset delivered again",
            what).isTrue();
        rec.fate = Fate.OPEN;  // the crash lost its ack
        redeliveredAfterCrash++;
      }
      int expected = rec.failures + 1;
      if (rec.mayHaveLostFailure) {
        assertThat(d.attempt()).as("%s: after a crash that may have lost one failure", what)
            .isBetween(expected - 1, expected);
      } else {
        if (d.attempt() != expected) {
          printStored(rec);  // about to fail
        }
        assertThat(d.attempt()).as("%s: attempts counted exactly", what).isEqualTo(expected);
        if (rec.failures > 0) {
          long earliest = rec.lastFailureAt + (long) Math.floor(
              Math.min(1000, INITIAL_DELAY_MS * Math.pow(2, rec.failures - 1)) * (1 - JITTER));
          assertThat(now).as("%s: retried before its backoff", what).isGreaterThanOrEqualTo(earliest);
        }
      }
      assertThat(d.attempt()).as("%s: within the policy", what).isBetween(1, MAX_RETRIES + 1);
      rec.failures = d.attempt() - 1;
      rec.mayHaveLostFailure = false;
      rec.mayComeBack = false;
      if (rec.key != null) {
        for (Rec other : records.values()) {
          if (other.partition == rec.partition && rec.key.equals(other.key) && other.offset < rec.offset) {
            assertThat(other.fate).as("%s: key %s delivered before %s was finished", what, rec.key, other.id())
                .isNotEqualTo(Fate.OPEN);
          }
        }
        assertThat(leases.values()).as("%s: two records of key %s in flight at once", what, rec.key)
            .noneMatch(l -> l.rec.partition == delivered.partition && delivered.key.equals(l.rec.key));
      }
      leases.put(d.token(), new Lease(d.token(), member, rec, d.leaseExpiresAt()));
      trace.add("delivered " + rec.id() + " attempt " + d.attempt() + " to " + member + " until " + d.leaseExpiresAt());
    }
  }

  private void settleRandom(Random random, String context) {
    List<Lease> current = new ArrayList<>(leases.values());
    Lease lease = current.get(random.nextInt(current.size()));
    Rec rec = lease.rec;
    long now = clock.millis();
    int kind = random.nextInt(20);
    String what = context + ": " + rec.id();
    if (kind < 2) {
      long ms = 1 + random.nextInt(3_000);
      assertThat(status(new Outcomes(List.of(), List.of(), List.of(), List.of(new Outcomes.Extend(lease.token, ms)))))
          .as("%s: extend of a current lease", what).isEqualTo(OutcomeResult.Status.OK);
      lease.deadline = now + ms;
      trace.add("extended " + rec.id() + " until " + lease.deadline);
      return;
    }
    assertThat(status(outcome(lease, kind, now))).as("%s: outcome %d of a current lease", what, kind)
        .isEqualTo(OutcomeResult.Status.OK);
    if (kind < 13) {
      assertThat(status(new Outcomes(List.of(lease.token), List.of(), List.of(), List.of())))
          .as("%s: acking twice", what).isEqualTo(OutcomeResult.Status.OK);
    } else {
      assertThat(status(new Outcomes(List.of(), List.of(new Outcomes.Nack(lease.token, null, "late")),
          List.of(), List.of()))).as("%s: a settled lease is no longer current", what)
          .isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
    }
  }

  /**
   * The lease ends with an ack (kind below 13), a nack (below 18) or a reject: the model takes the outcome before it
   * is sent, since a member may receive the key's next record as soon as the engine applied it.
   */
  private synchronized Outcomes outcome(Lease lease, int kind, long now) {
    Rec rec = lease.rec;
    leases.remove(lease.token);
    (kind < 13 ? ackedTokens : staleTokens).add(lease.token);
    if (kind < 13) {
      finished(rec, Fate.ACKED);
      trace.add("acked " + rec.id());
      return new Outcomes(List.of(lease.token), List.of(), List.of(), List.of());
    } else if (kind < 18) {
      failed(rec, now, "max-retries");
      trace.add("nacked " + rec.id());
      return new Outcomes(List.of(), List.of(new Outcomes.Nack(lease.token, null, "nack")), List.of(), List.of());
    } else {
      failed(rec, now, "rejected");
      trace.add("rejected " + rec.id());
      return new Outcomes(List.of(), List.of(), List.of(new Outcomes.Reject(lease.token, "bad")), List.of());
    }
  }

  private void restart(boolean clean, String context) throws Exception {
    if (clean) {
      broker.saveAll().await();
      markSaved();
      cleanRestarts++;
    } else {
      crashes++;  // nothing is in flight (idle), but the saves held back by the pacing are lost
    }
    shutDown();
    for (Rec r : records.values()) {
      if (r.fate == Fate.ACKED && !r.finishSaved) {
        r.mayComeBack = true;
      }
      if (!r.failureSaved) {
        r.mayHaveLostFailure = true;
      }
    }
    leases.values().forEach(l -> staleTokens.add(l.token));
    staleTokens.addAll(ackedTokens);
    ackedTokens.clear();
    leases.clear();  // in flight at the restart: delivered again with no attempt counted
    members.clear();
    incarnation++;
    open();
    trace.add(clean ? "clean restart" : "crash");
    checkCommittedNeverBack(context);
  }

  private OutcomeResult.Status status(Outcomes outcomes) {
    return broker.settle(group, outcomes).await().get(0).status();
  }

  private void checkCommittedNeverBack(String context) throws Exception {
    for (Map.Entry<Integer, Long> e : committed().entrySet()) {
      int p = e.getKey();
      assertThat(e.getValue()).as("%s: committed offset of partition %d went back", context, p)
          .isGreaterThanOrEqualTo(lastCommitted[p]);
      lastCommitted[p] = e.getValue();
    }
  }

  private Map<Integer, Long> committed() throws Exception {
    Map<Integer, Long> committed = new HashMap<>();
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT partition, committed_offset FROM group_offsets WHERE group_name = '" + group + "'")) {
      while (rs.next()) {
        committed.put(rs.getInt(1), rs.getLong(2));
      }
    }
    return committed;
  }

  /**
   * One member acks everything it gets, with time moving on, until every record is finished and nothing more comes
   * for longer than the longest backoff (an ack a crash lost comes back although the model counts it finished).
   */
  private void drain(String topic, GroupMode mode, String context) {
    for (String m : members) {
      broker.leave(group, m).await();
    }
    members.clear();
    leases.clear();
    String member = broker.join(group, new JoinRequest(List.of(topic), mode, 3_600_000, LEASE_MS, false)).await().memberId();
    members.add(member);
    int quietRounds = 0;
    for (int round = 0; round < 400 && (quietRounds < 3 || records.values().stream().anyMatch(r -> r.fate == Fate.OPEN));
         round++) {
      broker.idle().await();
      List<Delivery> got = fetch(member, 50, context);
      for (Delivery d : got) {
        assertThat(status(new Outcomes(List.of(d.token()), List.of(), List.of(), List.of())))
            .as("%s: ack", context).isEqualTo(OutcomeResult.Status.OK);
        leases.remove(d.token());
        finished(records.get(d.partition() + "/" + d.offset()), Fate.ACKED);
        trace.add("acked " + d.partition() + "/" + d.offset());
      }
      if (got.isEmpty()) {
        quietRounds++;
        passTime(500);
      } else {
        quietRounds = 0;
      }
    }
    broker.saveAll().await();
  }

  private void checkFinalState(String topic, String context) throws Exception {
    assertThat(producing.keySet()).as("%s: produced but never answered", context).isEmpty();
    assertThat(records.values().stream().filter(r -> r.fate == Fate.OPEN).map(Rec::id).toList())
        .as("%s: records never finished", context).isEmpty();
    checkCommittedNeverBack(context);
    // No acknowledged record lost: the log holds every produced record at its offset.
    long[] highWatermarks = new long[partitions];
    for (int p = 0; p < partitions; p++) {
      long offset = 0;
      for (StoredRecord r : readAll(topic, p)) {
        Rec rec = records.get(p + "/" + r.offset());
        assertThat(rec).as("%s: unexpected record %d/%d", context, p, r.offset()).isNotNull();
        assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo(rec.value);
        offset = r.offset() + 1;
      }
      int partition = p;
      assertThat(offset).as("%s: partition %d holds every produced record", context, p)
          .isEqualTo(records.values().stream().filter(r -> r.partition == partition).count());
      highWatermarks[p] = offset;
    }
    // The group's position ends at the high watermark, with nothing parked.
    Map<Integer, Long> committed = committed();
    for (int p = 0; p < partitions; p++) {
      if (highWatermarks[p] > 0) {
        Rec at = records.get(p + "/" + committed.get(p));
        if (at != null && !committed.get(p).equals(highWatermarks[p])) {
          printStored(at);  // about to fail
        }
        assertThat(committed.get(p)).as("%s: committed offset of partition %d (the record there: %s)", context, p,
            at == null ? null : at.fate + " " + history(at)).isEqualTo(highWatermarks[p]);
      }
    }
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT count(*) FROM parked WHERE group_name = '" + group + "'")) {
      rs.next();
      assertThat(rs.getLong(1)).as("%s: parked rows left", context).isZero();
    }
    // Every record is acked or in the dead-letter topic exactly once, never both.
    String dlq = topic + "." + group + ".dlq";
    Map<String, Integer> letters = new HashMap<>();
    for (int p = 0; p < partitions; p++) {
      for (StoredRecord r : readAll(dlq, p)) {
        String origin = header(r, "runnel.dlq.partition") + "/" + header(r, "runnel.dlq.offset");
        letters.merge(origin, 1, Integer::sum);
        Rec rec = records.get(origin);
        assertThat(rec).as("%s: a dead letter of a record never produced: %s", context, origin).isNotNull();
        assertThat(rec.fate).as("%s: %s is acked and in the dead-letter topic", context, origin).isEqualTo(Fate.DEAD);
        assertThat(header(r, "runnel.dlq.attempts")).as("%s: attempts of the dead letter of %s", context, origin)
            .isEqualTo(Integer.toString(rec.failures));
        assertThat(header(r, "runnel.dlq.reason")).as("%s: reason of the dead letter of %s", context, origin)
            .isEqualTo(rec.deadLetterReason);
        assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo(rec.value);
      }
    }
    assertThat(letters.values()).as("%s: a record dead-lettered twice", context).allMatch(n -> n == 1);
    assertThat(letters.keySet()).as("%s: dead letters", context).containsExactlyInAnyOrderElementsOf(
        records.values().stream().filter(r -> r.fate == Fate.DEAD).map(Rec::id).toList());
    // The run exercised what it checks.
    assertThat(letters).as("%s: the run dead-lettered something", context).isNotEmpty();
    assertThat(crashes).as("%s: crashes", context).isPositive();
    assertThat(cleanRestarts).as("%s: clean restarts", context).isPositive();
    trace.add("redelivered after a crash: " + redeliveredAfterCrash);
  }

  private List<StoredRecord> readAll(String topic, int partition) {
    List<StoredRecord> all = new ArrayList<>();
    if (broker.listTopics().await().stream().noneMatch(t -> t.name().equals(topic))) {
      return all;
    }
    long offset = 0;
    while (true) {
      List<StoredRecord> page = broker.read(topic, partition, offset, 1000, 1 << 20).await().records();
      if (page.isEmpty()) {
        return all;
      }
      all.addAll(page);
      offset = page.get(page.size() - 1).offset() + 1;
    }
  }

  /** The trace lines about a record and the restarts and saves between them, for failure messages. */
  private String history(Rec rec) {
    String id = " " + rec.id() + " ";
    return String.join("; ", trace.stream().filter(t -> (t + " ").contains(id) || t.equals("crash")
        || t.equals("clean restart") || t.equals("saved")).toList());
  }

  /** Prints what is stored of the record's partition for this group: a failure message's evidence. */
  private void printStored(Rec rec) {
    String where = " WHERE group_name = '" + group + "' AND partition = " + rec.partition;
    try (Connection c = PG.jdbc()) {
      for (String q : List.of("SELECT committed_offset, skipped FROM group_offsets" + where,
          "SELECT record_offset, kind, attempts, not_before, last_error FROM parked" + where + " ORDER BY record_offset",
          "SELECT record_offset, dlq_offset, reason FROM dead_letter_origins" + where + " ORDER BY record_offset")) {
        StringBuilder b = new StringBuilder("stored for " + rec.id() + ": " + q + "\n");
        try (ResultSet rs = c.createStatement().executeQuery(q)) {
          while (rs.next()) {
            for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
              b.append(rs.getString(i)).append(' ');
            }
            b.append('\n');
          }
        }
        System.out.println(b);
      }
    } catch (Exception e) {
      System.out.println("could not read what is stored: " + e);
    }
  }

  private static String header(StoredRecord r, String name) {
    return r.headers().stream().filter(h -> h.name().equals(name))
        .map(h -> new String(h.value(), StandardCharsets.UTF_8)).findFirst().orElse(null);
  }
}
