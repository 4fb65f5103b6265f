package dev.runnel.load.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13's cluster benchmarks, run on demand (not part of {@code mvn verify}; docs/benchmarks.md gives the command):
 * failover time after {@code kill -9} measured by the load tool's outages, and the throughput of 1, 2 and 3 nodes on
 * one Postgres with the forwarded share read from each node's {@code runnel_cluster_calls_total}. Each run also
 * checks the verifier, so a figure never comes from a run that lost records. Tables go to stdout and
 * {@code target/cluster-bench.md}.
 */
@Timeout(value = 30, unit = TimeUnit.MINUTES)
class ClusterBench {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final int PARTITIONS = 12;
  private static final long OUTAGE_THRESHOLD_MS = 200;
  private static final Path REPORT = Path.of("target/cluster-bench.md");

  /** Kept after the run (node logs, the load tool's output), unlike a temporary directory. */
  Path dir;
  private ClusterProcesses cluster;
  private LoadProcess load;

  @org.junit.jupiter.api.BeforeEach
  void workDir(org.junit.jupiter.api.TestInfo test) throws Exception {
    dir = Path.of("target/cluster-bench", test.getTestMethod().orElseThrow().getName()).toAbsolutePath();
    if (Files.exists(dir)) {
      try (var files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    Files.createDirectories(dir);
  }

  @AfterEach
  void stop() throws Exception {
    if (load != null) {
      load.kill();
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  /** One kill: when, which node, the partitions it led, and whether it owned the run's group. */
  private record Kill(long atMs, int node, List<Integer> led, boolean ownedGroup) {
  }

  @Test
  void failoverAfterKill9() throws Exception {
    int kills = Integer.getInteger("bench.kills", 10);
    String topic = "failover";
    cluster = new ClusterProcesses(PG, dir, 3).startAll();
    Set<String> earlierGroups = cluster.groupOwners().keySet();
    load = LoadProcess.start(dir, topic, "--target", cluster.httpTarget(), "--topic", topic,
        "--partitions", Integer.toString(PARTITIONS), "--rate", "600", "--producers", "3", "--consumers", "3",
        "--size", "256", "--warmup", "2s", "--duration", (kills * 50 + 30) + "s", "--drain-timeout", "60s",
        "--outage-threshold", OUTAGE_THRESHOLD_MS + "ms");
    awaitPlaced(topic, earlierGroups);
    List<Kill> done = new ArrayList<>();
    for (int i = 0; i < kills && load.alive(); i++) {
      Thread.sleep(5000);  // steady: every partition served, every earlier hand-back settled
      int victim = i % 3;
      String name = ClusterProcesses.name(victim);
      List<Integer> led = cluster.leaders(topic).entrySet().stream().filter(e -> name.equals(e.getValue()))
          .map(Map.Entry::getKey).toList();
      boolean owned = cluster.groupOwnersExcept(earlierGroups).containsValue(name);
      long at = System.currentTimeMillis();
      cluster.kill(victim);
      done.add(new Kill(at, victim, led, owned));
      System.out.printf("kill %d at %d: %s, leading %s%s%n", i + 1, at, name, led, owned ? ", owning the group" : "");
      awaitMoved(topic, name);
      cluster.start(victim);  // under its name again: it takes back its share by hand-over
    }
    // The run lasts its whole duration however fast the kills went, then drains (up to 60 s).
    int exit = load.await(kills * 50L + 30 + 60 + 120);
    JsonNode result = load.result();
    Files.writeString(Path.of("target/cluster-bench-failover.json"), result.toPrettyString());
    assertThat(exit).as("the load tool's exit; its output:\n%s", load.output()).isZero();
    assertThat(result.get("lost").asLong()).isZero();
    assertThat(result.get("reordered").asLong()).isZero();

    StringBuilder table = new StringBuilder("| kill | node | partitions it led | owned the group | produce again after "
        + "| consume again after |\n|---|---|---|---|---|---|\n");
    List<Long> produce = new ArrayList<>();
    List<Long> consume = new ArrayList<>();
    for (int i = 0; i < done.size(); i++) {
      Kill k = done.get(i);
      long p = recovery(result, "produce", k);
      long c = recovery(result, "consume", k);
      produce.add(p);
      consume.add(c);
      table.append(String.format("| %d | %s | %d | %s | %.2f s | %.2f s |%n", i + 1, ClusterProcesses.name(k.node),
          k.led.size(), k.ownedGroup ? "yes" : "no", p / 1000.0, c / 1000.0));
    }
    table.append(String.format("%nOver %d kills: produce p50 %.2f s, max %.2f s; consume p50 %.2f s, max %.2f s "
            + "(acked %d, lost %d, reordered %d).%n", done.size(), median(produce) / 1000.0,
        max(produce) / 1000.0, median(consume) / 1000.0, max(consume) / 1000.0, result.get("acked").asLong(),
        result.get("lost").asLong(), result.get("reordered").asLong()));
    report("Failover after kill -9", table.toString());
    assertThat(done).as("kills made before the load ended").hasSize(kills);
  }

  /**
   * From the kill to the first success on the slowest of the partitions the killed node led. A partition with no
   * outage then served again within the threshold.
   */
  private static long recovery(JsonNode result, String kind, Kill kill) {
    long worst = 0;
    for (int partition : kill.led) {
      // The first outage that ends after the kill and began no later than just after it (an answer in flight at the
      // kill may still arrive after it): its end is the first success after the kill.
      long back = OUTAGE_THRESHOLD_MS;
      long firstEnd = Long.MAX_VALUE;
      for (JsonNode o : result.get("outages")) {
        long from = o.get("fromMs").asLong();
        long to = o.get("toMs").asLong();
        if (o.get("kind").asText().equals(kind) && o.get("partition").asInt() == partition && to > kill.atMs
            && from <= kill.atMs + 1000 && to < firstEnd) {
          firstEnd = to;
          back = to - kill.atMs;
        }
      }
      worst = Math.max(worst, back);
    }
    return worst;
  }

  @Test
  void throughputOfOneTwoAndThreeNodes() throws Exception {
    StringBuilder table = new StringBuilder("| nodes | produce records/s | consume records/s | produce-ack p50 / p99 "
        + "| forwarded: leader calls | forwarded: owner calls |\n|---|---|---|---|---|---|\n");
    for (int n = 1; n <= 3; n++) {
      String topic = "throughput-" + n;
      cluster = new ClusterProcesses(PG, Files.createDirectories(dir.resolve("n" + n)), n).startAll();
      load = LoadProcess.start(dir, topic, "--target", cluster.httpTarget(), "--topic", topic, "--size", "1024",
          "--partitions", "8", "--producers", "4", "--consumers", "4", "--batch", "100", "--max-in-flight", "4",
          "--warmup", "10s", "--duration", Integer.getInteger("bench.seconds", 30) + "s", "--drain-timeout", "30s");
      int exit = load.await();
      JsonNode r = load.result();
      assertThat(exit).as("the load tool's exit; its output:\n%s", load.output()).isZero();
      long[][] calls = new long[2][2];
      for (int node = 0; node < n; node++) {
        String metrics = cluster.get(node, "/metrics").body();
        for (int unit = 0; unit < 2; unit++) {
          for (int route = 0; route < 2; route++) {
            calls[unit][route] += counter(metrics, unit == 0 ? "leader" : "owner", route == 0 ? "local" : "forwarded");
          }
        }
      }
      table.append(String.format("| %d | %,.0f | %,.0f | %.1f / %.1f ms | %s | %s |%n", n,
          r.at("/throughput/produce").asDouble(), r.at("/throughput/consume").asDouble(),
          r.at("/latency/produceAck/p50").asDouble(), r.at("/latency/produceAck/p99").asDouble(),
          share(calls[0]), share(calls[1])));
      load = null;
      cluster.close();
      cluster = null;
    }
    report("Throughput of 1, 2 and 3 nodes on one Postgres (W2: 1 KB, 8 partitions, 4 producers of 100-record "
        + "batches, 4 consumers)", table.toString());
  }

  /**
   * The cost of one forwarded hop: two nodes, a topic of one partition, the same fixed-rate workload sent through the
   * partition's leader (every produce served where it arrives) and through the other node (every produce forwarded),
   * alternately, twice each. The consumers go through the same node, so the end-to-end figures include the group
   * owner's placement as it falls.
   */
  @Test
  void forwardedHopCost() throws Exception {
    cluster = new ClusterProcesses(PG, dir, 2).startAll();
    String topic = "hop";
    int seconds = Integer.getInteger("bench.seconds", 30);
    StringBuilder table = new StringBuilder("| run | through | produce-ack p50 / p99 / p99.9 | end-to-end p50 / p99 "
        + "| acked |\n|---|---|---|---|---|\n");
    String leader = null;
    for (int run = 0; run < 5; run++) {
      // Run 0 makes the topic (and warms both JVMs); then through the leader and through the other node in turn.
      int through = leader == null ? 0 : (run % 2 == 1) == ClusterProcesses.name(0).equals(leader) ? 0 : 1;
      load = LoadProcess.start(dir, topic + run, "--target", cluster.httpUrl(through), "--topic", topic,
          "--partitions", "1", "--rate", "1000", "--producers", "2", "--consumers", "1", "--size", "1024",
          "--warmup", "5s", "--duration", seconds + "s", "--drain-timeout", "30s");
      int exit = load.await();
      JsonNode r = load.result();
      assertThat(exit).as("the load tool's exit; its output:\n%s", load.output()).isZero();
      if (leader == null) {
        leader = cluster.leaders(topic).get(0);
        load = null;
        continue;
      }
      table.append(String.format("| %d | %s (%s) | %.2f / %.2f / %.2f ms | %.2f / %.2f ms | %,d |%n", run,
          ClusterProcesses.name(through), ClusterProcesses.name(through).equals(leader) ? "the leader: local"
              : "forwarded to the leader",
          r.at("/latency/produceAck/p50").asDouble(), r.at("/latency/produceAck/p99").asDouble(),
          r.at("/latency/produceAck/p999").asDouble(), r.at("/latency/endToEnd/p50").asDouble(),
          r.at("/latency/endToEnd/p99").asDouble(), r.get("acked").asLong()));
      load = null;
    }
    report("The cost of a forwarded hop (2 nodes, 1 partition, 1,000 records/s of 1 KB, 2 producers, 1 consumer)",
        table.toString());
  }

  private static String share(long[] localAndForwarded) {
    long all = localAndForwarded[0] + localAndForwarded[1];
    return all == 0 ? "-" : String.format("%.0f%% of %,d", 100.0 * localAndForwarded[1] / all, all);
  }

  private static long counter(String metrics, String unit, String route) {
    Matcher m = Pattern.compile("(?m)^runnel_cluster_calls_total\\{[^}]*route=\"" + route + "\"[^}]*unit=\"" + unit
        + "\"[^}]*} ([0-9.E+]+)$").matcher(metrics);
    return m.find() ? (long) Double.parseDouble(m.group(1)) : 0;
  }

  private void awaitPlaced(String topic, Set<String> earlierGroups) throws Exception {
    await("the load's partitions and group to be placed", () -> {
      Map<Integer, String> leaders = cluster.leaders(topic);
      return leaders.size() == PARTITIONS && leaders.values().stream().allMatch(Objects::nonNull)
          && cluster.groupOwnersExcept(earlierGroups).values().stream().anyMatch(Objects::nonNull);
    });
  }

  private void awaitMoved(String topic, String from) throws Exception {
    await("the partitions of " + from + " to move", () -> cluster.leaders(topic).values().stream()
        .allMatch(l -> l != null && !l.equals(from)));
  }

  private interface Check {
    boolean holds() throws Exception;
  }

  private static void await(String what, Check check) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!check.holds()) {
      assertThat(System.nanoTime()).as("waited for %s", what).isLessThan(deadline);
      Thread.sleep(100);
    }
  }

  private static long median(List<Long> values) {
    List<Long> sorted = values.stream().sorted().toList();
    return sorted.get((sorted.size() - 1) / 2);
  }

  private static long max(List<Long> values) {
    return values.stream().mapToLong(Long::longValue).max().orElse(0);
  }

  private static void report(String title, String table) throws Exception {
    String section = "## " + title + "\n\n" + table + "\n";
    System.out.println(section);
    Files.writeString(REPORT, section, Files.exists(REPORT) ? java.nio.file.StandardOpenOption.APPEND
        : java.nio.file.StandardOpenOption.CREATE);
  }
}
