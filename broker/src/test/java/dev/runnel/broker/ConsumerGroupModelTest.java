package dev.runnel.broker;

import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random produce / fetch / ack / nack / reject / lease expiry / join / leave / restart against the real engine on
 * the real Postgres, checked against a simple reference model. Seeded: a failure names its seed, and the same seed
 * replays the same run. A restart throws away every in-memory structure (broker, store, Vert.x).
 *
 * <p>Invariants: no acknowledged (produced) record is lost; a key's records are delivered one at a time and only when
 * every earlier record of the key is finished; every record ends acked or dead-lettered, and a dead-lettered one is in
 * the dead-letter topic exactly once; no delivery exceeds the policy's attempts; committed offsets never go back.
 */
class ConsumerGroupModelTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final int PARTITIONS = 2;
  private static final int MAX_RETRIES = 2;
  private static final JsonObject POLICY = new JsonObject().put("maxRetries", MAX_RETRIES).put("initialDelayMs", 100)
      .put("backoffMultiplier", 2).put("maxDelayMs", 1000).put("jitter", 0.5);
  private static final long LEASE_MS = 2_000;

  private final ManualClock clock = new ManualClock(2_000_000_000_000L);
  private Vertx vertx;
  private LogStore store;
  private LocalBroker broker;

  /** A produced record and what became of it. */
  private static final class Rec {
    final int partition;
    final long offset;
    final String key;
    final String value;
    boolean finished;
    boolean deadLettered;
    /** A lease the model lost track of (a rebalance) ran out on its last attempt: the engine may have dead-lettered it. */
    boolean maybeDeadLettered;

    boolean settled() {
      return finished || maybeDeadLettered;
    }

    Rec(int partition, long offset, String key, String value) {
      this.partition = partition;
      this.offset = offset;
      this.key = key;
      this.value = value;
    }
  }

  private record Lease(Delivery delivery, String member, Rec rec) {
  }

  private final Map<String, Rec> records = new HashMap<>();  // "p/offset"
  private final Map<String, Lease> valid = new HashMap<>();  // token → lease the model believes current
  private final Map<String, Lease> uncertain = new HashMap<>();  // leases a rebalance may have revoked
  private final List<String> members = new ArrayList<>();
  private final long[] lastCommitted = new long[PARTITIONS];

  private void open(String schemaGroup) {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
    broker = (LocalBroker) Broker.create(vertx, store,
        new BrokerOptions().setClock(clock).setTickMs(0).setWindowRecords(8).setRandomSeed(11L));
  }

  private void restart() {
    broker.close();
    store.close().await();
    vertx.close().await();
    valid.clear();
    uncertain.clear();
    members.clear();
    open(null);
  }

  @AfterEach
  void close() {
    if (broker != null) {
      broker.close();
      store.close().await();
      vertx.close().await();
    }
  }

  @ParameterizedTest(name = "seed {0}, {1}")
  @CsvSource({"20261122, SHARED", "4242, PARTITIONED"})
  void randomOperationsKeepEveryInvariant(long seed, GroupMode mode) throws Exception {
    Random random = new Random(seed);
    String topic = "model-" + seed;
    String group = "group-" + seed;
    open(null);
    broker.createTopic(topic, PARTITIONS, TopicConfig.DEFAULT.withRetryPolicy(POLICY)).await();
    int produced = 0;
    int operations = 2_200;
    for (int op = 0; op < operations; op++) {
      int dice = random.nextInt(100);
      String context = "seed " + seed + ", operation " + op;
      if (dice < 18 && produced < 400) {
        produced += produce(topic, random);
      } else if (dice < 22 && members.size() < 3) {
        members.add(broker.join(group, new JoinRequest(List.of(topic), mode, 3_600_000, LEASE_MS, false)).await().memberId());
        invalidateRebalanced(mode);
      } else if (dice < 24 && members.size() > 1) {
        String leaving = members.remove(random.nextInt(members.size()));
        broker.leave(group, leaving).await();
        valid.values().removeIf(l -> l.member.equals(leaving));
        invalidateRebalanced(mode);
      } else if (dice < 50 && !members.isEmpty()) {
        fetch(group, members.get(random.nextInt(members.size())), 1 + random.nextInt(5), 0, context);
      } else if (dice < 80 && !valid.isEmpty()) {
        settleRandom(group, random, context);
      } else if (dice < 92) {
        clock.advance(random.nextInt(1_500));
        expireLeases();
        broker.tick().await();
      } else if (dice < 94) {
        restart();
        checkCommittedNeverBack(group, context);
      } else {
        checkCommittedNeverBack(group, context);
      }
    }
    drain(group, topic, mode, "seed " + seed + ", drain");
    checkFinalState(group, topic, "seed " + seed);
  }

  private int produce(String topic, Random random) {
    int n = 1 + random.nextInt(3);
    List<ProduceRecord> batch = new ArrayList<>();
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String key = random.nextInt(5) == 0 ? null : "k" + random.nextInt(4);
      keys.add(key);
      batch.add(new ProduceRecord(key == null ? null : key.getBytes(StandardCharsets.UTF_8),
          ("v" + records.size() + "-" + i).getBytes(StandardCharsets.UTF_8), "text/plain", List.of(),
          random.nextInt(PARTITIONS), null));
    }
    List<ProduceResult> results = broker.produce(topic, batch).await();
    for (int i = 0; i < n; i++) {
      ProduceResult r = results.get(i);
      records.put(r.partition() + "/" + r.offset(), new Rec(r.partition(), r.offset(), keys.get(i),
          new String(batch.get(i).value(), StandardCharsets.UTF_8)));
    }
    return n;
  }

  /** In partitioned mode a rebalance may revoke leases: the model no longer knows whether they are current. */
  private void invalidateRebalanced(GroupMode mode) {
    if (mode == GroupMode.PARTITIONED) {
      uncertain.putAll(valid);
      valid.clear();
    }
  }

  /** Lease expiry counts an attempt; on the last attempt the engine dead-letters the record. */
  private void expireLeases() {
    long now = clock.millis();
    for (Lease l : valid.values()) {
      if (l.delivery.leaseExpiresAt() <= now && l.delivery.attempt() > MAX_RETRIES) {
        l.rec.finished = true;
        l.rec.deadLettered = true;
      }
    }
    for (Lease l : uncertain.values()) {
      if (l.delivery.leaseExpiresAt() <= now && l.delivery.attempt() > MAX_RETRIES) {
        l.rec.maybeDeadLettered = true;
      }
    }
    valid.values().removeIf(l -> l.delivery.leaseExpiresAt() <= now);
    uncertain.values().removeIf(l -> l.delivery.leaseExpiresAt() <= now);
  }

  private List<Delivery> fetch(String group, String member, int max, long waitMs, String context) {
    List<Delivery> deliveries = broker.fetch(group, member, max, 1 << 20, waitMs).await();
    for (Delivery d : deliveries) {
      Rec rec = records.get(d.partition() + "/" + d.offset());
      assertThat(rec).as("%s: delivered a record never produced: %s", context, d).isNotNull();
      assertThat(new String(d.record().value(), StandardCharsets.UTF_8)).as(context).isEqualTo(rec.value);
      assertThat(d.attempt()).as("%s: attempts within the policy", context).isBetween(1, MAX_RETRIES + 1);
      if (rec.key != null) {
        for (Rec other : records.values()) {
          if (other.partition == rec.partition && rec.key.equals(other.key) && other.offset < rec.offset) {
            assertThat(other.settled()).as("%s: %s/%d of key %s delivered before %d was finished", context,
                rec.partition, rec.offset, rec.key, other.offset).isTrue();
          }
        }
        for (Lease l : valid.values()) {
          assertThat(l.rec.partition == rec.partition && rec.key.equals(l.rec.key) && l.rec != rec)
              .as("%s: two records of key %s in flight at once", context, rec.key).isFalse();
        }
      }
      valid.values().removeIf(l -> l.rec == rec);  // an older lease of the same record is gone
      uncertain.values().removeIf(l -> l.rec == rec);
      valid.put(d.token(), new Lease(d, member, rec));
    }
    return deliveries;
  }

  private void settleRandom(String group, Random random, String context) {
    List<String> tokens = new ArrayList<>(valid.keySet());
    tokens.sort(null);
    String token = tokens.get(random.nextInt(tokens.size()));
    Lease lease = valid.remove(token);
    int kind = random.nextInt(10);
    if (lease.rec.finished || kind < 6) {
      // A record finished before (its ack lost to a restart) is simply acked again.
      assertThat(status(group, new Outcomes(List.of(token), List.of(), List.of(), List.of())))
          .as("%s: ack of a current lease", context).isEqualTo(OutcomeResult.Status.OK);
      lease.rec.finished = true;
    } else if (kind < 9) {
      assertThat(status(group, new Outcomes(List.of(), List.of(new Outcomes.Nack(token, null, "nack")), List.of(),
          List.of()))).as("%s: nack of a current lease", context).isEqualTo(OutcomeResult.Status.OK);
      if (lease.delivery.attempt() > MAX_RETRIES) {
        lease.rec.finished = true;
        lease.rec.deadLettered = true;
      }
    } else {
      assertThat(status(group, new Outcomes(List.of(), List.of(), List.of(new Outcomes.Reject(token, "bad")),
          List.of()))).as("%s: reject of a current lease", context).isEqualTo(OutcomeResult.Status.OK);
      lease.rec.finished = true;
      lease.rec.deadLettered = true;
    }
    // A lease the model already dropped must be refused.
    assertThat(status(group, new Outcomes(List.of(), List.of(new Outcomes.Nack(token, null, "late")), List.of(),
        List.of()))).as("%s: a settled lease is no longer current", context).isEqualTo(OutcomeResult.Status.LEASE_EXPIRED);
  }

  private OutcomeResult.Status status(String group, Outcomes outcomes) {
    return broker.settle(group, outcomes).await().get(0).status();
  }

  private void checkCommittedNeverBack(String group, String context) throws Exception {
    try (Connection c = PG.jdbc(); ResultSet rs = c.createStatement().executeQuery(
        "SELECT partition, committed_offset FROM group_offsets WHERE group_name = '" + group + "'")) {
      while (rs.next()) {
        int p = rs.getInt(1);
        long committed = rs.getLong(2);
        assertThat(committed).as("%s: committed offset of partition %d went back", context, p)
            .isGreaterThanOrEqualTo(lastCommitted[p]);
        lastCommitted[p] = committed;
      }
    }
  }

  /** One member acks everything it gets, with time moving on, until every record is finished. */
  private void drain(String group, String topic, GroupMode mode, String context) throws Exception {
    for (String m : members) {
      broker.leave(group, m).await();
    }
    members.clear();
    valid.clear();
    uncertain.clear();
    String member = broker.join(group, new JoinRequest(List.of(topic), mode, 3_600_000, LEASE_MS, false)).await().memberId();
    members.add(member);
    for (int round = 0; round < 400 && records.values().stream().anyMatch(r -> !r.settled()); round++) {
      List<Delivery> got = fetch(group, member, 50, 20, context);
      for (Delivery d : got) {
        assertThat(status(group, new Outcomes(List.of(d.token()), List.of(), List.of(), List.of()))).isEqualTo(OutcomeResult.Status.OK);
        valid.remove(d.token());
        records.get(d.partition() + "/" + d.offset()).finished = true;
      }
      if (got.isEmpty()) {
        clock.advance(500);
        broker.tick().await();
      }
    }
    checkCommittedNeverBack(group, context);
  }

  private void checkFinalState(String group, String topic, String context) throws Exception {
    assertThat(records.values().stream().filter(r -> !r.settled()).map(r -> r.partition + "/" + r.offset).toList())
        .as("%s: records never finished", context).isEmpty();
    // No acknowledged record lost: the log holds every produced record at its offset.
    for (int p = 0; p < PARTITIONS; p++) {
      long offset = 0;
      while (true) {
        List<LogRecord> page = broker.read(topic, p, offset, 1000, 1 << 20).await().records();
        if (page.isEmpty()) {
          break;
        }
        for (LogRecord r : page) {
          Rec rec = records.get(p + "/" + r.offset());
          assertThat(rec).as("%s: unexpected record %d/%d", context, p, r.offset()).isNotNull();
          assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo(rec.value);
        }
        offset = page.get(page.size() - 1).offset() + 1;
      }
      int partition = p;
      assertThat(offset).as("%s: partition %d holds every produced record", context, p)
          .isEqualTo(records.values().stream().filter(r -> r.partition == partition).count());
    }
    // Dead letters: each dead-lettered record exactly once in the group's dead-letter topic, none for the others.
    String dlq = topic + "." + group + ".dlq";
    Map<String, Integer> letters = new HashMap<>();
    Set<String> expected = new HashSet<>();
    records.values().stream().filter(r -> r.deadLettered).forEach(r -> expected.add(r.partition + "/" + r.offset));
    if (!expected.isEmpty() || broker.listTopics().await().stream().anyMatch(t -> t.name().equals(dlq))) {
      for (int p = 0; p < PARTITIONS; p++) {
        long offset = 0;
        while (true) {
          List<LogRecord> page = broker.read(dlq, p, offset, 1000, 1 << 20).await().records();
          if (page.isEmpty()) {
            break;
          }
          for (LogRecord r : page) {
            String origin = header(r, "runnel.dlq.partition") + "/" + header(r, "runnel.dlq.offset");
            letters.merge(origin, 1, Integer::sum);
            assertThat(Integer.parseInt(header(r, "runnel.dlq.attempts"))).isBetween(1, MAX_RETRIES + 1);
          }
          offset = page.get(page.size() - 1).offset() + 1;
        }
      }
    }
    assertThat(letters.values()).as("%s: a record dead-lettered twice", context).allMatch(n -> n == 1);
    // Every record the model saw dead-lettered is there; a record the model believes acked may be there too only if
    // a lease expiry (which the model does not see as an outcome) dead-lettered it first.
    assertThat(letters.keySet()).as("%s: dead letters", context).containsAll(expected);
    records.values().stream().filter(r -> !r.finished).forEach(r -> assertThat(letters)
        .as("%s: %d/%d was settled only by an unseen expiry, so it must be a dead letter", context, r.partition, r.offset)
        .containsKey(r.partition + "/" + r.offset));
    assertThat(expected).as("%s: the run dead-lettered something", context).isNotEmpty();
  }

  private static String header(LogRecord r, String name) {
    return r.headers().stream().filter(h -> h.name().equals(name))
        .map(h -> new String(h.value(), StandardCharsets.UTF_8)).findFirst().orElse(null);
  }
}
