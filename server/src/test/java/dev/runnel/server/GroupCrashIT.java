package dev.runnel.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Producers and a consumer group over HTTP; the node is killed with SIGKILL mid-stream and started again. Checked:
 * no acknowledged record is lost; a key's records are delivered only after every earlier record of the key was
 * finished; every record ends acked or dead-lettered, a poison record exactly once in the dead-letter topic; no
 * delivery exceeds the retry policy's attempts.
 */
class GroupCrashIT {

  private static final int PARTITIONS = 3;
  private static final int MAX_RETRIES = 2;
  private static final int RECORDS = 1_500;
  private static final String TOPIC = "work";
  private static final String GROUP = "workers";

  @TempDir
  Path tmp;

  private record Produced(int partition, long offset, String key, String value) {
  }

  /** About one record in twenty is poison: every delivery of it is nacked, so it ends in the dead-letter topic. */
  private static boolean poison(String value) {
    return Math.floorMod(value.hashCode(), 20) == 0;
  }

  @Test
  void sigkillMidStreamKeepsEveryGroupInvariant() throws Exception {
    try (NodeProcess node = new NodeProcess(tmp.resolve("data"))) {
      node.start();
      assertThat(node.send("PUT", "/topics/" + TOPIC, "{\"partitions\":" + PARTITIONS + ",\"config\":{\"retryPolicy\":"
          + "{\"maxRetries\":" + MAX_RETRIES + ",\"initialDelayMs\":50,\"backoffMultiplier\":1,\"maxDelayMs\":50,"
          + "\"jitter\":0}}}").statusCode()).isEqualTo(201);

      Map<String, Produced> produced = new ConcurrentHashMap<>();  // "p/offset"
      Map<String, Boolean> finished = new ConcurrentHashMap<>();
      Map<String, Boolean> deadLettered = new ConcurrentHashMap<>();
      // Outcomes sent when the node died: they may or may not have taken effect.
      Map<String, Boolean> uncertain = new ConcurrentHashMap<>();
      List<String> violations = new ArrayList<>();
      AtomicBoolean killed = new AtomicBoolean();
      AtomicInteger acks = new AtomicInteger();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);

      Thread producer = started(() -> {
        int sent = 0;
        while (sent < RECORDS && System.nanoTime() < deadline) {
          StringBuilder body = new StringBuilder("{\"records\":[");
          List<String[]> batch = new ArrayList<>();
          for (int i = 0; i < 5; i++) {
            String key = "k" + ((sent + i) % 11);
            String value = "v" + (sent + i);
            batch.add(new String[] {key, value});
            body.append(i == 0 ? "" : ",").append("{\"key\":\"").append(key).append("\",\"value\":\"").append(value)
                .append("\",\"valueEncoding\":\"utf8\"}");
          }
          body.append("]}");
          try {
            HttpResponse<String> r = node.send("POST", "/topics/" + TOPIC + "/records", body.toString());
            if (r.statusCode() == 200) {
              JsonNode results = NodeProcess.JSON.readTree(r.body()).get("results");
              for (int i = 0; i < batch.size(); i++) {
                int p = results.get(i).get("partition").asInt();
                long o = results.get(i).get("offset").asLong();
                produced.put(p + "/" + o, new Produced(p, o, batch.get(i)[0], batch.get(i)[1]));
              }
              sent += batch.size();
            }
          } catch (Exception nodeDown) {
            pause(100);  // not acknowledged: sent again after the restart (a duplicate is a new record)
          }
        }
      });

      List<Thread> consumers = new ArrayList<>();
      for (int c = 0; c < 2; c++) {
        consumers.add(started(() -> consume(node, produced, finished, uncertain, deadLettered, violations, acks, deadline)));
      }

      while (acks.get() < RECORDS / 3 && System.nanoTime() < deadline) {
        pause(20);
      }
      node.kill();
      killed.set(true);
      pause(300);
      node.start();
      producer.join(TimeUnit.SECONDS.toMillis(150));
      for (Thread c : consumers) {
        c.join(TimeUnit.SECONDS.toMillis(150));
      }

      assertThat(killed).isTrue();
      assertThat(violations).as("invariant violations seen at delivery").isEmpty();
      assertThat(produced.keySet().stream().filter(k -> !finished.containsKey(k) && !uncertain.containsKey(k)).toList())
          .as("acknowledged records never finished").isEmpty();

      // The log holds every acknowledged record at its offset.
      for (int p = 0; p < PARTITIONS; p++) {
        for (JsonNode r : node.readAll(TOPIC, p)) {
          Produced expected = produced.get(p + "/" + r.get("offset").asLong());
          if (expected != null) {
            assertThat(new String(Base64.getDecoder().decode(r.get("value").asText()), StandardCharsets.UTF_8))
                .isEqualTo(expected.value);
          }
        }
      }
      // Dead letters: each poison record exactly once; nothing else.
      Map<String, Integer> letters = new HashMap<>();
      for (int p = 0; p < PARTITIONS; p++) {
        for (JsonNode r : node.readAll(TOPIC + "." + GROUP + ".dlq", p)) {
          JsonNode headers = r.get("headers");
          letters.merge(headers.get("runnel.dlq.partition").asText() + "/" + headers.get("runnel.dlq.offset").asText(),
              1, Integer::sum);
          // A record stored but never acknowledged to its producer (the kill came first) can be dead-lettered too;
          // every dead letter must be poison.
          assertThat(poison(new String(Base64.getDecoder().decode(r.get("value").asText()), StandardCharsets.UTF_8)))
              .as("dead letter %s is poison", r).isTrue();
          assertThat(headers.get("runnel.dlq.attempts").asInt()).isEqualTo(MAX_RETRIES + 1);
          assertThat(headers.get("runnel.dlq.reason").asText()).isEqualTo("max-retries");
        }
      }
      assertThat(letters.values()).as("dead-lettered twice").allMatch(n -> n == 1);
      List<String> poisonous = produced.entrySet().stream().filter(e -> poison(e.getValue().value)).map(Map.Entry::getKey)
          .toList();
      assertThat(poisonous).isNotEmpty();
      assertThat(letters.keySet()).containsAll(poisonous);
      assertThat(node.terminate()).isIn(0, 143);
    }
  }

  /** One member: fetch, check the invariants, nack poison, ack the rest; rejoins after the restart. */
  private static void consume(NodeProcess node, Map<String, Produced> produced, Map<String, Boolean> finished,
                              Map<String, Boolean> uncertain, Map<String, Boolean> deadLettered, List<String> violations,
                              AtomicInteger acks, long deadline) {
    String member = null;
    while (System.nanoTime() < deadline) {
      try {
        if (member == null) {
          HttpResponse<String> joined = node.send("POST", "/groups/" + GROUP + "/members",
              "{\"topics\":[\"" + TOPIC + "\"],\"mode\":\"shared\",\"sessionTimeoutMs\":60000}");
          if (joined.statusCode() != 201) {
            pause(100);
            continue;
          }
          member = NodeProcess.JSON.readTree(joined.body()).get("memberId").asText();
        }
        HttpResponse<String> fetched = node.send("POST", "/groups/" + GROUP + "/members/" + member + "/fetch",
            "{\"maxRecords\":50,\"maxWaitMs\":200}");
        if (fetched.statusCode() == 404) {
          member = null;  // the node restarted and forgot us
          continue;
        }
        JsonNode deliveries = NodeProcess.JSON.readTree(fetched.body()).get("deliveries");
        if (deliveries.isEmpty()) {
          if (produced.size() >= RECORDS
              && produced.keySet().stream().allMatch(k -> finished.containsKey(k) || uncertain.containsKey(k))
              && groupHasNothingLeft(node)) {
            return;
          }
          continue;
        }
        ObjectNode outcomes = NodeProcess.JSON.createObjectNode();
        ArrayNode ack = outcomes.putArray("ack");
        ArrayNode nack = outcomes.putArray("nack");
        List<JsonNode> lastAttempts = new ArrayList<>();
        for (JsonNode d : deliveries) {
          String id = d.get("partition").asInt() + "/" + d.get("offset").asLong();
          String value = new String(Base64.getDecoder().decode(d.get("value").asText()), StandardCharsets.UTF_8);
          String key = d.get("key").asText();
          int attempt = d.get("attempt").asInt();
          synchronized (violations) {
            if (attempt > MAX_RETRIES + 1) {
              violations.add(id + " delivered at attempt " + attempt);
            }
            for (Produced earlier : produced.values()) {
              if (earlier.partition == d.get("partition").asInt() && earlier.key.equals(key)
                  && earlier.offset < d.get("offset").asLong() && !finished.containsKey(earlier.partition + "/" + earlier.offset)
                  && !uncertain.containsKey(earlier.partition + "/" + earlier.offset)) {
                violations.add(id + " (key " + key + ") delivered before " + earlier.offset + " was finished");
              }
            }
          }
          if (poison(value)) {  // always: a poison record must end as a dead letter, whatever happened before
            nack.addObject().put("token", d.get("token").asText()).put("error", "poison " + value);
            if (attempt == MAX_RETRIES + 1) {
              lastAttempts.add(d);
            }
          } else {
            ack.add(d.get("token").asText());
          }
        }
        // An outcome may take effect any time after it is sent, before its answer comes back: the model counts the
        // record finished from the send on, and takes that back if the answer is not OK.
        List<String> marked = new ArrayList<>();
        for (JsonNode d : deliveries) {
          String id = d.get("partition").asInt() + "/" + d.get("offset").asLong();
          boolean isAck = ack.toString().contains(d.get("token").asText());
          if ((isAck || lastAttempts.contains(d)) && finished.putIfAbsent(id, true) == null) {
            marked.add(id);
          }
        }
        HttpResponse<String> settled;
        try {
          settled = node.send("POST", "/groups/" + GROUP + "/acks", outcomes.toString());
        } catch (Exception nodeDown) {
          // Unknown whether they took effect: a restarted node redelivers what did not.
          marked.forEach(id -> {
            finished.remove(id);
            uncertain.put(id, true);
          });
          continue;
        }
        if (settled.statusCode() != 200) {
          marked.forEach(finished::remove);
          continue;
        }
        JsonNode results = NodeProcess.JSON.readTree(settled.body()).get("results");
        Map<String, String> status = new HashMap<>();
        results.forEach(r -> status.put(r.get("token").asText(), r.get("status").asText()));
        for (JsonNode d : deliveries) {
          String id = d.get("partition").asInt() + "/" + d.get("offset").asLong();
          boolean ok = "OK".equals(status.get(d.get("token").asText()));
          boolean isAck = ack.toString().contains(d.get("token").asText());
          if (!ok && marked.contains(id)) {
            finished.remove(id);
          } else if (ok && isAck) {
            acks.incrementAndGet();
          } else if (ok && lastAttempts.contains(d)) {
            deadLettered.put(id, true);
          }
        }
      } catch (Exception nodeDown) {
        pause(100);
      }
    }
  }

  /** The group has no unprocessed record left in any partition. */
  private static boolean groupHasNothingLeft(NodeProcess node) throws Exception {
    HttpResponse<String> r = node.get("/groups/" + GROUP);
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

  private static void pause(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static Thread started(Runnable body) {
    Thread t = new Thread(body);
    t.start();
    return t;
  }
}
