package dev.runnel.server;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * docs/http-api.md runs as written. Its {@code sh} blocks are taken in document order and run in ONE bash session
 * against a node started (as a child process, with auth on) with the page's own config block, so a variable one block
 * sets is there for the next. Inside that session {@code curl} is a shell function that runs the real curl with
 * {@code -o <file> -w '%{http_code} %{content_type}'} and then prints the body, so examples may pipe or capture the
 * answer ({@code MEMBER=$(curl ... | jq -r .memberId)}) and the test still sees the status and the whole body.
 *
 * <p>An example is an {@code sh} block holding exactly one curl command, followed by its documented answer (a
 * {@code json} or {@code text} block; none for a 204) and {@code <!-- expect: NNN -->}. An {@code sh} block without curl
 * is a step (it computes a signature, extracts tokens) and must exit 0; one after {@code <!-- not run -->} is shown
 * only. Checked for each example: the status; a JSON answer is one JSON value of the documented content type
 * ({@code application/problem+json} when the documented answer is a problem) with the documented field names at every
 * level (top level first) and the documented values, except those of {@link #RUN_DEPENDENT} fields; a text answer
 * begins with the documented text (up to a closing {@code ...} line); a 204 has no body. And the operations the
 * examples call are exactly those of the OpenAPI document: each of its operations has an example, and no example calls
 * anything else. Each answer, and the bash output, of the last run are kept in server/target/http-api-doc/.
 */
class HttpApiDocIT {

  static final Path PAGE = NodeProcess.PROJECT.resolve("docs/http-api.md");
  static final Path CONTRACT = NodeProcess.PROJECT.resolve("transport-http/src/main/resources/openapi.yaml");

  /** Fields whose values change from run to run: only their presence (and null or not) is compared. */
  static final Set<String> RUN_DEPENDENT = Set.of("token", "memberId", "assignedTo", "timestamp", "leaseExpiresAt",
      "deadLetteredAt", "oldestAgeMs", "detail", "runnel.dlq.first-failure", "runnel.dlq.last-failure",
      "node", "incarnation", "http", "amqp");

  private static final Pattern FENCE = Pattern.compile("^```([A-Za-z]*)\\s*$");
  private static final Pattern EXPECT = Pattern.compile("^<!-- expect: (\\d{3}) -->$");
  private static final Pattern CURL = Pattern.compile("(?m)(^|[;&|(]|\\$\\()\\s*curl\\s");
  private static final Pattern KEY = Pattern.compile("(?m)^export KEY=(\\S+)$");
  private static final Set<String> METHODS = Set.of("get", "put", "post", "delete", "patch", "head", "options", "trace");
  /** curl options the harness sets itself (or that would put headers into the body it checks). */
  private static final Set<String> HARNESS_OPTIONS = Set.of("-o", "--output", "-w", "--write-out", "-i", "--include",
      "-D", "--dump-header", "-I", "--head", "-O", "--remote-name");
  private static final ObjectReader STRICT_JSON = NodeProcess.JSON.reader()
      .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  @TempDir
  Path tmp;

  /** A fenced block: its info string, its text, and the lines (0-based) of its opening and closing fences. */
  record Fence(String info, String text, int open, int close) {
  }

  /** An {@code sh} block to run; {@code expect} is 0 for a step that is not an example. */
  record Step(int line, String script, String answerInfo, String answer, int expect) {
    boolean isExample() {
      return expect != 0;
    }

    String firstLine() {
      return script.lines().findFirst().orElse("").trim();
    }
  }

  /** The page, read: its steps in order, the node's config, the API key, and what is wrong with its layout. */
  record Page(List<Step> steps, String config, String key, List<String> problems) {
  }

  @Test
  void theExamplesCallExactlyTheOperationsOfTheContract() throws Exception {
    Page page = page();
    assertThat(page.problems()).as("layout of %s", PAGE).isEmpty();
    Set<String> contract = contractOperations();
    assertThat(contract).as("operations of %s", CONTRACT).hasSizeGreaterThan(10);
    Set<String> documented = new TreeSet<>();
    List<String> outside = new ArrayList<>();
    for (Step step : page.steps()) {
      if (!step.isExample()) {
        continue;
      }
      String call = call(step.script());
      String operation = operationOf(call, contract);
      if (operation == null) {
        outside.add("line " + step.line() + ": " + call);
      } else {
        documented.add(operation);
      }
    }
    assertThat(outside).as("examples calling what the contract does not describe").isEmpty();
    Set<String> missing = new TreeSet<>(contract);
    missing.removeAll(documented);
    assertThat(missing).as("operations of the contract without an example in %s", PAGE).isEmpty();
    assertThat(documented).isEqualTo(new TreeSet<>(contract));
  }

  @Test
  @Timeout(value = 60, unit = TimeUnit.SECONDS)
  void everyExampleAnswersAsDocumented() throws Exception {
    Page page = page();
    assertThat(page.problems()).as("layout of %s", PAGE).isEmpty();
    for (String tool : List.of("bash", "curl", "jq", "openssl")) {
      assertThat(onPath(tool)).as("the examples need %s on PATH", tool).isTrue();
    }
    Path config = tmp.resolve("config.yaml");
    Files.writeString(config, page.config());
    Path work = Files.createDirectories(tmp.resolve("run"));
    Path script = tmp.resolve("examples.sh");
    Files.writeString(script, script(page.steps(), work));
    Path output = tmp.resolve("examples.out");

    try (NodeProcess node = new NodeProcess(tmp.resolve("data")).withArgs("-c", config.toString())) {
      node.start();
      ProcessBuilder bash = new ProcessBuilder("bash", "--noprofile", "--norc", script.toString()).directory(work.toFile())
          .redirectErrorStream(true).redirectOutput(output.toFile());
      bash.environment().put("RUNNEL", node.baseUrl());
      bash.environment().put("KEY", page.key());
      Process run = bash.start();
      if (!run.waitFor(35, TimeUnit.SECONDS)) {
        run.destroyForcibly();
        throw new AssertionError("the examples did not finish within 35 s; the end of their output:\n"
            + tail(Files.readString(output)));
      }
    }

    keepForLooking(work, output);
    List<String> failures = new ArrayList<>();
    List<Step> steps = page.steps();
    for (int i = 0; i < steps.size(); i++) {
      Step step = steps.get(i);
      Path rc = work.resolve(i + ".rc");
      if (!Files.exists(rc)) {
        failures.add("line " + step.line() + ": `" + step.firstLine() + "` did not run; the end of the bash output:\n"
            + tail(Files.readString(output)));
        break;
      }
      List<String> issues = new ArrayList<>();
      if (!Files.readString(rc).trim().equals("0")) {
        issues.add("exit status " + Files.readString(rc).trim());
      }
      String answered = "";
      if (step.isExample()) {
        Path status = work.resolve(i + ".status");
        if (!Files.exists(status)) {
          issues.add("curl was not called");
        } else {
          String[] statusAndType = Files.readString(status).trim().split(" ", 2);
          String type = statusAndType.length > 1 ? statusAndType[1] : "";
          String body = Files.readString(work.resolve(i + ".body"), StandardCharsets.UTF_8);
          answered = "\n    answered " + String.join(" ", statusAndType) + ": " + abbreviate(body);
          check(step, Integer.parseInt(statusAndType[0]), type, body, issues);
        }
      }
      if (!issues.isEmpty()) {
        failures.add("line " + step.line() + ": `" + step.firstLine() + "`: " + String.join("; ", issues) + answered);
      }
    }
    assertThat(failures).as("examples of %s that do not answer as documented (every answer, and the bash output: "
        + "server/target/http-api-doc/)", PAGE).isEmpty();
  }

  // ---- the checks

  private static void check(Step step, int status, String type, String body, List<String> issues) throws IOException {
    if (status != step.expect()) {
      issues.add("status " + status + ", documented " + step.expect());
    }
    if (step.answerInfo() == null) {
      if (!body.isEmpty()) {
        issues.add("a body where none is documented");
      }
      return;
    }
    if (step.answerInfo().equals("text")) {
      String documented = step.answer().replaceAll("(?s)\n\\.\\.\\.\n?$", "\n").replaceAll("(?s)^\\.\\.\\.\\n?$", "");
      if (!body.replace("\r\n", "\n").startsWith(documented)) {
        issues.add("the answer does not begin with the documented text");
      }
      return;
    }
    JsonNode documented = STRICT_JSON.readTree(step.answer());
    boolean problem = documented.isObject() && documented.path("type").asText().startsWith("urn:runnel:problem:");
    String expectedType = problem ? "application/problem+json" : "application/json";
    if (!type.startsWith(expectedType)) {
      issues.add("content type " + type + ", documented " + expectedType);
    }
    JsonNode actual;
    try {
      actual = STRICT_JSON.readTree(body);
    } catch (IOException e) {
      issues.add("the answer is not JSON: " + e.getMessage());
      return;
    }
    compare(documented, actual, "$", issues);
  }

  /** Field names everywhere (so the top level first), then values, except the values of run-dependent fields. */
  static void compare(JsonNode documented, JsonNode actual, String at, List<String> issues) {
    if (documented.isObject()) {
      if (!actual.isObject()) {
        issues.add(at + ": an object documented, " + actual.getNodeType() + " answered");
        return;
      }
      Set<String> names = names(documented);
      if (!names.equals(names(actual))) {
        issues.add(at + ": fields " + names + " documented, " + names(actual) + " answered");
      }
      for (String name : names) {
        if (!actual.has(name)) {
          continue;
        }
        if (RUN_DEPENDENT.contains(name)) {
          if (documented.get(name).isNull() != actual.get(name).isNull()) {
            issues.add(at + "." + name + ": " + documented.get(name) + " documented, " + actual.get(name) + " answered");
          }
        } else {
          compare(documented.get(name), actual.get(name), at + "." + name, issues);
        }
      }
    } else if (documented.isArray()) {
      if (!actual.isArray()) {
        issues.add(at + ": an array documented, " + actual.getNodeType() + " answered");
        return;
      }
      if (documented.size() != actual.size()) {
        issues.add(at + ": " + documented.size() + " items documented, " + actual.size() + " answered");
      }
      for (int i = 0; i < Math.min(documented.size(), actual.size()); i++) {
        compare(documented.get(i), actual.get(i), at + "[" + i + "]", issues);
      }
    } else if (!documented.equals(actual)) {
      issues.add(at + ": " + documented + " documented, " + actual + " answered");
    }
  }

  private static Set<String> names(JsonNode object) {
    Set<String> names = new LinkedHashSet<>();
    object.fieldNames().forEachRemaining(names::add);
    return names;
  }

  // ---- running the steps

  /**
   * One bash script: a {@code curl} function that keeps each answer's status, content type and body in files (and
   * prints the body, as curl would), then every step in order, each followed by a call that files its exit status and
   * answer under the step's index.
   */
  static String script(List<Step> steps, Path work) {
    StringBuilder s = new StringBuilder();
    s.append("set -o pipefail\n");
    s.append("__doc='").append(work).append("'\n");
    s.append("curl() {\n")
        .append("  : > \"$__doc/body\"\n")
        .append("  command curl --silent --show-error --max-time 20 -o \"$__doc/body\" -w '%{http_code} %{content_type}' "
            + "\"$@\" > \"$__doc/status\"\n")
        .append("  local rc=$?\n")
        .append("  cat \"$__doc/body\"\n")
        .append("  return $rc\n")
        .append("}\n");
    s.append("__done() {\n")
        .append("  local rc=$?\n")
        .append("  echo \"$rc\" > \"$__doc/$1.rc\"\n")
        .append("  if [ -f \"$__doc/status\" ]; then mv \"$__doc/status\" \"$__doc/$1.status\"; "
            + "mv \"$__doc/body\" \"$__doc/$1.body\"; fi\n")
        .append("}\n");
    for (int i = 0; i < steps.size(); i++) {
      Step step = steps.get(i);
      s.append("echo; echo '--- line ").append(step.line()).append("'\n");
      s.append(step.script()).append('\n');
      s.append("__done ").append(i).append('\n');
    }
    return s.toString();
  }

  /** The last run's answers and bash output, under target/http-api-doc/ (N.status, N.body: step N in page order). */
  private static void keepForLooking(Path work, Path output) throws IOException {
    Path target = Path.of("target");
    if (!Files.isDirectory(target)) {
      return;
    }
    Path kept = target.resolve("http-api-doc");
    if (Files.isDirectory(kept)) {
      try (var old = Files.list(kept)) {
        for (Path p : old.toList()) {
          Files.delete(p);
        }
      }
    }
    Files.createDirectories(kept);
    try (var files = Files.list(work)) {
      for (Path p : files.toList()) {
        Files.copy(p, kept.resolve(p.getFileName()));
      }
    }
    Files.copy(output, kept.resolve("bash.out"));
  }

  private static boolean onPath(String tool) throws Exception {
    Process p = new ProcessBuilder("bash", "-c", "command -v " + tool).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
  }

  // ---- reading the page

  static Page page() throws IOException {
    List<String> lines = Files.readAllLines(PAGE);
    List<Fence> fences = fences(lines);
    List<Step> steps = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    String config = null;
    String key = null;
    for (int f = 0; f < fences.size(); f++) {
      Fence fence = fences.get(f);
      String before = previousNonBlank(lines, fence.open());
      if (fence.info().equals("yaml") && before.equals("<!-- node-config -->")) {
        if (config != null) {
          problems.add("line " + (fence.open() + 1) + ": a second <!-- node-config --> block");
        }
        config = fence.text();
      }
      if (!fence.info().equals("sh")) {
        continue;
      }
      int line = fence.open() + 1;
      if (before.startsWith("<!-- not run")) {
        Matcher m = KEY.matcher(fence.text());
        if (m.find()) {
          key = m.group(1);
        }
        continue;
      }
      Matcher curls = CURL.matcher(fence.text());
      int count = 0;
      while (curls.find()) {
        count++;
      }
      if (count == 0) {
        steps.add(new Step(line, fence.text(), null, null, 0));
        continue;
      }
      if (count > 1) {
        problems.add("line " + line + ": " + count + " curl commands in one example (one per example)");
        continue;
      }
      for (String word : words(call(fence.text()))) {
        if (HARNESS_OPTIONS.contains(word)) {
          problems.add("line " + line + ": curl option " + word + " (the test sets the output and status itself)");
        }
      }
      int next = nextNonBlank(lines, fence.close() + 1);
      Fence answer = f + 1 < fences.size() && fences.get(f + 1).open() == next
          && Set.of("json", "text").contains(fences.get(f + 1).info()) ? fences.get(f + 1) : null;
      int after = answer == null ? next : nextNonBlank(lines, answer.close() + 1);
      Matcher expect = EXPECT.matcher(after < lines.size() ? lines.get(after).trim() : "");
      if (!expect.matches()) {
        problems.add("line " + line + ": the example's answer is not followed by <!-- expect: NNN -->");
        continue;
      }
      int status = Integer.parseInt(expect.group(1));
      if (answer == null && status != 204) {
        problems.add("line " + line + ": no documented answer (only a 204 has none)");
        continue;
      }
      if (answer != null && answer.info().equals("json")) {
        try {
          STRICT_JSON.readTree(answer.text());
        } catch (IOException e) {
          problems.add("line " + (answer.open() + 1) + ": the documented answer is not JSON: " + e.getMessage());
        }
      }
      steps.add(new Step(line, fence.text(), answer == null ? null : answer.info(), answer == null ? null : answer.text(),
          status));
    }
    if (config == null) {
      problems.add("no ```yaml block after <!-- node-config -->: the node's config for the examples");
    }
    if (key == null) {
      problems.add("no `export KEY=...` in a block after <!-- not run -->");
    }
    if (steps.stream().noneMatch(Step::isExample)) {
      problems.add("no examples");
    }
    return new Page(steps, config, key, problems);
  }

  private static List<Fence> fences(List<String> lines) {
    List<Fence> fences = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      Matcher open = FENCE.matcher(lines.get(i));
      if (!open.matches()) {
        continue;
      }
      int close = i + 1;
      while (close < lines.size() && !lines.get(close).trim().equals("```")) {
        close++;
      }
      String text = String.join("\n", lines.subList(i + 1, Math.min(close, lines.size())));
      fences.add(new Fence(open.group(1), text.isEmpty() ? "" : text + "\n", i, close));
      i = close;
    }
    return fences;
  }

  private static String previousNonBlank(List<String> lines, int index) {
    for (int i = index - 1; i >= 0; i--) {
      if (!lines.get(i).isBlank()) {
        return lines.get(i).trim();
      }
    }
    return "";
  }

  private static int nextNonBlank(List<String> lines, int from) {
    int i = from;
    while (i < lines.size() && lines.get(i).isBlank()) {
      i++;
    }
    return i;
  }

  // ---- operations

  /** Every operation of the OpenAPI document, as {@code METHOD /path/{param}}. */
  static Set<String> contractOperations() throws IOException {
    JsonNode paths = new ObjectMapper(new YAMLFactory()).readTree(CONTRACT.toFile()).get("paths");
    Set<String> operations = new TreeSet<>();
    for (Iterator<String> p = paths.fieldNames(); p.hasNext(); ) {
      String path = p.next();
      paths.get(path).fieldNames().forEachRemaining(method -> {
        if (METHODS.contains(method)) {
          operations.add(method.toUpperCase(java.util.Locale.ROOT) + " " + path);
        }
      });
    }
    return operations;
  }

  /** The curl command of an example, continuation lines joined: from {@code curl} to the block's end. */
  static String call(String script) {
    String joined = script.replace("\\\n", " ");
    Matcher m = CURL.matcher(joined);
    if (!m.find()) {
      throw new IllegalArgumentException("no curl in " + script);
    }
    return joined.substring(m.end() - "curl ".length()).trim();
  }

  /**
   * The contract's operation an example's curl command calls ({@code METHOD /path/{param}}), or null. The method is
   * {@code -X}'s, else POST with a body, else GET; the path is the URL's after {@code $RUNNEL}, without its query;
   * a shell variable in it stands for one path segment.
   */
  static String operationOf(String call, Set<String> contract) {
    List<String> words = words(call);
    String method = null;
    boolean body = false;
    String url = null;
    for (int i = 1; i < words.size(); i++) {
      String w = words.get(i);
      if (w.equals("|")) {
        break;
      }
      if ((w.equals("-X") || w.equals("--request")) && i + 1 < words.size()) {
        method = words.get(++i);
      } else if (w.startsWith("-X") && w.length() > 2) {
        method = w.substring(2);
      } else if (Set.of("-d", "--data", "--data-binary", "--data-raw", "--data-urlencode", "--json", "-F", "--form", "-T",
          "--upload-file").contains(w)) {
        body = true;
        i++;
      } else if (url == null && (w.startsWith("$RUNNEL") || w.startsWith("${RUNNEL}"))) {
        url = w.substring(w.startsWith("$RUNNEL") ? "$RUNNEL".length() : "${RUNNEL}".length());
      }
    }
    if (url == null) {
      return null;
    }
    if (method == null) {
      method = body ? "POST" : "GET";
    }
    String path = url.replaceAll("[?#].*$", "").replaceAll("\\)$", "");
    String best = null;
    int bestParams = Integer.MAX_VALUE;
    for (String operation : contract) {
      String[] parts = operation.split(" ", 2);
      if (!parts[0].equals(method)) {
        continue;
      }
      String regex = Pattern.quote(parts[1]).replaceAll("\\{[A-Za-z]+}", "\\\\E[^/]+\\\\Q");
      int params = parts[1].split("\\{", -1).length - 1;
      if (path.matches(regex) && params < bestParams) {
        best = operation;
        bestParams = params;
      }
    }
    return best;
  }

  /** Shell words, roughly: quotes removed (variables left as written), backslash escapes resolved. */
  static List<String> words(String command) {
    List<String> words = new ArrayList<>();
    StringBuilder word = new StringBuilder();
    boolean inWord = false;
    for (int i = 0; i < command.length(); i++) {
      char c = command.charAt(i);
      if (c == '\'') {
        int end = command.indexOf('\'', i + 1);
        end = end < 0 ? command.length() : end;
        word.append(command, i + 1, end);
        i = end;
        inWord = true;
      } else if (c == '"') {
        i++;
        while (i < command.length() && command.charAt(i) != '"') {
          if (command.charAt(i) == '\\' && i + 1 < command.length() && "\"\\$`".indexOf(command.charAt(i + 1)) >= 0) {
            i++;
          }
          word.append(command.charAt(i));
          i++;
        }
        inWord = true;
      } else if (c == '\\' && i + 1 < command.length()) {
        word.append(command.charAt(++i));
        inWord = true;
      } else if (Character.isWhitespace(c)) {
        if (inWord) {
          words.add(word.toString());
          word.setLength(0);
          inWord = false;
        }
      } else {
        word.append(c);
        inWord = true;
      }
    }
    if (inWord) {
      words.add(word.toString());
    }
    return words;
  }

  private static String tail(String s) {
    return s.length() <= 2000 ? s : "..." + s.substring(s.length() - 2000);
  }

  private static String abbreviate(String s) {
    return s.length() <= 4000 ? s : s.substring(0, 4000) + "... (" + s.length() + " characters)";
  }
}
