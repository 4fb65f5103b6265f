package dev.runnel.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Kills the node's embedded Postgres (SIGKILL of the postmaster) while producers run: the node answers 503 while it is
 * down, starts it again by itself, produce resumes without a restart of the node, and every acknowledged record is
 * there. Liveness stays up throughout: a Postgres that comes back is no reason to restart the node.
 */
class PostgresKillIT {

  private static final int PRODUCERS = 4;
  private static final int PARTITIONS = 4;

  @TempDir
  Path tmp;

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)  // a node start (up to 120 s), the load and the Postgres restart
  void aKilledEmbeddedPostgresIsBroughtBackUnderLoadAndNothingAcknowledgedIsLost() throws Exception {
    try (NodeProcess node = new NodeProcess(tmp.resolve("data"))) {
      node.start();
      assertThat(node.send("PUT", "/topics/heal", "{\"partitions\":" + PARTITIONS + "}").statusCode()).isEqualTo(201);

      Map<String, String> acked = new ConcurrentHashMap<>();  // "partition/offset" -> value
      AtomicInteger unavailable = new AtomicInteger();
      AtomicInteger ackedAfterRestart = new AtomicInteger();
      AtomicBoolean restarted = new AtomicBoolean();
      AtomicBoolean stop = new AtomicBoolean();
      AtomicReference<String> unexpected = new AtomicReference<>();
      List<Thread> producers = new ArrayList<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
      for (int t = 0; t < PRODUCERS; t++) {
        int id = t;
        producers.add(started(() -> {
          for (int seq = 0; !stop.get() && System.nanoTime() < deadline; seq++) {
            String value = "p" + id + "-" + seq;
            String body = "{\"records\":[{\"key\":\"k" + seq % 11 + "\",\"value\":\"" + value
                + "\",\"valueEncoding\":\"utf8\"}]}";
            try {
              HttpResponse<String> r = node.send("POST", "/topics/heal/records", body);
              if (r.statusCode() == 200) {
                JsonNode res = NodeProcess.JSON.readTree(r.body()).get("results").get(0);
                acked.put(res.get("partition").asInt() + "/" + res.get("offset").asLong(), value);
                if (restarted.get()) {
                  ackedAfterRestart.incrementAndGet();
                }
              } else if (r.statusCode() == 503) {
                unavailable.incrementAndGet();
                Thread.sleep(20);
              } else {
                unexpected.compareAndSet(null, r.statusCode() + " " + r.body());
              }
            } catch (Exception e) {
              unexpected.compareAndSet(null, e.toString());
              return;
            }
          }
        }));
      }
      waitFor(() -> acked.size() >= 300, "300 records acknowledged before the kill");
      long first = node.postmasterPid();
      ProcessHandle postmaster = ProcessHandle.of(first).orElseThrow();
      assertThat(postmaster.destroyForcibly()).isTrue();
      postmaster.onExit().get(30, TimeUnit.SECONDS);

      // The first restart attempt waits 500 ms, so both are seen while Postgres is down.
      waitFor(() -> node.get("/health/ready").statusCode() == 503, "readiness failing while Postgres is down");
      waitFor(() -> unavailable.get() > 0, "a 503 to a produce while Postgres is down");
      assertThat(node.get("/health/live").statusCode()).as("liveness while Postgres comes back").isEqualTo(200);
      waitFor(() -> node.get("/health/ready").statusCode() == 200, "readiness again after the restart");
      restarted.set(true);
      waitFor(() -> ackedAfterRestart.get() >= 300, "300 records acknowledged after the restart");
      stop.set(true);
      for (Thread p : producers) {
        p.join(TimeUnit.SECONDS.toMillis(60));
      }
      assertThat(unexpected.get()).as("an answer other than 200 or 503").isNull();
      assertThat(node.postmasterPid()).as("a new postmaster").isNotEqualTo(first);
      assertThat(node.get("/health/live").statusCode()).isEqualTo(200);
      assertThat(node.log()).contains("died; starting it again").contains("is running again");

      int found = 0;
      for (int p = 0; p < PARTITIONS; p++) {
        List<JsonNode> records = node.readAll("heal", p);
        for (int i = 0; i < records.size(); i++) {
          assertThat(records.get(i).get("offset").asLong()).as("gapless offsets in partition %d", p).isEqualTo(i);
        }
        for (JsonNode r : records) {
          String expected = acked.get(p + "/" + r.get("offset").asLong());
          if (expected != null) {
            assertThat(new String(Base64.getDecoder().decode(r.get("value").asText()))).isEqualTo(expected);
            found++;
          }
        }
      }
      assertThat(found).as("acknowledged records found").isEqualTo(acked.size());
      assertThat(node.terminate()).isIn(0, 143);
    }
  }

  private interface Check {
    boolean holds() throws Exception;
  }

  private static void waitFor(Check check, String what) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (System.nanoTime() < deadline) {
      try {
        if (check.holds()) {
          return;
        }
      } catch (java.io.IOException notNow) {
        // a request that failed to connect counts as not yet
      }
      Thread.sleep(50);
    }
    throw new AssertionError("timed out waiting for " + what);
  }

  private static Thread started(Runnable body) {
    Thread t = new Thread(body);
    t.start();
    return t;
  }
}
