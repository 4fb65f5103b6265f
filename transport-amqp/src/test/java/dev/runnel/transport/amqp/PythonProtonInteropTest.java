package dev.runnel.transport.amqp;

import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.StoredRecord;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Interop with Debian's python3-qpid-proton (proton-c underneath; written by nobody here), run with
 * {@code /usr/bin/python3} — the {@code python3} first on PATH may be another interpreter that cannot import proton.
 * The scripts are {@code src/test/python/send.py} (blocking sends, the anonymous relay, a refused link) and
 * {@code recv.py} (accept and reject). Skipped, saying why, only where {@code /usr/bin/python3 -c 'import proton'}
 * fails ({@code .ci/run} installs the package on CI).
 */
class PythonProtonInteropTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();
  private static final String PYTHON = "/usr/bin/python3";
  private static final Path SCRIPTS = Path.of("src", "test", "python");
  private static final long SCRIPT_TIMEOUT_S = 60;
  private static AmqpNode node;
  /** Why the scripts cannot run here, or null. */
  private static String missing;

  @BeforeAll
  static void start() {
    missing = protonMissing();
    if (missing != null) {
      System.out.println("PythonProtonInteropTest skipped: " + missing);
    } else {
      node = new AmqpNode(PG);
    }
  }

  /** Skipped (and reported as skipped) only where /usr/bin/python3 cannot import proton. */
  @BeforeEach
  void needsProton() {
    assumeTrue(missing == null, () -> "python3-qpid-proton is not usable: " + missing);
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  /** Why {@code /usr/bin/python3 -c 'import proton'} does not work here, or null when it does. */
  private static String protonMissing() {
    if (!Files.isExecutable(Path.of(PYTHON))) {
      return PYTHON + " does not exist (apt-get install python3-qpid-proton)";
    }
    try {
      Result r = run(List.of(PYTHON, "-c", "import proton"), 20);
      return r.exitCode == 0 ? null : PYTHON + " -c 'import proton' exited " + r.exitCode + ": " + r.output.strip()
          + " (apt-get install python3-qpid-proton)";
    } catch (IOException | InterruptedException e) {
      return "cannot run " + PYTHON + ": " + e;
    }
  }

  private record Result(int exitCode, String output) {
    List<String> lines() {
      return output.lines().toList();
    }
  }

  /** Runs a process with stderr merged into stdout; kills it and fails when it outlives {@code timeoutS}. */
  private static Result run(List<String> command, long timeoutS) throws IOException, InterruptedException {
    Path out = Files.createTempFile("runnel-python", ".out");
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
      if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        throw new AssertionError(command + " did not finish within " + timeoutS + " s; its output:\n"
            + Files.readString(out));
      }
      return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
    }
  }

  private static Result script(String name, String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of(PYTHON, SCRIPTS.resolve(name).toString()));
    command.addAll(List.of(args));
    Result r = run(command, SCRIPT_TIMEOUT_S);
    assertThat(r.exitCode).as("exit code of %s; its output:\n%s", name, r.output).isZero();
    return r;
  }

  @Test
  void blockingSenderAndReceiverWithAcceptAndReject() throws Exception {
    String topic = node.topic(2);
    String group = AmqpNode.unique("py");
    String missing = AmqpNode.unique("missing");
    int count = 12;
    int rejectN = 4;

    Result sent = script("send.py", node.amqpUri(), topic, Integer.toString(count), missing);
    List<String> expected = new ArrayList<>();
    for (int n = 0; n < count; n++) {
      expected.add("accepted " + n);
    }
    expected.add("relay accepted");
    expected.add("relay rejected amqp:not-found");   // the relay refuses a message, not the link
    expected.add("refused amqp:not-found");          // a link to a missing topic is refused (and the connection lives)
    expected.add("done");
    assertThat(sent.lines().stream().filter(l -> !l.isBlank() && Character.isLowerCase(l.charAt(0))))
        .as("send.py's output:\n%s", sent.output).containsExactlyElementsOf(expected);
    List<StoredRecord> stored = Interop.records(node, topic);
    assertThat(stored).hasSize(count + 1);
    // the annotation x-opt-partition-key is the record's key; message-id the idempotency key
    assertThat(stored).filteredOn(r -> r.key() != null)
        .extracting(r -> new String(r.key(), StandardCharsets.UTF_8)).containsOnly("k0", "k1", "k2").hasSize(count);

    Result received = script("recv.py", node.amqpUri(), "topics/" + topic + "/groups/" + group,
        Integer.toString(count + 1), Integer.toString(rejectN));
    Map<Integer, JsonObject> byN = new TreeMap<>();
    for (String line : received.lines()) {
      if (line.startsWith("{")) {
        JsonObject m = new JsonObject(line);
        assertThat(byN.put(m.getInteger("n", -1), m)).as("n=%s received twice:\n%s", m.getInteger("n"), received.output)
            .isNull();
      }
    }
    assertThat(received.lines()).last().isEqualTo("done");
    // 0..count-1 from the link, and the relay's message, which has no property n (recv.py says -1)
    assertThat(byN).as("recv.py's output:\n%s", received.output).hasSize(count + 1).containsKey(-1);
    assertThat(byN.get(-1).getString("body")).isEqualTo("relay to topics/" + topic);
    for (int n = 0; n < count; n++) {
      JsonObject m = byN.get(n);
      assertThat(m.getString("body")).isEqualTo("hello " + n);
      assertThat(m.getString("id")).isEqualTo("py-" + n);
      assertThat(m.getString("key")).isEqualTo("k" + (n % 3));
      assertThat(m.getInteger("deliveryCount")).isZero();
      assertThat(m.getBoolean("durable")).isTrue();
    }

    // Broker state: the accepted ones are done (lag 0), the rejected one is the group's only dead letter, and its
    // copy in <topic>.<group>.dlq is the message as sent.
    Interop.awaitLag(node, group, 0);
    List<DeadLetter> dead = node.broker.deadLetters(group, topic, 10).await();
    assertThat(dead).hasSize(1);
    assertThat(new String(dead.get(0).record().value(), StandardCharsets.UTF_8)).isEqualTo("hello " + rejectN);
    assertThat(dead.get(0).deadLetterTopic()).isEqualTo(topic + "." + group + ".dlq");
    assertThat(Interop.records(node, topic + "." + group + ".dlq")).singleElement()
        .satisfies(r -> assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo("hello " + rejectN));
  }
}
