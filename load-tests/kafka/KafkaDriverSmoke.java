import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import dev.runnel.load.kafka.KafkaDriver;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * Checks KafkaDriver against a real Kafka (started by kafka.sh): not part of `mvn verify`, since CI has no Kafka.
 * Produces N keyed records in batches through the driver, consumes them with two members of one group, and checks
 * that every acknowledged record arrived once at its acknowledged partition and offset, each key in offset order;
 * then that a new member of the group starts after what the stopped members committed. Exit 1 on any mismatch.
 *
 * Run (see README.md): java -cp "load-tests/target/classes:load-tests/kafka/target/libs/*" \
 *   -Dlog4j2.configurationFile=load-tests/kafka/log4j2.properties -Drunnel.kafka.log.level=WARN \
 *   load-tests/kafka/KafkaDriverSmoke.java [bootstrap=127.0.0.1:9092] [records=20000] [batch=100]
 */
public class KafkaDriverSmoke {

  record Received(String key, String identity, int partition, long offset) {
  }

  static final int KEYS = 64;
  static final int IN_FLIGHT_BATCHES = 8;
  static final List<String> failures = new ArrayList<>();

  public static void main(String[] args) throws Exception {
    String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
    int records = args.length > 1 ? Integer.parseInt(args[1]) : 20_000;
    int batch = args.length > 2 ? Integer.parseInt(args[2]) : 100;
    String topic = "runnel-smoke-" + UUID.randomUUID().toString().substring(0, 8);
    String group = topic + "-group";

    try (KafkaDriver driver = new KafkaDriver(bootstrap)) {
      int partitions = driver.prepareTopic(topic, 8).toCompletableFuture().get(30, TimeUnit.SECONDS);
      check(partitions == 8, "prepareTopic created " + partitions + " partitions, not 8");
      int again = driver.prepareTopic(topic, 3).toCompletableFuture().get(30, TimeUnit.SECONDS);
      check(again == 8, "prepareTopic of the existing topic answered " + again + ", not its 8 partitions");

      try {
        driver.consumer(topic, group, GroupMode.SHARED, (k, v, p, o, n) -> { });
        check(false, "a SHARED consumer was created");
      } catch (UnsupportedOperationException e) {
        System.out.println("SHARED: UnsupportedOperationException \"" + e.getMessage() + "\"");
      }

      // Phase 1: two members, N records.
      ConcurrentLinkedQueue<Received> phase1 = new ConcurrentLinkedQueue<>();
      List<ConsumerClient> members = List.of(
          driver.consumer(topic, group, GroupMode.PARTITIONED, sinkInto(phase1)),
          driver.consumer(topic, group, GroupMode.PARTITIONED, sinkInto(phase1)));
      members.forEach(ConsumerClient::start);
      long started = System.nanoTime();
      Map<String, Ack> acked = produce(driver, topic, "p1", records, batch);
      double produceSeconds = (System.nanoTime() - started) / 1e9;
      awaitCount(phase1, records, 60);
      for (ConsumerClient member : members) {
        member.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
      }
      double totalSeconds = (System.nanoTime() - started) / 1e9;
      verify("phase 1", acked, List.copyOf(phase1));
      System.out.printf("phase 1: produced %d in %.1f s, consumed by 2 members in %.1f s in all%n",
          records, produceSeconds, totalSeconds);

      // Phase 2: a new member of the same group reads only what came after the stopped members' commits.
      ConcurrentLinkedQueue<Received> phase2 = new ConcurrentLinkedQueue<>();
      ConsumerClient next = driver.consumer(topic, group, GroupMode.PARTITIONED, sinkInto(phase2));
      next.start();
      int more = 1_000;
      Map<String, Ack> acked2 = produce(driver, topic, "p2", more, batch);
      awaitCount(phase2, more, 60);
      next.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
      long old = phase2.stream().filter(r -> acked.containsKey(r.identity())).count();
      check(old == 0, "the new member got " + old + " records the stopped members had committed");
      verify("phase 2", acked2, phase2.stream().filter(r -> !acked.containsKey(r.identity())).toList());
    }

    if (failures.isEmpty()) {
      System.out.println("OK");
    } else {
      failures.forEach(f -> System.out.println("FAIL: " + f));
      System.exit(1);
    }
  }

  static dev.runnel.load.driver.RecordSink sinkInto(ConcurrentLinkedQueue<Received> into) {
    return (key, value, partition, offset, nanos) -> {
      String text = new String(value, StandardCharsets.UTF_8);
      into.add(new Received(key, text.substring(0, text.lastIndexOf('/')), partition, offset)); // drop the padding
    };
  }

  /** Sends count records of KEYS keys in batches, IN_FLIGHT_BATCHES at a time; answers each identity's Ack. */
  static Map<String, Ack> produce(KafkaDriver driver, String topic, String producerId, int count, int batch)
      throws Exception {
    Map<String, Ack> acked = new ConcurrentHashMap<>();
    Deque<CompletableFuture<?>> inFlight = new ArrayDeque<>();
    try (ProducerClient producer = driver.producer(topic)) {
      for (int start = 0; start < count; start += batch) {
        List<OutgoingRecord> records = new ArrayList<>();
        List<String> identities = new ArrayList<>();
        for (int seq = start; seq < Math.min(count, start + batch); seq++) {
          String key = "key-" + (seq % KEYS);
          String identity = producerId + "/" + key + "/" + seq;
          byte[] value = (identity + "/" + "x".repeat(1000)).getBytes(StandardCharsets.UTF_8);
          records.add(new OutgoingRecord(key, value, Map.of("seq", Integer.toString(seq))));
          identities.add(identity);
        }
        inFlight.add(producer.send(records).toCompletableFuture().thenAccept(acks -> {
          check(acks.size() == identities.size(), "a send of " + identities.size() + " answered " + acks.size());
          for (int i = 0; i < acks.size(); i++) {
            acked.put(identities.get(i), acks.get(i));
          }
        }));
        if (inFlight.size() >= IN_FLIGHT_BATCHES) {
          inFlight.removeFirst().get(60, TimeUnit.SECONDS);
        }
      }
      for (CompletableFuture<?> f : inFlight) {
        f.get(60, TimeUnit.SECONDS);
      }
    }
    check(acked.size() == count, "acked " + acked.size() + " of " + count);
    return acked;
  }

  static void awaitCount(ConcurrentLinkedQueue<Received> received, int count, int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (received.size() < count && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
  }

  static void verify(String phase, Map<String, Ack> acked, List<Received> received) {
    Map<String, Integer> times = new HashMap<>();
    int misplaced = 0;
    int unacknowledged = 0;
    for (Received r : received) {
      times.merge(r.identity(), 1, Integer::sum);
      Ack ack = acked.get(r.identity());
      if (ack == null) {
        if (++unacknowledged <= 5) {
          check(false, phase + ": received " + r.identity() + ", which was never acknowledged");
        }
      } else if (ack.partition() != r.partition() || ack.offset() != r.offset()) {
        misplaced++;
        if (misplaced <= 5) {
          check(false, phase + ": " + r.identity() + " acknowledged at " + ack + " but received at partition "
              + r.partition() + " offset " + r.offset());
        }
      }
    }
    long lost = acked.keySet().stream().filter(id -> !times.containsKey(id)).count();
    long duplicates = times.values().stream().mapToInt(n -> n - 1).sum();
    check(lost == 0, phase + ": " + lost + " acknowledged records never arrived");
    check(misplaced == 0, phase + ": " + misplaced + " records arrived at another partition/offset than acknowledged");

    // Each key in acknowledged-offset order, as one consumer saw it (members own whole partitions, keys stay in one).
    Map<String, Long> lastOffset = new HashMap<>();
    int reordered = 0;
    for (Received r : received) {
      Long last = lastOffset.put(r.key(), r.offset());
      if (last != null && r.offset() < last && times.get(r.identity()) == 1) {
        reordered++;
      }
    }
    check(reordered == 0, phase + ": " + reordered + " records of a key arrived after a higher offset of that key");

    // One producer, idempotent: a key's acknowledged offsets follow its send order.
    int outOfSendOrder = 0;
    Map<String, List<long[]>> byKey = new HashMap<>();
    acked.forEach((id, ack) -> {
      String[] parts = id.split("/");
      byKey.computeIfAbsent(parts[1], k -> new ArrayList<>()).add(new long[] {Long.parseLong(parts[2]), ack.offset()});
    });
    for (List<long[]> acks : byKey.values()) {
      acks.sort((a, b) -> Long.compare(a[0], b[0]));
      for (int i = 1; i < acks.size(); i++) {
        if (acks.get(i)[1] <= acks.get(i - 1)[1]) {
          outOfSendOrder++;
        }
      }
    }
    check(outOfSendOrder == 0, phase + ": " + outOfSendOrder + " acks of a key out of send order");

    // Per partition: the offsets acknowledged, all distinct.
    Map<Integer, long[]> ranges = new TreeMap<>();
    Map<Integer, Integer> perPartition = new TreeMap<>();
    for (Ack ack : acked.values()) {
      ranges.merge(ack.partition(), new long[] {ack.offset(), ack.offset()},
          (a, b) -> new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
      perPartition.merge(ack.partition(), 1, Integer::sum);
    }
    long distinctPositions = acked.values().stream().distinct().count();
    check(distinctPositions == acked.size(), phase + ": two records were acknowledged at the same position");
    StringBuilder layout = new StringBuilder();
    ranges.forEach((p, r) -> layout.append(String.format(" p%d:%d..%d(%d)", p, r[0], r[1], perPartition.get(p))));
    System.out.printf("%s: acked %d, received %d (distinct %d, duplicates %d, lost %d, misplaced %d, reordered %d);"
        + " acked positions%s%n", phase, acked.size(), received.size(), times.size(), duplicates, lost, misplaced,
        reordered, layout);
  }

  static synchronized void check(boolean ok, String failure) {
    if (!ok) {
      failures.add(failure);
    }
  }
}
