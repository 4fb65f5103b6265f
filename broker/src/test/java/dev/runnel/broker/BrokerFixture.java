package dev.runnel.broker;

import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.StoreOptions;
import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A broker on the test Postgres with an injected clock and no timer (tests move time with {@link #advance}), and the
 * few calls the group tests share. {@link #restart} throws every in-memory structure away.
 */
final class BrokerFixture {

  private static final AtomicInteger NAMES = new AtomicInteger();

  final TestPostgres pg;
  final ManualClock clock = new ManualClock(1_800_000_000_000L);
  private final Consumer<BrokerOptions> tuning;
  private final UnaryOperator<StoreOptions> storeTuning;
  Vertx vertx;
  LogStore store;
  LocalBroker broker;

  /** @param tuning changes to the options (window, parking bound); clock, seed and tick are set here */
  BrokerFixture(TestPostgres pg, Consumer<BrokerOptions> tuning) {
    this(pg, tuning, o -> o);
  }

  /** @param storeTuning changes to the store's options (lease length); the clock is set here */
  BrokerFixture(TestPostgres pg, Consumer<BrokerOptions> tuning, UnaryOperator<StoreOptions> storeTuning) {
    this.pg = pg;
    this.tuning = tuning;
    this.storeTuning = storeTuning;
    start();
  }

  private void start() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, storeTuning.apply(pg.options().setClock(clock))).await();
    BrokerOptions options = new BrokerOptions().setClock(clock).setTickMs(0).setRandomSeed(7L);
    tuning.accept(options);
    broker = (LocalBroker) Broker.create(vertx, store, options);
  }

  void close() {
    broker.close();
    store.close().await();
    vertx.close().await();
  }

  void restart() {
    close();
    start();
  }

  static String unique(String prefix) {
    return prefix + "-" + NAMES.incrementAndGet();
  }

  String topic(int partitions, JsonObject retryPolicy) {
    return topic(partitions, TopicConfig.DEFAULT.withRetryPolicy(retryPolicy));
  }

  String topic(int partitions, TopicConfig config) {
    String name = unique("t");
    broker.createTopic(name, partitions, config).await();
    return name;
  }

  /** Produces "key=value" records in one request to partition 0 ("=value" for no key). */
  List<ProduceResult> produce(String topic, String... keyValues) {
    List<ProduceRecord> records = new ArrayList<>();
    for (String kv : keyValues) {
      String[] parts = kv.split("=", 2);
      records.add(new ProduceRecord(parts[0].isEmpty() ? null : parts[0].getBytes(StandardCharsets.UTF_8),
          parts[1].getBytes(StandardCharsets.UTF_8), "text/plain", List.of(), 0, null));
    }
    return broker.produce(topic, records).await();
  }

  Membership join(String group, String topic, long sessionTimeoutMs, long leaseMs) {
    return broker.join(group, new JoinRequest(List.of(topic), GroupMode.SHARED, sessionTimeoutMs, leaseMs, false)).await();
  }

  Membership join(String group, String topic) {
    return join(group, topic, 3_600_000, 30_000);
  }

  /** What is eligible now, without waiting. */
  List<Delivery> fetch(String group, Membership m, int max) {
    return broker.fetch(group, m.memberId(), max, 1 << 20, 0).await();
  }

  /**
   * What is eligible once the engine has no storage work in flight (no read, save or dead letter): an empty answer
   * means nothing is eligible, without waiting on real time.
   */
  List<Delivery> fetchWhenIdle(String group, Membership m, int max) {
    broker.idle().await();
    return fetch(group, m, max);
  }

  /** A long poll: answers as soon as something is eligible, or empty after {@code waitMs} of real time. */
  List<Delivery> poll(String group, Membership m, int max, long waitMs) {
    return broker.fetch(group, m.memberId(), max, 1 << 20, waitMs).await();
  }

  static String value(Delivery d) {
    return new String(d.record().value(), StandardCharsets.UTF_8);
  }

  OutcomeResult.Status ack(String group, Delivery d) {
    return ack(group, d.token());
  }

  OutcomeResult.Status ack(String group, String token) {
    return broker.settle(group, new Outcomes(List.of(token), List.of(), List.of(), List.of())).await().get(0).status();
  }

  OutcomeResult.Status nack(String group, Delivery d, Long delayMs) {
    return broker.settle(group, new Outcomes(List.of(), List.of(new Outcomes.Nack(d.token(), delayMs, "failed")),
        List.of(), List.of())).await().get(0).status();
  }

  /** Moves the injected clock and runs the group timers once. */
  void advance(long ms) {
    clock.advance(ms);
    broker.tick().await();
  }

  GroupDescription.PartitionLag lag(String group, int partition) {
    return broker.describeGroup(group).await().partitions().stream().filter(p -> p.partition() == partition)
        .findFirst().orElseThrow();
  }

  /** The offsets of a group's parked rows in a partition, in Postgres. */
  List<Long> parkedRows(String group, int partition) {
    return longs("SELECT record_offset FROM parked WHERE group_name = ? AND partition = ? ORDER BY record_offset",
        group, partition);
  }

  /** The group's stored committed offset in a partition, -1 if none. */
  long storedCommitted(String group, int partition) {
    List<Long> rows = longs("SELECT committed_offset FROM group_offsets WHERE group_name = ? AND partition = ?",
        group, partition);
    return rows.isEmpty() ? -1 : rows.get(0);
  }

  long storedSkipped(String group, int partition) {
    List<Long> rows = longs("SELECT skipped FROM group_offsets WHERE group_name = ? AND partition = ?", group, partition);
    return rows.isEmpty() ? -1 : rows.get(0);
  }

  private List<Long> longs(String sql, String group, int partition) {
    try (Connection c = pg.jdbc(); PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, group);
      ps.setInt(2, partition);
      List<Long> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(rs.getLong(1));
        }
      }
      return out;
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Saves what the engine's pacing holds back and waits until it has no storage work in flight, then checks that
   * {@code read} gives a value {@code done} accepts, and returns it.
   */
  <T> T await(java.util.function.Supplier<T> read, Predicate<T> done) {
    broker.saveAll().await();
    T value = read.get();
    assertThat(done.test(value)).as("condition reached, last value %s", value).isTrue();
    return value;
  }
}
