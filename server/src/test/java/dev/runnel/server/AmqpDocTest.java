package dev.runnel.server;

import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * docs/amqp.md runs as written, against a node in this JVM (wired as in production, over the shared test Postgres,
 * HTTP and AMQP on free loopback ports). Its {@code sh}, {@code python} and {@code java} blocks are examples, run in
 * document order unless the line before says {@code <!-- not run -->}; each must exit 0, and one followed by a
 * {@code text} block must print exactly that. The child processes get {@code RUNNEL} (the HTTP base URL) and
 * {@code RUNNEL_AMQP} (the AMQP URL) as the page says to export them: {@code sh} blocks run in bash, {@code python}
 * blocks with {@code /usr/bin/python3} (skipped, saying why, where {@code /usr/bin/python3 -c 'import proton'} fails),
 * {@code java} blocks from their source file ({@code java -cp <Qpid JMS and its dependencies> Name.java
 * $RUNNEL_AMQP}). The {@code sh} blocks (the topics the others use) run first, before either language's examples.
 */
class AmqpDocTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  static final Path PAGE = NodeProcess.PROJECT.resolve("docs/amqp.md");
  private static final Pattern FENCE = Pattern.compile("^```([A-Za-z]*)\\s*$");
  private static final Pattern PUBLIC_CLASS = Pattern.compile("(?m)^public class (\\w+)");
  private static final String PYTHON = "/usr/bin/python3";
  /** What a Qpid JMS example needs on its classpath, taken from this test's (not logback: its config would log). */
  private static final Pattern JMS_CLASSPATH = Pattern.compile("qpid-jms-client|proton-j|[/\\\\]io[/\\\\]netty[/\\\\]"
      + "|slf4j-api|jakarta\\.jms-api");

  @TempDir
  static Path dir;

  private static RunnelNode node;
  private static Map<String, String> env;

  /** A block to run: its language, text and line (1-based), and the output documented after it (or null). */
  record Example(String language, String text, int line, String output) {
  }

  @BeforeAll
  static void startAndRunTheShellSteps() throws Exception {
    Map<String, String> flags = new HashMap<>(Map.of("dataDir", dir.resolve("node").toString(), "http.port", "0",
        "http.host", "127.0.0.1", "amqp.port", "0", "amqp.host", "127.0.0.1", "postgres.schema", PG.schema(),
        "storage.minFreeBytes", "0", "http.shutdownGraceMs", "1000", "amqp.shutdownGraceMs", "1000"));
    RunnelConfig config = ConfigLoader.load(null,
        Map.of("RUNNEL_PG_URL", ExternalPostgresTest.url(TestPostgres.server())), flags);
    node = new RunnelNode(config).start();
    env = Map.of("RUNNEL", "http://127.0.0.1:" + node.httpPort(), "RUNNEL_AMQP", "amqp://127.0.0.1:" + node.amqpPort());
    List<String> failures = new ArrayList<>();
    for (Example e : examples("sh")) {
      Path script = Files.writeString(dir.resolve("step-" + e.line() + ".sh"), e.text());
      run(e, List.of("bash", "--noprofile", "--norc", script.toString()), failures);
    }
    assertThat(failures).as("sh steps of %s", PAGE).isEmpty();
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.stop();
    }
  }

  @Test
  void thePageShowsWhatEachExamplePrints() throws Exception {
    List<Example> python = examples("python");
    List<Example> java = examples("java");
    assertThat(python).as("python examples in %s", PAGE).hasSizeGreaterThanOrEqualTo(4);
    assertThat(java).as("java examples in %s", PAGE).hasSizeGreaterThanOrEqualTo(2);
    List<Example> all = new ArrayList<>(python);
    all.addAll(java);
    assertThat(all).as("examples with no documented output (a text block right after)")
        .allSatisfy(e -> assertThat(e.output()).as("line %d", e.line()).isNotNull());
    assertThat(java).allSatisfy(e -> assertThat(PUBLIC_CLASS.matcher(e.text()).find())
        .as("line %d: a java example is one public class with a main method", e.line()).isTrue());
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void thePythonExamplesPrintWhatThePageSays() throws Exception {
    String missing = pythonProtonMissing();
    if (missing != null) {
      System.out.println("AmqpDocTest: the python examples are skipped: " + missing);
    }
    Assumptions.assumeTrue(missing == null, missing);
    List<String> failures = new ArrayList<>();
    for (Example e : examples("python")) {
      Path script = Files.writeString(dir.resolve("example-" + e.line() + ".py"), e.text());
      run(e, List.of(PYTHON, script.toString()), failures);
    }
    assertThat(failures).as("python examples of %s", PAGE).isEmpty();
  }

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void theJavaExamplesPrintWhatThePageSays() throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    String classpath = List.of(System.getProperty("java.class.path").split(File.pathSeparator)).stream()
        .filter(entry -> JMS_CLASSPATH.matcher(entry).find()).collect(Collectors.joining(File.pathSeparator));
    List<String> failures = new ArrayList<>();
    for (Example e : examples("java")) {
      Matcher name = PUBLIC_CLASS.matcher(e.text());
      assertThat(name.find()).as("line %d: a public class", e.line()).isTrue();
      Path source = Files.createDirectories(dir.resolve("java-" + e.line())).resolve(name.group(1) + ".java");
      Files.writeString(source, e.text());
      run(e, List.of(java, "-cp", classpath, source.toString(), env.get("RUNNEL_AMQP")), failures);
    }
    assertThat(failures).as("java examples of %s", PAGE).isEmpty();
  }

  /** Runs one example (bounded), adding to {@code failures} what went wrong. */
  private static void run(Example e, List<String> command, List<String> failures) throws Exception {
    Path out = dir.resolve("out-" + e.line());
    Path err = dir.resolve("err-" + e.line());
    ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile())
        .redirectOutput(out.toFile()).redirectError(err.toFile());
    builder.environment().putAll(env);
    Process p = builder.start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      failures.add("line " + e.line() + " (" + e.language() + "): still running after 60 s");
      return;
    }
    String printed = Files.readString(out, StandardCharsets.UTF_8).replace("\r\n", "\n").stripTrailing();
    if (p.exitValue() != 0) {
      failures.add("line " + e.line() + " (" + e.language() + "): exit status " + p.exitValue() + "; printed:\n"
          + printed + "\nstderr:\n" + Files.readString(err, StandardCharsets.UTF_8));
    } else if (e.output() != null && !printed.equals(e.output().stripTrailing())) {
      failures.add("line " + e.line() + " (" + e.language() + "): printed\n" + printed + "\ninstead of\n"
          + e.output().stripTrailing() + "\nstderr:\n" + Files.readString(err, StandardCharsets.UTF_8));
    }
  }

  /** Why the python examples cannot run here, or null. */
  private static String pythonProtonMissing() throws Exception {
    if (!Files.isExecutable(Path.of(PYTHON))) {
      return PYTHON + " does not exist (python3-qpid-proton installs for it)";
    }
    Process p = new ProcessBuilder(PYTHON, "-c", "import proton").redirectErrorStream(true).start();
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return PYTHON + " -c 'import proton' did not finish within 30 s";
    }
    return p.exitValue() == 0 ? null : PYTHON + " -c 'import proton' fails (install python3-qpid-proton): "
        + new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
  }

  /** The page's runnable blocks of one language, in order, each with the text block that follows it, if any. */
  static List<Example> examples(String language) throws Exception {
    List<String> lines = Files.readAllLines(PAGE);
    List<Example> out = new ArrayList<>();
    int i = 0;
    while (i < lines.size()) {
      Matcher open = FENCE.matcher(lines.get(i));
      if (!open.matches() || open.group(1).isEmpty()) {
        i++;
        continue;
      }
      int start = i;
      int close = closing(lines, start);
      String info = open.group(1);
      boolean notRun = previousNonBlank(lines, start).equals("<!-- not run -->");
      if (info.equals(language) && !notRun) {
        String output = null;
        int next = close + 1;
        while (next < lines.size() && lines.get(next).isBlank()) {
          next++;
        }
        if (next < lines.size() && lines.get(next).equals("```text")) {
          output = String.join("\n", lines.subList(next + 1, closing(lines, next)));
        }
        out.add(new Example(info, String.join("\n", lines.subList(start + 1, close)) + "\n", start + 1, output));
      }
      i = close + 1;
    }
    return out;
  }

  private static int closing(List<String> lines, int open) {
    for (int j = open + 1; j < lines.size(); j++) {
      if (lines.get(j).equals("```")) {
        return j;
      }
    }
    throw new AssertionError(PAGE + ": the block opened at line " + (open + 1) + " is never closed");
  }

  private static String previousNonBlank(List<String> lines, int index) {
    for (int j = index - 1; j >= 0; j--) {
      if (!lines.get(j).isBlank()) {
        return lines.get(j).trim();
      }
    }
    return "";
  }
}
