package dev.runnel.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * SIGTERM while producers keep several keep-alive connections busy: the node shuts down cleanly, and after a restart
 * on the same data dir every produce that was answered 2xx is in the log at the answered partition and offset, with
 * its value; every request was answered (a keep-alive connection idle at the SIGTERM stays open, so a request sent on
 * it then is answered 503 with {@code Connection: close} instead of being lost unread); what was stored is exactly
 * what was answered 200.
 */
class SigtermIT {

  private static final int PRODUCERS = 16;
  private static final int PARTITIONS = 4;
  private static final String TOPIC = "shutdown";

  @TempDir
  Path tmp;

  private record Position(int partition, long offset) {
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)  // two node starts (NodeProcess allows 120 s each) and a shutdown
  void sigtermUnderProduceLoadAcknowledgesNothingWithoutItsCommit() throws Exception {
    try (NodeProcess node = new NodeProcess(tmp.resolve("data"))) {
      node.start();
      assertThat(node.send("PUT", "/topics/" + TOPIC, "{\"partitions\":" + PARTITIONS + "}").statusCode()).isEqualTo(201);

      Map<String, Position> acknowledged = new ConcurrentHashMap<>();  // value -> answered position
      Map<Integer, AtomicInteger> errors = new ConcurrentHashMap<>();  // status -> produces answered with it
      AtomicInteger unanswered = new AtomicInteger();
      AtomicInteger refused = new AtomicInteger();
      CountDownLatch loaded = new CountDownLatch(1_000);
      AtomicBoolean stop = new AtomicBoolean();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
      String url = node.baseUrl() + "/topics/" + TOPIC + "/records";
      List<Thread> producers = new ArrayList<>();
      for (int t = 0; t < PRODUCERS; t++) {
        int id = t;
        // One client each, HTTP/1.1: each producer keeps its own keep-alive connection busy, one request at a time.
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
        producers.add(started(() -> {
          boolean connected = false;
          for (int seq = 0; seq < 100_000 && !stop.get() && System.nanoTime() < deadline; seq++) {
            int n = 1 + seq % 5;
            StringBuilder body = new StringBuilder("{\"records\":[");
            List<String> values = new ArrayList<>();
            for (int i = 0; i < n; i++) {
              String value = "p" + id + "-" + seq + "-" + i;
              values.add(value);
              body.append(i == 0 ? "" : ",").append("{\"key\":\"k").append((seq + i) % 17)
                  .append("\",\"value\":\"").append(value).append("\",\"valueEncoding\":\"utf8\"}");
            }
            body.append("]}");
            HttpResponse<String> r;
            try {
              r = client.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30))
                  .header("content-type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
            } catch (java.net.ConnectException gone) {
              refused.incrementAndGet();  // nobody listening any more: never sent
              return;
            } catch (Exception noAnswer) {
              if (connected) {
                unanswered.incrementAndGet();
              }
              connected = false;  // the connection is gone: the next request connects again, or is refused
              continue;
            }
            connected = true;
            if (r.statusCode() / 100 == 2) {
              try {
                JsonNode results = NodeProcess.JSON.readTree(r.body()).get("results");
                for (int i = 0; i < n; i++) {
                  acknowledged.put(values.get(i),
                      new Position(results.get(i).get("partition").asInt(), results.get(i).get("offset").asLong()));
                  loaded.countDown();
                }
              } catch (Exception e) {
                throw new AssertionError("unreadable 2xx answer: " + r.body(), e);
              }
            } else {
              errors.computeIfAbsent(r.statusCode(), s -> new AtomicInteger()).incrementAndGet();
            }
          }
        }));
      }

      int exit;
      int answeredAtSigterm;
      try {
        assertThat(loaded.await(60, TimeUnit.SECONDS)).as("1,000 records acknowledged under load").isTrue();
        answeredAtSigterm = acknowledged.size();
        exit = node.terminate();
      } finally {
        stop.set(true);
        for (Thread p : producers) {
          p.join(TimeUnit.SECONDS.toMillis(35));  // a request in flight ends within its 30 s timeout
        }
      }
      for (Thread p : producers) {
        assertThat(p.isAlive()).as("%s stopped", p.getName()).isFalse();
      }
      assertThat(exit).as("exit status after SIGTERM").isIn(0, 143);
      assertThat(node.log()).contains("Runnel node stopped").contains("embedded PostgreSQL stopped");
      assertThat(tmp.resolve("data/postgres/postmaster.pid")).as("Postgres stopped with the node").doesNotExist();

      node.start();
      Map<String, Position> stored = new HashMap<>();
      for (int p = 0; p < PARTITIONS; p++) {
        List<JsonNode> records = node.readAll(TOPIC, p);
        for (int i = 0; i < records.size(); i++) {
          assertThat(records.get(i).get("offset").asLong()).as("gapless offsets in partition %d", p).isEqualTo(i);
          String value = new String(Base64.getDecoder().decode(records.get(i).get("value").asText()), StandardCharsets.UTF_8);
          assertThat(stored.put(value, new Position(p, i))).as("%s stored once", value).isNull();
        }
      }
      Map<String, String> lost = new TreeMap<>();
      acknowledged.forEach((value, at) -> {
        if (!at.equals(stored.get(value))) {
          lost.put(value, "answered " + at + ", stored " + stored.get(value));
        }
      });
      System.out.printf("SigtermIT: %d records acknowledged (%d of them after the SIGTERM was sent), %d stored "
              + "without an answer, produces answered with an error %s, %d not answered, %d refused%n",
          acknowledged.size(), acknowledged.size() - answeredAtSigterm, stored.size() - (acknowledged.size() - lost.size()),
          errors, unanswered.get(), refused.get());
      assertThat(lost.size()).as("acknowledged produces missing after the restart, e.g. %s",
          GroupCrashIT.first(lost.entrySet())).isZero();
      assertThat(unanswered.get()).as("requests sent on an open connection and never answered").isZero();
      assertThat(stored.size()).as("records stored: exactly those answered 200").isEqualTo(acknowledged.size());
      assertThat(errors.keySet()).as("error statuses: only 503 for what the shutdown caught").isSubsetOf(503);
      assertThat(node.terminate()).isIn(0, 143);
    }
  }

  private static Thread started(Runnable body) {
    Thread t = new Thread(body);
    t.setDaemon(true);
    t.start();
    return t;
  }
}
