package dev.runnel.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/** Kills the node with SIGKILL while producers run, restarts it, and finds every acknowledged record. */
class CrashIT {

  private static final int PRODUCERS = 6;
  private static final int PARTITIONS = 4;

  @TempDir
  Path tmp;

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)  // two node starts (NodeProcess allows 120 s each) and the load
  void sigkillWhileProducingLosesNoAcknowledgedRecord() throws Exception {
    try (NodeProcess node = new NodeProcess(tmp.resolve("data"))) {
      node.start();
      assertThat(node.send("PUT", "/topics/crash", "{\"partitions\":" + PARTITIONS + "}").statusCode()).isEqualTo(201);

      Map<String, String> acked = new ConcurrentHashMap<>();  // "partition/offset" -> value
      AtomicBoolean stop = new AtomicBoolean();
      List<Thread> producers = new ArrayList<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      for (int t = 0; t < PRODUCERS; t++) {
        int id = t;
        producers.add(started(() -> {
          for (int seq = 0; seq < 20_000 && !stop.get() && System.nanoTime() < deadline; seq++) {
            int n = 1 + seq % 4;
            StringBuilder body = new StringBuilder("{\"records\":[");
            List<String> values = new ArrayList<>();
            for (int i = 0; i < n; i++) {
              String value = "p" + id + "-" + seq + "-" + i;
              values.add(value);
              body.append(i == 0 ? "" : ",").append("{\"key\":\"k").append((seq + i) % 13)
                  .append("\",\"value\":\"").append(value).append("\",\"valueEncoding\":\"utf8\"}");
            }
            body.append("]}");
            try {
              HttpResponse<String> r = node.send("POST", "/topics/crash/records", body.toString());
              if (r.statusCode() == 200) {
                JsonNode results = NodeProcess.JSON.readTree(r.body()).get("results");
                for (int i = 0; i < n; i++) {
                  JsonNode res = results.get(i);
                  acked.put(res.get("partition").asInt() + "/" + res.get("offset").asLong(), values.get(i));
                }
              }
            } catch (Exception connectionLost) {
              return;  // the node is gone: whatever was not answered was never acknowledged
            }
          }
        }));
      }
      long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (acked.size() < 500 && System.nanoTime() < waitUntil) {
        Thread.sleep(20);
      }
      node.kill();
      stop.set(true);
      for (Thread p : producers) {
        p.join(TimeUnit.SECONDS.toMillis(60));
      }
      assertThat(acked.size()).as("acknowledged before the kill").isGreaterThanOrEqualTo(500);

      node.start();
      assertThat(node.log()).contains("is still running");  // the Postgres left by the kill was found and stopped
      int found = 0;
      for (int p = 0; p < PARTITIONS; p++) {
        List<JsonNode> records = node.readAll("crash", p);
        for (int i = 0; i < records.size(); i++) {
          assertThat(records.get(i).get("offset").asLong()).as("gapless offsets in partition %d", p).isEqualTo(i);
        }
        for (JsonNode r : records) {
          String value = new String(java.util.Base64.getDecoder().decode(r.get("value").asText()));
          String expected = acked.get(p + "/" + r.get("offset").asLong());
          if (expected != null) {
            assertThat(value).isEqualTo(expected);
            found++;
          }
        }
      }
      assertThat(found).as("acknowledged records found after the crash").isEqualTo(acked.size());
      assertThat(node.terminate()).isIn(0, 143);
    }
  }

  private static Thread started(Runnable body) {
    Thread t = new Thread(body);
    t.start();
    return t;
  }
}
