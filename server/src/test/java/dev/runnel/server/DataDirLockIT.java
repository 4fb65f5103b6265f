package dev.runnel.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A node holds its data directory's OS lock: a second process started on the data directory of a paused (SIGSTOPped)
 * node refuses to start, and leaves the paused node's embedded Postgres alone (a start otherwise stops a Postgres it
 * finds left on its directory, as after a kill -9). The kill -9 case, where the lock is free, is {@link CrashIT}.
 */
class DataDirLockIT {

  @TempDir
  Path tmp;

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)  // two node starts (NodeProcess allows 120 s each)
  void aSecondProcessOnThePausedNodesDataDirRefusesToStart() throws Exception {
    Path data = tmp.resolve("data");
    try (NodeProcess first = new NodeProcess(data)) {
      first.start();
      assertThat(first.send("PUT", "/topics/locked", "{\"partitions\":1}").statusCode()).isEqualTo(201);
      long postmaster = first.postmasterPid();
      signal("STOP", first.pid());
      try {
        NodeProcess second = new NodeProcess(data);  // not closed: its close would stop the first's Postgres
        assertThatThrownBy(second::start).isInstanceOf(AssertionError.class)
            .hasMessageContaining("another Runnel process runs on the data directory");
        assertThat(ProcessHandle.of(postmaster)).as("the paused node's Postgres").hasValueSatisfying(
            p -> assertThat(p.isAlive()).isTrue());
      } finally {
        signal("CONT", first.pid());
      }
      assertThat(first.send("POST", "/topics/locked/records", "{\"records\":[{\"value\":\"after\","
          + "\"valueEncoding\":\"utf8\"}]}").statusCode()).as("the resumed node still serves").isEqualTo(200);
      assertThat(first.terminate()).isIn(0, 143);
    }
  }

  private static void signal(String signal, long pid) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start();
    assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(kill.exitValue()).as("kill -" + signal).isZero();
  }
}
