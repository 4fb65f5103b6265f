package dev.runnel.server;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** Starts the node with the README's command, runs the README's quickstart, restarts it and reads the records back. */
class NodeProcessIT {

  @TempDir
  Path tmp;

  /** The curl commands between the quickstart markers of README.md, continuation lines joined. */
  static List<String> quickstartCommands() throws Exception {
    String readme = Files.readString(NodeProcess.PROJECT.resolve("README.md"));
    int start = readme.indexOf("<!-- quickstart:start -->");
    int end = readme.indexOf("<!-- quickstart:end -->");
    assertThat(start).as("quickstart markers in README.md").isGreaterThan(0);
    String block = readme.substring(start, end).replace("\\\n", " ");
    List<String> commands = new ArrayList<>();
    block.lines().map(String::trim).filter(l -> l.startsWith("curl ")).forEach(commands::add);
    return commands;
  }

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)  // two node starts (NodeProcess allows 120 s each)
  void quickstartWorksAsWrittenAndSurvivesARestart() throws Exception {
    try (NodeProcess node = new NodeProcess(tmp.resolve("data"))) {
      node.start();
      List<String> outputs = new ArrayList<>();
      List<String> commands = quickstartCommands();
      assertThat(commands).hasSizeGreaterThanOrEqualTo(4);
      for (String command : commands) {
        String local = command.replace("localhost:8080", "127.0.0.1:" + node.port());
        // Output to a file, so that a curl that hangs fails the wait instead of blocking a read of its pipe.
        Path out = Files.createTempFile(tmp, "curl", ".out");
        Process curl = new ProcessBuilder("bash", "-c", local).redirectErrorStream(true)
            .redirectOutput(out.toFile()).start();
        if (!curl.waitFor(30, TimeUnit.SECONDS)) {
          curl.destroyForcibly();
          throw new AssertionError("curl did not finish within 30 s: " + command);
        }
        assertThat(curl.exitValue()).as("exit of: %s\noutput: %s", command, Files.readString(out)).isZero();
        outputs.add(Files.readString(out));
      }
      JsonNode produced = NodeProcess.JSON.readTree(outputs.get(1));
      assertThat(produced.get("results")).hasSize(3);
      assertThat(produced.get("results").get(0).get("partition").asInt()).isEqualTo(1);
      assertThat(produced.get("results").get(1).get("partition").asInt()).isEqualTo(2);
      assertThat(produced.get("results").get(2).get("partition").asInt()).isEqualTo(2);
      JsonNode read = NodeProcess.JSON.readTree(outputs.get(3));
      assertThat(read.get("records")).hasSize(2);
      assertThat(read.get("records").get(0).get("value").get("item").asText()).isEqualTo("pen");

      assertThat(node.terminate()).as("exit code after SIGTERM").isIn(0, 143);
      assertThat(node.log()).contains("Runnel node stopped").contains("embedded PostgreSQL stopped");
      assertThat(tmp.resolve("data/postgres/postmaster.pid")).as("Postgres stopped with the node").doesNotExist();

      node.start();
      List<JsonNode> p2 = node.readAll("orders", 2);
      assertThat(p2).hasSize(2);
      assertThat(p2.get(0).get("key").asText()).isEqualTo("customer-2");
      assertThat(p2.get(0).get("value").get("qty").asInt()).isEqualTo(3);
      assertThat(p2.get(1).get("key").asText()).isEqualTo("customer-3");
      assertThat(p2.get(1).get("headers").get("source").asText()).isEqualTo("quickstart");
      assertThat(node.readAll("orders", 1)).hasSize(1);
      // Offsets continue after the restart.
      JsonNode next = NodeProcess.JSON.readTree(node.send("POST", "/topics/orders/records",
          "{\"records\":[{\"key\":\"customer-2\",\"value\":1}]}").body());
      assertThat(next.get("results").get(0).get("offset").asLong()).isEqualTo(2);
      assertThat(node.terminate()).isIn(0, 143);
    }
  }
}
