package dev.runnel.load;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.Driver;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.ProducerClient;
import dev.runnel.load.driver.RecordSink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletionStage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The command line's public face: every pinned flag in --help, exit 2 on usage and connection failures. */
class LoadMainTest {

  @TempDir
  Path dir;

  record Result(int code, String output) {
  }

  static Result execute(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int code = LoadMain.execute(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(out, true, StandardCharsets.UTF_8), DriverFactory.DEFAULT, true);
    return new Result(code, out.toString(StandardCharsets.UTF_8));
  }

  @Test
  void helpExplainsEveryFlagOfTheContract() {
    Result r = execute("run", "--help");
    assertThat(r.code()).isZero();
    for (String flag : List.of("--target", "--size", "--partitions", "--keys", "--producers", "--consumers",
        "--groups", "--rate", "--duration", "--warmup", "--batch", "--max-in-flight", "--topic", "--api-key",
        "--result", "--rounds", "--workload", "--mode", "--connections", "--drain-timeout", "--webhook",
        "--webhook-secret", "--consume-with", "--amqp-window", "--admin-url")) {
      assertThat(r.output()).as("--help names %s", flag).contains(flag);
    }
    assertThat(r.output()).contains("kafka://").contains("amqp://").contains("SASL PLAIN").contains("default runnel-load").contains("late")
        .contains("keyDistribution").contains("Exit 0");
  }

  /** An AMQP target's topic is prepared over HTTP: a node nobody answers on is a connection failure (exit 2). */
  @Test
  void anAmqpTargetWhoseHttpApiDoesNotAnswerExitsTwo() {
    Result r = execute("run", "--target", "amqp://127.0.0.1:1", "--admin-url", "http://127.0.0.1:1", "--duration",
        "1s");
    assertThat(r.code()).as(r.output()).isEqualTo(2);
    assertThat(r.output()).contains("cannot prepare topic runnel-load on amqp://127.0.0.1:1");
  }

  @Test
  void amqpFlagsThatCannotRunAreUsageErrors() {
    Result window = execute("run", "--target", "amqp://127.0.0.1:1", "--amqp-window", "0");
    assertThat(window.code()).isEqualTo(2);
    assertThat(window.output()).contains("--amqp-window must be at least 1");
    Result admin = execute("run", "--target", "amqp://127.0.0.1:1", "--admin-url", "amqp://127.0.0.1:2");
    assertThat(admin.code()).isEqualTo(2);
    assertThat(admin.output()).contains("--admin-url must be http://host:port");
  }

  @ParameterizedTest
  @ValueSource(strings = {"ftp://127.0.0.1:1", "127.0.0.1:8080", "http://127.0.0.1", "http://a:1,kafka://b:2"})
  void aMalformedTargetIsAUsageError(String target) {
    Result r = execute("run", "--target", target);
    assertThat(r.code()).as(r.output()).isEqualTo(2);
    assertThat(r.output()).contains("runnel-load:");
  }

  @Test
  void badFlagsAreUsageErrors() {
    assertThat(execute("run").code()).as("--target is required").isEqualTo(2);
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--mode", "round-robin").output())
        .contains("--mode must be partitioned or shared");
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--duration", "soon").code()).isEqualTo(2);
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--api-key", "nocolon").output())
        .contains("NAME:SECRET");
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--rate", "0").code()).isEqualTo(2);
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--no-such-flag").code()).isEqualTo(2);
    Result consumeWith = execute("run", "--target", "http://127.0.0.1:1", "--consume-with", "websocket");
    assertThat(consumeWith.code()).isEqualTo(2);
    assertThat(consumeWith.output()).contains("--consume-with must be fetch or sse");
  }

  /** {@code --consume-with sse} or {@code consumeWith: sse} in the workload file; the flag overrides the file. */
  @Test
  void theConsumeModeComesFromTheFlagOrTheWorkloadFile() throws Exception {
    Path w = dir.resolve("sse.yaml");
    Files.writeString(w, "consumeWith: sse\n");
    RunCommand run = new RunCommand(System.out, DriverFactory.DEFAULT, true);
    new picocli.CommandLine(run).parseArgs("--target", "http://x:1", "--workload", w.toString());
    assertThat(run.workload().consumeWith).isEqualTo(dev.runnel.load.http.HttpDriver.ConsumeWith.SSE);
    RunCommand flag = new RunCommand(System.out, DriverFactory.DEFAULT, true);
    new picocli.CommandLine(flag).parseArgs("--target", "http://x:1", "--workload", w.toString(), "--consume-with",
        "FETCH");
    assertThat(flag.workload().consumeWith).isEqualTo(dev.runnel.load.http.HttpDriver.ConsumeWith.FETCH);
    assertThat(new Workload().consumeWith).as("the default").isEqualTo(dev.runnel.load.http.HttpDriver.ConsumeWith.FETCH);
    Path bad = dir.resolve("bad.yaml");
    Files.writeString(bad, "consumeWith: carrier-pigeon\n");
    Result r = execute("run", "--target", "http://127.0.0.1:1", "--workload", bad.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.output()).contains("cannot read the workload file");
  }

  @Test
  void webhookFlagsThatCannotRunAreUsageErrors() throws Exception {
    String secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--webhook", "payments").output())
        .contains("--webhook needs --webhook-secret");
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--webhook-secret", secret).output())
        .contains("--webhook-secret needs --webhook");
    Result bad = execute("run", "--target", "http://127.0.0.1:1", "--webhook", "payments", "--webhook-secret",
        "whsec_***");
    assertThat(bad.code()).isEqualTo(2);
    assertThat(bad.output()).contains("--webhook-secret: a webhook secret must be whsec_<base64>");
    Path binary = dir.resolve("binary.yaml");
    Files.writeString(binary, "valueKind: binary\n");
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--webhook", "payments", "--webhook-secret", secret,
        "--workload", binary.toString()).output()).contains("JSON payloads");
    Path headers = dir.resolve("headers.yaml");
    Files.writeString(headers, "headers: {a: b}\n");
    assertThat(execute("run", "--target", "http://127.0.0.1:1", "--webhook", "payments", "--webhook-secret", secret,
        "--workload", headers.toString()).output()).contains("carries no record headers");
  }

  @Test
  void theWebhookFlagsComeFromTheWorkloadFileToo() throws Exception {
    Path w = dir.resolve("webhook.yaml");
    Files.writeString(w, "webhook: payments\nwebhookSecret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
    RunCommand run = new RunCommand(System.out, DriverFactory.DEFAULT, true);
    new picocli.CommandLine(run).parseArgs("--target", "http://x:1", "--workload", w.toString(), "--webhook", "orders");
    Workload workload = run.workload();
    assertThat(workload.webhook).isEqualTo("orders");
    assertThat(workload.webhookSecret).isEqualTo("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    try (Driver d = DriverFactory.DEFAULT.open("http://127.0.0.1:1", workload)) {
      assertThat(d).isInstanceOf(dev.runnel.load.http.WebhookDriver.class);
      assertThat(d.keepsKeys()).isFalse();
      assertThat(d.eventType()).isEqualTo("runnel.load");
    }
  }

  @Test
  void aTargetNobodyListensOnIsAConnectionFailure() {
    Result r = execute("run", "--target", "http://127.0.0.1:1", "--duration", "1s", "--warmup", "0s");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.output()).contains("cannot prepare topic runnel-load on http://127.0.0.1:1");
  }

  @Test
  void aWorkloadFileWithAnUnknownKeyIsAUsageError() throws Exception {
    Path w = dir.resolve("w.yaml");
    Files.writeString(w, "partitons: 3\n");
    Result r = execute("run", "--target", "http://127.0.0.1:1", "--workload", w.toString());
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.output()).contains("cannot read the workload file").contains("partitons");
  }

  @Test
  void flagsOverrideTheWorkloadFile() throws Exception {
    Path w = dir.resolve("w.yaml");
    Files.writeString(w, """
        size: 100
        partitions: 3
        keyDistribution: zipf
        valueKind: binary
        mode: shared
        headers: {a: b}
        """);
    RunCommand run = new RunCommand(System.out, DriverFactory.DEFAULT, true);
    new picocli.CommandLine(run).parseArgs("--target", "http://x:1", "--workload", w.toString(), "--size", "300");
    Workload workload = run.workload();
    assertThat(workload.size).isEqualTo(300);
    assertThat(workload.partitions).isEqualTo(3);
    assertThat(workload.keyDistribution).isEqualTo(Workload.KeyDistribution.ZIPF);
    assertThat(workload.valueKind).isEqualTo(ValueCodec.Kind.BINARY);
    assertThat(workload.mode).isEqualTo(GroupMode.SHARED);
    assertThat(workload.headers).containsEntry("a", "b");
    assertThat(workload.topic).isEqualTo("runnel-load");
    assertThat(workload.maxInFlight).isEqualTo(1000);
  }

  @Test
  void theKafkaDriverIsFoundByNameWithItsBootstrapServers() {
    Driver d = DriverFactory.byName(FakeKafka.class.getName(), "a:1,b:2");
    assertThat(((FakeKafka) d).bootstrap).isEqualTo("a:1,b:2");
    assertThatThrownBy(() -> DriverFactory.byName("dev.runnel.load.kafka.NoSuchDriver", "a:1"))
        .isInstanceOf(UsageException.class).hasMessageContaining("which this build does not contain");
    assertThatThrownBy(() -> DriverFactory.byName(String.class.getName(), "a:1"))
        .isInstanceOf(UsageException.class).hasMessageContaining("is not a Driver");
  }

  @Test
  void severalNodesOfOneTargetShareItsScheme() {
    assertThat(DriverFactory.nodes("http://a:1,b:2, http://c:3")).extracting(u -> u.getHost() + ":" + u.getPort())
        .containsExactly("a:1", "b:2", "c:3");
  }

  @Test
  void ratiosCompareEachTargetsMeanOverRoundsToTheFirst() {
    LatencySummary l = LatencySummary.EMPTY;
    List<TargetResult> results = List.of(
        new TargetResult("A", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 50, 0, 0, l, l, List.of()),
        new TargetResult("B", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40, 50, 0, 0, l, l, List.of()),
        new TargetResult("A", 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 300, 150, 0, 0, l, l, List.of()),
        new TargetResult("B", 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60, 50, 0, 0, l, l, List.of()));
    assertThat(Report.ratios(results).get("B")).containsExactly(0.25, 0.5);
    assertThat(Report.markdown(results)).contains("| B | 0.25× | 0.50× |");
    assertThat(Report.json(results)).contains("\"baseline\" : \"A\"");
  }

  /** Stands in for dev.runnel.load.kafka.KafkaDriver. */
  public static final class FakeKafka implements Driver {
    final String bootstrap;

    public FakeKafka(String bootstrap) {
      this.bootstrap = bootstrap;
    }

    @Override
    public CompletionStage<Integer> prepareTopic(String topic, int partitions) {
      throw new UnsupportedOperationException();
    }

    @Override
    public ProducerClient producer(String topic) {
      throw new UnsupportedOperationException();
    }

    @Override
    public ConsumerClient consumer(String topic, String group, GroupMode mode, RecordSink sink) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void close() {
    }
  }
}
