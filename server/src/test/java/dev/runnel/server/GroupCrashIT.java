package dev.runnel.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A producer and a consumer group over HTTP; the node is killed with SIGKILL while records are being produced and
 * consumed, and started again on the same data dir (on a new port, so every answer tells which run gave it). The
 * consumers write down what they saw (deliveries, and the outcomes they sent with their answers); at the end the whole
 * log is read and the story is checked against it:
 * <ul>
 *   <li>every acknowledged produce is in the log at its answered offset, and every record the producer meant to send
 *   was acknowledged;</li>
 *   <li>every record in the log ends acked (non-poison) or dead-lettered exactly once (poison), including those whose
 *   outcome was in flight at the kill, and the group's position reaches the end of every partition;</li>
 *   <li>per key, within one run of the node, a record is delivered only when every earlier record of its key is
 *   finished (in this run, or in the earlier run and not delivered again since), deliveries never go back to an
 *   earlier offset, and a record finished in this run is never delivered again;</li>
 *   <li>attempts by value: a record's attempt is one more than the failures the broker can have counted; only poison
 *   is nacked, so everything else is always attempt 1; a restart may lose at most the latest nack's save.</li>
 * </ul>
 */
class GroupCrashIT {

  private static final int PARTITIONS = 3;
  private static final int MAX_RETRIES = 2;
  private static final int RECORDS = 1_500;
  private static final int KEYS = 11;
  private static final int BATCH = 5;
  /**
   * Retries wait this long, so two nacks of one record lie far more apart than a group-state save takes: a kill can
   * lose only the latest nack's save, which the attempts model allows for.
   */
  private static final int RETRY_DELAY_MS = 200;
  private static final String TOPIC = "work";
  private static final String GROUP = "workers";

  @TempDir
  Path tmp;

  /** What a consumer saw or did, in the order the consumers saw it. */
  private enum Kind { DELIVERED, ACK, NACK }

  /**
   * @param run     the run of the node that answered (DELIVERED) or was addressed (outcomes)
   * @param fromRun for outcomes: the run that handed out the delivery
   */
  private static final class Event {
    final long seq;
    final int run;
    final int fromRun;
    final Kind kind;
    final String id;
    final int attempt;
    /** An outcome's answer: {@code OK}, {@code LEASE_EXPIRED}, ...; null while (or if never) answered. */
    volatile String status;

    Event(long seq, int run, int fromRun, Kind kind, String id, int attempt) {
      this.seq = seq;
      this.run = run;
      this.fromRun = fromRun;
      this.kind = kind;
      this.id = id;
      this.attempt = attempt;
    }

    /** The outcome finishes the record if it takes effect: an ack, or the nack of the last attempt. */
    boolean finishing() {
      return kind == Kind.ACK || kind == Kind.NACK && attempt == MAX_RETRIES + 1;
    }

    /** The outcome may have taken effect: answered OK, or never answered (the node died, or the answer was lost). */
    boolean mayHaveTakenEffect() {
      return status == null || "OK".equals(status);
    }

    @Override
    public String toString() {
      return "#" + seq + " run " + run + " " + kind + " " + id + " attempt " + attempt + (kind == Kind.DELIVERED ? ""
          : " (delivered by run " + fromRun + ") -> " + status);
    }
  }

  private record Stored(int partition, long offset, String key, String value) {
    String id() {
      return partition + "/" + offset;
    }

    boolean poison() {
      return GroupCrashIT.poison(value);
    }
  }

  /** About one record in twenty is poison: every delivery of it is nacked, so it ends in the dead-letter topic. */
  private static boolean poison(String value) {
    return Math.floorMod(value.hashCode(), 20) == 0;
  }

  private final List<Event> events = new ArrayList<>();
  private final Map<Integer, Integer> runOfPort = new ConcurrentHashMap<>();
  private final AtomicBoolean producerDone = new AtomicBoolean();
  private final AtomicBoolean stop = new AtomicBoolean();
  /** Armed before the kill: counted down when a poison record's next-to-last attempt is nacked OK. */
  private final AtomicReference<CountDownLatch> nackedTwice = new AtomicReference<>();

  private Event event(int run, int fromRun, Kind kind, String id, int attempt) {
    synchronized (events) {
      Event e = new Event(events.size(), run, fromRun, kind, id, attempt);
      events.add(e);
      return e;
    }
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)  // two node starts (NodeProcess allows 120 s each) around the stream
  void sigkillMidStreamKeepsEveryGroupInvariant() throws Exception {
    try (NodeProcess node = new NodeProcess(tmp.resolve("data"))) {
      node.start();
      runOfPort.put(node.port(), 0);
      assertThat(node.send("PUT", "/topics/" + TOPIC, "{\"partitions\":" + PARTITIONS + ",\"config\":{\"retryPolicy\":"
          + "{\"maxRetries\":" + MAX_RETRIES + ",\"initialDelayMs\":" + RETRY_DELAY_MS + ",\"backoffMultiplier\":1,"
          + "\"maxDelayMs\":" + RETRY_DELAY_MS + ",\"jitter\":0}}}").statusCode()).isEqualTo(201);

      Map<String, String> acknowledged = new ConcurrentHashMap<>();  // "p/offset" -> value, answered 200
      Set<Integer> acknowledgedNumbers = ConcurrentHashMap.newKeySet();
      CountDownLatch producedBeforeKill = new CountDownLatch(RECORDS / 3);
      CountDownLatch ackedBeforeKill = new CountDownLatch(RECORDS / 5);
      CountDownLatch killed = new CountDownLatch(1);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(200);
      List<Thread> threads = new ArrayList<>();
      try {
        threads.add(started(() -> produce(node, acknowledged, acknowledgedNumbers, producedBeforeKill, killed, deadline)));
        for (int c = 0; c < 2; c++) {
          threads.add(started(() -> consume(node, ackedBeforeKill, deadline)));
        }

        // Kill while records are being produced (the producer waits at two thirds for the kill) and consumed.
        assertThat(producedBeforeKill.await(60, TimeUnit.SECONDS)).as("a third produced before the kill").isTrue();
        assertThat(ackedBeforeKill.await(60, TimeUnit.SECONDS)).as("a fifth acked before the kill").isTrue();
        // ... and just after a poison record's failures were counted up to the last retry: it waits RETRY_DELAY_MS
        // for that retry, so the kill finds it parked with attempts that must survive the restart.
        CountDownLatch nacked = new CountDownLatch(1);
        nackedTwice.set(nacked);
        assertThat(nacked.await(60, TimeUnit.SECONDS)).as("a poison record nacked %d times", MAX_RETRIES).isTrue();
        long pid = node.pid();
        int acknowledgedAtKill = acknowledgedNumbers.size();
        int exit = node.kill();
        killed.countDown();
        assertThat(exit).as("exit status of the node after SIGKILL (128 + 9)").isEqualTo(137);
        assertThat(ProcessHandle.of(pid).filter(ProcessHandle::isAlive)).as("node process %d", pid).isEmpty();
        assertThat(acknowledgedAtKill).as("records acknowledged to the producer at the kill").isLessThan(RECORDS);

        node.start();
        runOfPort.put(node.port(), 1);
        // Only a kill leaves the embedded Postgres running (a SIGTERM stops it): the restart finds and stops it.
        assertThat(node.log()).contains("is still running");
        for (Thread t : threads) {
          t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
          assertThat(t.isAlive()).as("%s finished before the deadline", t.getName()).isFalse();
        }
      } finally {
        stop.set(true);
        for (Thread t : threads) {
          t.join(TimeUnit.SECONDS.toMillis(35));  // a request in flight ends within its 30 s timeout
        }
      }

      // The producer: every record it meant to send was acknowledged, each once.
      assertThat(acknowledgedNumbers).as("records acknowledged to the producer").hasSize(RECORDS);
      assertThat(acknowledged).hasSize(RECORDS);

      // The log after the restart holds every acknowledged record at its answered offset.
      Map<String, Stored> log = new HashMap<>();
      for (int p = 0; p < PARTITIONS; p++) {
        List<JsonNode> records = node.readAll(TOPIC, p);
        for (int i = 0; i < records.size(); i++) {
          JsonNode r = records.get(i);
          assertThat(r.get("offset").asLong()).as("gapless offsets in partition %d", p).isEqualTo(i);
          Stored s = new Stored(p, i, r.get("key").asText(), utf8(r.get("value")));
          log.put(s.id(), s);
        }
      }
      Map<String, String> missing = new TreeMap<>();
      acknowledged.forEach((id, value) -> {
        if (log.get(id) == null || !log.get(id).value.equals(value)) {
          missing.put(id, value + " (log has " + (log.get(id) == null ? "nothing" : log.get(id).value) + ")");
        }
      });
      assertThat(missing.size()).as("acknowledged records not at their offset after the restart, e.g. %s",
          first(missing.entrySet())).isZero();

      List<Event> story;
      synchronized (events) {
        story = new ArrayList<>(events);
      }
      // Within a run the consumers' order is real time; every answer of run 0 came before run 1 began.
      story.sort(Comparator.<Event>comparingInt(e -> e.run).thenComparingLong(e -> e.seq));
      List<String> violations = violations(story, log);
      assertThat(violations.size()).as("invariant violations, e.g. %s", first(violations)).isZero();

      // Every non-poison record was acked: answered OK, or sent when the node died and then, as the group's final
      // position shows, taken effect.
      List<String> neverAcked = log.values().stream().filter(s -> !s.poison())
          .filter(s -> story.stream().noneMatch(e -> e.kind == Kind.ACK && e.id.equals(s.id()) && e.run == e.fromRun
              && e.mayHaveTakenEffect()))
          .map(Stored::id).sorted().toList();
      assertThat(neverAcked.size()).as("records never acked, e.g. %s", first(neverAcked)).isZero();

      // The group finished every partition: its position is at the end and nothing is parked.
      JsonNode group = NodeProcess.JSON.readTree(node.get("/groups/" + GROUP).body());
      for (JsonNode p : group.get("partitions")) {
        assertThat(p.get("committedOffset").asLong()).as("committed offset of %s", p).isEqualTo(p.get("highWatermark").asLong());
        assertThat(p.get("lag").get("records").asLong()).as("lag of %s", p).isZero();
      }

      // Dead letters: each poison record exactly once, after its last attempt; nothing else.
      Map<String, Integer> letters = new HashMap<>();
      for (int p = 0; p < PARTITIONS; p++) {
        for (JsonNode r : node.readAll(TOPIC + "." + GROUP + ".dlq", p)) {
          JsonNode headers = r.get("headers");
          String origin = headers.get("runnel.dlq.partition").asText() + "/" + headers.get("runnel.dlq.offset").asText();
          letters.merge(origin, 1, Integer::sum);
          Stored original = log.get(origin);
          assertThat(original).as("origin of dead letter %s", r).isNotNull();
          assertThat(original.poison()).as("dead letter %s is poison", r).isTrue();
          assertThat(utf8(r.get("value"))).isEqualTo(original.value);
          assertThat(headers.get("runnel.dlq.attempts").asInt()).as("attempts of %s", r).isEqualTo(MAX_RETRIES + 1);
          assertThat(headers.get("runnel.dlq.reason").asText()).isEqualTo("max-retries");
          assertThat(headers.get("runnel.dlq.last-error").asText()).isEqualTo("poison " + original.value);
        }
      }
      assertThat(letters.values()).as("dead-lettered twice").allMatch(n -> n == 1);
      List<String> poisonous = log.values().stream().filter(Stored::poison).map(Stored::id).sorted().toList();
      assertThat(poisonous).isNotEmpty();
      assertThat(letters.keySet()).as("dead-lettered records").containsExactlyInAnyOrderElementsOf(poisonous);

      // The kill caught work in flight: records handed out by run 0 and not finished there were finished by run 1.
      Set<String> finishedInRun0 = new HashSet<>();
      Set<String> deliveredInRun0 = new HashSet<>();
      Set<String> deliveredInRun1 = new HashSet<>();
      for (Event e : story) {
        if (e.kind == Kind.DELIVERED) {
          (e.run == 0 ? deliveredInRun0 : deliveredInRun1).add(e.id);
        } else if (e.run == 0 && e.finishing() && "OK".equals(e.status)) {
          finishedInRun0.add(e.id);
        }
      }
      List<String> inFlightAtKill = deliveredInRun0.stream().filter(id -> !finishedInRun0.contains(id)).toList();
      assertThat(inFlightAtKill).as("records in flight at the kill").isNotEmpty();
      assertThat(deliveredInRun1).as("in-flight records delivered again after the restart").containsAnyElementsOf(inFlightAtKill);
      // Attempts survived the restart: a record failed in run 0 came back in run 1 with them counted.
      assertThat(story.stream().filter(e -> e.kind == Kind.DELIVERED && e.run == 1 && e.attempt > 1)
          .map(e -> e.id).filter(deliveredInRun0::contains).toList()).as("retries carried over the restart").isNotEmpty();
      long unknown = story.stream().filter(e -> e.kind != Kind.DELIVERED && e.status == null).count();
      System.out.printf("GroupCrashIT: %d records in the log, %d in flight at the kill, %d outcomes never answered, "
          + "%d events%n", log.size(), inFlightAtKill.size(), unknown, story.size());
      assertThat(node.terminate()).isIn(0, 143);
    }
  }

  /** Checks the consumers' story against the log; returns what it breaks. */
  private static List<String> violations(List<Event> story, Map<String, Stored> log) {
    List<String> violations = new ArrayList<>();
    // Per partition and key, the log's offsets in order.
    Map<String, List<Long>> keyOffsets = new HashMap<>();
    log.values().stream().sorted(Comparator.comparingLong(Stored::offset))
        .forEach(s -> keyOffsets.computeIfAbsent(s.partition + "/" + s.key, k -> new ArrayList<>()).add(s.offset));
    // Per record: the failures the broker can have counted, in [floor, ceil].
    Map<String, int[]> failures = new HashMap<>();
    Set<String> finishedBefore = new HashSet<>();  // finished in an earlier run (outcome OK or unanswered)
    Set<String> finished = new HashSet<>();        // finished in this run (outcome sent, not refused)
    Set<String> delivered = new HashSet<>();       // delivered in this run
    Map<String, Long> lastDelivered = new HashMap<>();  // per partition and key, in this run
    int run = 0;
    for (Event e : story) {
      if (e.run != run) {
        // The restart: in-memory state is gone; a lost save can take back the latest nack, no more.
        run = e.run;
        finishedBefore.addAll(finished);
        finished.clear();
        delivered.clear();
        lastDelivered.clear();
        failures.values().forEach(f -> f[0] = Math.max(0, f[1] - 1));
      }
      Stored s = log.get(e.id);
      if (s == null) {
        violations.add(e + ": not in the log");
        continue;
      }
      int[] f = failures.computeIfAbsent(e.id, id -> new int[2]);
      switch (e.kind) {
        case DELIVERED -> {
          if (finished.contains(e.id)) {
            violations.add(e + ": delivered again after it was finished in this run");
          }
          if (e.attempt < 1 || e.attempt > MAX_RETRIES + 1 || e.attempt - 1 < f[0] || e.attempt - 1 > f[1]) {
            violations.add(e + ": attempt " + e.attempt + ", but the broker can have counted only " + f[0] + ".." + f[1]
                + " failures (poison: " + s.poison() + ")");
          }
          f[0] = f[1] = e.attempt - 1;
          String key = s.partition + "/" + s.key;
          Long last = lastDelivered.get(key);
          if (last != null && last > s.offset) {
            violations.add(e + ": key " + key + " went back from offset " + last);
          }
          lastDelivered.put(key, s.offset);
          for (long earlier : keyOffsets.get(key)) {
            if (earlier >= s.offset) {
              break;
            }
            String id = s.partition + "/" + earlier;
            boolean done = finished.contains(id) || !delivered.contains(id) && finishedBefore.contains(id);
            if (!done) {
              violations.add(e + ": key " + key + " delivered before offset " + earlier + " was finished");
            }
          }
          delivered.add(e.id);
        }
        case ACK, NACK -> {
          boolean sameRun = e.run == e.fromRun;
          if (!sameRun && "OK".equals(e.status)) {
            violations.add(e + ": a token of an earlier run was accepted");
          }
          if (sameRun && e.status != null && !"OK".equals(e.status)) {
            violations.add(e + ": the current lease was refused (leases outlast the test)");
          }
          if (!sameRun || !e.mayHaveTakenEffect()) {
            continue;
          }
          if (e.kind == Kind.NACK) {
            f[1] = e.attempt;
            f[0] = e.status == null ? e.attempt - 1 : e.attempt;
          }
          if (e.finishing()) {
            finished.add(e.id);
          }
        }
        default -> throw new IllegalStateException();
      }
    }
    return violations;
  }

  /**
   * Produces records 0..RECORDS-1 in batches, in order; a batch not answered 200 is sent again (new values, so a copy
   * stored without an answer is a record of its own). Waits at two thirds until the node was killed.
   */
  private void produce(NodeProcess node, Map<String, String> acknowledged, Set<Integer> numbers,
                       CountDownLatch producedBeforeKill, CountDownLatch killed, long deadline) {
    int next = 0;
    int tries = 0;
    while (next < RECORDS && !stop.get() && System.nanoTime() < deadline) {
      if (next >= RECORDS * 2 / 3) {
        await(killed);
      }
      StringBuilder body = new StringBuilder("{\"records\":[");
      List<String> values = new ArrayList<>();
      for (int i = 0; i < BATCH; i++) {
        int n = next + i;
        String value = "r" + n + "." + tries;
        values.add(value);
        body.append(i == 0 ? "" : ",").append("{\"key\":\"k").append(n % KEYS).append("\",\"value\":\"").append(value)
            .append("\",\"valueEncoding\":\"utf8\"}");
      }
      body.append("]}");
      try {
        HttpResponse<String> r = node.send("POST", "/topics/" + TOPIC + "/records", body.toString());
        if (r.statusCode() == 200) {
          JsonNode results = NodeProcess.JSON.readTree(r.body()).get("results");
          for (int i = 0; i < BATCH; i++) {
            acknowledged.put(results.get(i).get("partition").asInt() + "/" + results.get(i).get("offset").asLong(),
                values.get(i));
            numbers.add(next + i);
            producedBeforeKill.countDown();
          }
          next += BATCH;
          tries = 0;
          continue;
        }
      } catch (Exception nodeDown) {
        // not acknowledged: sent again below
      }
      tries++;
      pause(100);
    }
    producerDone.set(true);
  }

  /** One member: fetch, nack poison, ack the rest, write down all of it; rejoins after the restart. */
  private void consume(NodeProcess node, CountDownLatch ackedBeforeKill, long deadline) {
    String member = null;
    int memberRun = -1;
    while (!stop.get() && System.nanoTime() < deadline) {
      int port = node.port();
      Integer run = runOfPort.get(port);
      if (run == null) {
        pause(50);  // restarting: the new port is not known yet
        continue;
      }
      try {
        if (member == null || memberRun != run) {
          HttpResponse<String> joined = NodeProcess.send(port, "POST", "/groups/" + GROUP + "/members",
              "{\"topics\":[\"" + TOPIC + "\"],\"mode\":\"shared\",\"sessionTimeoutMs\":60000,\"leaseMs\":600000}");
          if (joined.statusCode() != 201) {
            pause(100);
            continue;
          }
          member = NodeProcess.JSON.readTree(joined.body()).get("memberId").asText();
          memberRun = run;
        }
        HttpResponse<String> fetched = NodeProcess.send(port, "POST", "/groups/" + GROUP + "/members/" + member + "/fetch",
            "{\"maxRecords\":50,\"maxWaitMs\":200}");
        if (fetched.statusCode() != 200) {
          member = null;
          pause(100);
          continue;
        }
        JsonNode deliveries = NodeProcess.JSON.readTree(fetched.body()).get("deliveries");
        if (deliveries.isEmpty()) {
          if (producerDone.get() && groupHasNothingLeft(port)) {
            return;
          }
          continue;
        }
        ObjectNode outcomes = NodeProcess.JSON.createObjectNode();
        ArrayNode ack = outcomes.putArray("ack");
        ArrayNode nack = outcomes.putArray("nack");
        List<String[]> handed = new ArrayList<>();  // id, token, attempt, value
        for (JsonNode d : deliveries) {
          String id = d.get("partition").asInt() + "/" + d.get("offset").asLong();
          event(run, run, Kind.DELIVERED, id, d.get("attempt").asInt());
          handed.add(new String[] {id, d.get("token").asText(), d.get("attempt").asText(), utf8(d.get("value"))});
        }
        // Outcomes go to whichever run of the node is up now: after a restart, tokens of the old run must be refused.
        int outcomePort = node.port();
        Integer outcomeRun = runOfPort.get(outcomePort);
        if (outcomeRun == null) {
          continue;  // never sent: run 0's leases died with it
        }
        Map<String, Event> byToken = new HashMap<>();
        for (String[] h : handed) {
          boolean poison = poison(h[3]);
          if (poison) {
            nack.addObject().put("token", h[1]).put("error", "poison " + h[3]);
          } else {
            ack.add(h[1]);
          }
          byToken.put(h[1], event(outcomeRun, run, poison ? Kind.NACK : Kind.ACK, h[0], Integer.parseInt(h[2])));
        }
        HttpResponse<String> settled = NodeProcess.send(outcomePort, "POST", "/groups/" + GROUP + "/acks", outcomes.toString());
        if (settled.statusCode() != 200) {
          continue;  // left unanswered: may or may not have taken effect
        }
        for (JsonNode r : NodeProcess.JSON.readTree(settled.body()).get("results")) {
          Event e = byToken.get(r.get("token").asText());
          e.status = r.get("status").asText();
          if (e.kind == Kind.ACK && "OK".equals(e.status) && e.run == 0) {
            ackedBeforeKill.countDown();
          }
          CountDownLatch armed = nackedTwice.get();
          if (e.kind == Kind.NACK && "OK".equals(e.status) && e.attempt == MAX_RETRIES && armed != null) {
            armed.countDown();
          }
        }
      } catch (Exception nodeDown) {
        pause(100);  // outcomes in flight stay unanswered: unknown whether they took effect
      }
    }
  }

  /** The group has no unprocessed record left in any partition. */
  private static boolean groupHasNothingLeft(int port) throws Exception {
    HttpResponse<String> r = NodeProcess.get(port, "/groups/" + GROUP);
    if (r.statusCode() != 200) {
      return false;
    }
    for (JsonNode p : NodeProcess.JSON.readTree(r.body()).get("partitions")) {
      if (p.get("lag").get("records").asLong() != 0) {
        return false;
      }
    }
    return true;
  }

  /** The first few, for a failure message that stays readable. */
  static String first(java.util.Collection<?> items) {
    return items.stream().limit(10).map(String::valueOf).toList() + (items.size() > 10 ? " and " + (items.size() - 10)
        + " more" : "");
  }

  private static String utf8(JsonNode base64) {
    return new String(Base64.getDecoder().decode(base64.asText()), StandardCharsets.UTF_8);
  }

  private void await(CountDownLatch latch) {
    try {
      while (!stop.get() && !latch.await(100, TimeUnit.MILLISECONDS)) {
        // the test gave up
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void pause(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static Thread started(Runnable body) {
    Thread t = new Thread(body);
    t.setDaemon(true);
    t.start();
    return t;
  }
}
