package dev.runnel.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A Runnel node in a child process, started with the README's run command, as a user would start it.
 */
final class NodeProcess implements AutoCloseable {

  static final ObjectMapper JSON = new ObjectMapper();
  static final Path PROJECT = Path.of(System.getProperty("runnel.readme", "../README.md")).toAbsolutePath().getParent();
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private final Path dataDir;
  private final Path log;
  /** Options for the node's JVM (e.g. {@code -Xmx1g}), placed before {@code -jar}. */
  private final List<String> jvmOptions;
  /** Environment added to the node's (configuration such as {@code RUNNEL_HTTP_MAX_HELD_BYTES}). */
  private final Map<String, String> environment;
  /**
   * A fresh port at every start, so an answer (or a refused connection) tells which run of the node it was — unless
   * {@link #keepPorts()} was asked for.
   */
  private volatile int port;
  private volatile int amqpPort;
  /** A restart listens on the same HTTP and AMQP ports as the run before (clients that reconnect to one URL). */
  private volatile boolean keepPorts;
  private volatile Process process;
  /** Arguments added to the run command at every start, after the data dir and HTTP flags. */
  private final List<String> extraArgs = new ArrayList<>();

  NodeProcess(Path dataDir) throws IOException {
    this(dataDir, List.of(), Map.of());
  }

  NodeProcess(Path dataDir, List<String> jvmOptions, Map<String, String> environment) throws IOException {
    this.dataDir = dataDir;
    this.jvmOptions = List.copyOf(jvmOptions);
    this.environment = Map.copyOf(environment);
    this.port = freePort();
    this.log = dataDir.resolveSibling(dataDir.getFileName() + "-node.log");
  }

  /** The README's run command (the part after the build), with the JVM running this test as {@code java}. */
  static List<String> readmeRunCommand() throws IOException {
    String readme = Files.readString(PROJECT.resolve("README.md"));
    String line = readme.lines().filter(l -> l.contains("java -jar")).findFirst()
        .orElseThrow(() -> new AssertionError("README.md shows no 'java -jar' run command"));
    String command = line.substring(line.indexOf("java -jar")).trim();
    List<String> args = new ArrayList<>(List.of(command.split("\\s+")));
    args.set(0, ProcessHandle.current().info().command().orElse("java"));
    return args;
  }

  /** More command-line arguments for every start, e.g. {@code -c config.yaml}. */
  NodeProcess withArgs(String... args) {
    extraArgs.addAll(List.of(args));
    return this;
  }

  /**
   * Every restart listens on the same HTTP and AMQP ports as the first start, for clients that reconnect to the URL
   * they were given (Qpid JMS {@code failover:}).
   */
  NodeProcess keepPorts() {
    keepPorts = true;
    return this;
  }

  int port() {
    return port;
  }

  int amqpPort() {
    return amqpPort;
  }

  String baseUrl() {
    return "http://127.0.0.1:" + port;
  }

  NodeProcess start() throws Exception {
    boolean restart = process != null;
    if (restart && !keepPorts) {
      port = freePort();  // a restart: a request still aimed at the old run finds nobody listening
    }
    if (amqpPort == 0 || (restart && !keepPorts)) {
      amqpPort = freePort();
    }
    List<String> command = readmeRunCommand();
    command.addAll(1, jvmOptions);  // after "java", before "-jar"
    command.addAll(List.of("--data-dir", dataDir.toString(), "--http-port", Integer.toString(port), "--http-host", "127.0.0.1"));
    command.addAll(extraArgs);
    ProcessBuilder builder = new ProcessBuilder(command).directory(PROJECT.toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    // A stop keeps idle keep-alive connections (this class's client keeps one) open until the grace ends: 2 s, not 30.
    builder.environment().put("RUNNEL_HTTP_SHUTDOWN_GRACE_MS", "2000");
    builder.environment().put("RUNNEL_AMQP_HOST", "127.0.0.1");
    builder.environment().put("RUNNEL_AMQP_PORT", Integer.toString(amqpPort));
    builder.environment().putAll(environment);
    process = builder.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new AssertionError("node exited with " + process.exitValue() + ":\n" + Files.readString(log));
      }
      try {
        if (get("/health/ready").statusCode() == 200) {
          return this;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError("node not ready within 120 s:\n" + Files.readString(log));
  }

  /** SIGTERM, and wait for a clean exit. */
  int terminate() throws Exception {
    process.destroy();
    if (!process.waitFor(90, TimeUnit.SECONDS)) {
      throw new AssertionError("node did not stop within 90 s of SIGTERM:\n" + Files.readString(log));
    }
    return process.exitValue();
  }

  /** The running (or last) node JVM's pid. */
  long pid() {
    return process.pid();
  }

  /**
   * SIGKILL: no shutdown hook runs; the embedded Postgres is left running on the data dir. Returns the exit status
   * once the process is gone (137 = 128 + SIGKILL).
   */
  int kill() throws Exception {
    process.destroyForcibly();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      throw new AssertionError("node still running 30 s after SIGKILL");
    }
    return process.exitValue();
  }

  /** The pid of the embedded Postgres' postmaster now running on this node's data dir. */
  long postmasterPid() throws IOException {
    return Long.parseLong(Files.readAllLines(dataDir.resolve("postgres/postmaster.pid")).get(0).trim());
  }

  String log() throws IOException {
    return Files.exists(log) ? Files.readString(log) : "";
  }

  HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return get(port, path);
  }

  /** A GET aimed at the run of the node that listens (or listened) on {@code port}. */
  static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> send(String method, String path, String json) throws IOException, InterruptedException {
    return send(port, method, path, json);
  }

  /** A request aimed at the run of the node that listens (or listened) on {@code port}. */
  static HttpResponse<String> send(int port, String method, String path, String json)
      throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(30))
        .header("content-type", "application/json")
        .method(method, HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** All records of a partition, read page by page from offset 0. */
  List<JsonNode> readAll(String topic, int partition) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    long offset = 0;
    while (true) {
      HttpResponse<String> r = get("/topics/" + topic + "/partitions/" + partition + "/records?offset=" + offset);
      if (r.statusCode() != 200) {
        throw new AssertionError("read failed: " + r.statusCode() + " " + r.body());
      }
      JsonNode body = JSON.readTree(r.body());
      if (body.get("records").isEmpty()) {
        return out;
      }
      body.get("records").forEach(out::add);
      offset = body.get("nextOffset").asLong();
    }
  }

  /** Makes sure nothing this node started outlives the test: the JVM and a Postgres left by a kill. */
  @Override
  public void close() throws Exception {
    if (process != null && process.isAlive()) {
      process.destroyForcibly();
      process.waitFor(30, TimeUnit.SECONDS);
    }
    Path pid = dataDir.resolve("postgres/postmaster.pid");
    if (Files.exists(pid)) {
      Optional<ProcessHandle> pg = ProcessHandle.of(Long.parseLong(Files.readAllLines(pid).get(0).trim()));
      if (pg.isPresent() && pg.get().isAlive()) {
        pg.get().destroy();  // SIGTERM: Postgres' smart shutdown
        pg.get().onExit().get(60, TimeUnit.SECONDS);
      }
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
