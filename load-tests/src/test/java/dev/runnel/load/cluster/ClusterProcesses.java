package dev.runnel.load.cluster;

import dev.runnel.durability.StoreOptions;
import dev.runnel.durability.test.TestPostgres;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * Runnel nodes clustered in child processes on loopback (each {@code -Xmx256m}, started from the server's jar with the
 * environment a user would set), sharing the test's Postgres under the test class's schema. Every process is this
 * object's own; {@link #close} kills what is left, by pid.
 */
final class ClusterProcesses implements AutoCloseable {

  static final Path RUNNEL_JAR = Path.of(System.getProperty("runnel.jar", "../server/target/runnel.jar"));
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private final TestPostgres pg;
  private final Path dir;
  private final List<Integer> hazelcastPorts = new ArrayList<>();
  private final List<Integer> httpPorts = new ArrayList<>();
  private final List<Integer> amqpPorts = new ArrayList<>();
  private final Process[] processes;
  /** Per node: the address its Hazelcast, event bus and HTTP bind to. */
  private final String[] hosts;
  /** Per node: what its command runs under (a network namespace), or nothing. */
  private final List<List<String>> prefixes = new ArrayList<>();
  /** Per node: its Postgres URL when not the test server's on loopback. */
  private final String[] pgUrls;

  ClusterProcesses(TestPostgres pg, Path dir, int size) throws IOException {
    this.pg = pg;
    this.dir = dir;
    this.processes = new Process[size];
    this.hosts = new String[size];
    this.pgUrls = new String[size];
    for (int i = 0; i < size; i++) {
      hazelcastPorts.add(freePort());
      httpPorts.add(freePort());
      amqpPorts.add(freePort());
      hosts[i] = "127.0.0.1";
      prefixes.add(List.of());
    }
  }

  /** Binds {@code node}'s Hazelcast, event bus and HTTP to {@code host} (before it starts). */
  ClusterProcesses host(int node, String host) {
    hosts[node] = host;
    return this;
  }

  /** Runs {@code node}'s command under {@code prefix} (a network namespace), reaching Postgres at {@code pgUrl}. */
  ClusterProcesses inside(int node, List<String> prefix, String pgUrl) {
    prefixes.set(node, List.copyOf(prefix));
    pgUrls[node] = pgUrl;
    return this;
  }

  int size() {
    return processes.length;
  }

  static String name(int node) {
    return "node-" + (char) ('a' + node);
  }

  /** The HTTP URL of every node, comma-separated: the load tool's target for this cluster. */
  String httpTarget() {
    return IntStream.range(0, size()).mapToObj(this::httpUrl).collect(Collectors.joining(","));
  }

  String httpUrl(int node) {
    return "http://" + hosts[node] + ":" + httpPorts.get(node);
  }

  /** Starts every node; returns once each answers ready. */
  ClusterProcesses startAll() throws Exception {
    for (int i = 0; i < size(); i++) {
      launch(i);
    }
    for (int i = 0; i < size(); i++) {
      awaitReady(i);
    }
    return this;
  }

  /** Starts (or restarts) one node and waits until it answers ready. */
  void start(int node) throws Exception {
    launch(node);
    awaitReady(node);
  }

  private void launch(int node) throws IOException {
    StoreOptions db = TestPostgres.server().storeOptions();
    String members = IntStream.range(0, size()).mapToObj(i -> hosts[i] + ":" + hazelcastPorts.get(i))
        .collect(Collectors.joining(","));
    String java = ProcessHandle.current().info().command().orElse("java");
    String pgUrl = pgUrls[node] != null ? pgUrls[node]
        : "postgresql://" + db.getUser() + "@" + db.getHost() + ":" + db.getPort() + "/" + db.getDatabase();
    List<String> command = new ArrayList<>(prefixes.get(node));
    command.addAll(List.of(java, "-Xmx256m", "-jar", RUNNEL_JAR.toAbsolutePath().toString(),
        "--data-dir", dir.resolve(name(node)).toString(), "--node-id", name(node),
        "--http-host", hosts[node], "--http-port", Integer.toString(httpPorts.get(node)),
        "--amqp-port", Integer.toString(amqpPorts.get(node)), "--cluster-members", members, "--pg-url", pgUrl));
    ProcessBuilder builder = new ProcessBuilder(command)
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log(node).toFile()));
    Map<String, String> env = builder.environment();
    env.put("RUNNEL_POSTGRES_PASSWORD", db.getPassword());
    env.put("RUNNEL_POSTGRES_SCHEMA", pg.schema());
    env.put("RUNNEL_CLUSTER_ENABLED", "true");
    env.put("RUNNEL_CLUSTER_PORT", Integer.toString(hazelcastPorts.get(node)));
    env.put("RUNNEL_CLUSTER_HOST", hosts[node]);
    env.put("RUNNEL_AMQP_HOST", "127.0.0.1");
    env.put("RUNNEL_HTTP_SHUTDOWN_GRACE_MS", "2000");
    env.put("RUNNEL_AMQP_SHUTDOWN_GRACE_MS", "2000");
    processes[node] = builder.start();
  }

  private void awaitReady(int node) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (System.nanoTime() < deadline) {
      if (!processes[node].isAlive()) {
        throw new AssertionError(name(node) + " exited with " + processes[node].exitValue() + ":\n" + tail(node));
      }
      try {
        if (get(node, "/health/ready").statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError(name(node) + " not ready within 120 s:\n" + tail(node));
  }

  HttpResponse<String> get(int node, String path) throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(URI.create(httpUrl(node) + path)).timeout(Duration.ofSeconds(30)).GET()
        .build(), HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> send(int node, String method, String path, String json)
      throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(URI.create(httpUrl(node) + path)).timeout(Duration.ofSeconds(30))
        .header("content-type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(json)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  boolean alive(int node) {
    return processes[node] != null && processes[node].isAlive();
  }

  /** SIGKILL: nothing of the node runs on. */
  void kill(int node) throws Exception {
    processes[node].destroyForcibly();
    if (!processes[node].waitFor(30, TimeUnit.SECONDS)) {
      throw new AssertionError(name(node) + " still running 30 s after SIGKILL");
    }
  }

  /** SIGTERM, and a clean exit within 90 s (0, or 143: the status of a JVM whose shutdown hook ran on SIGTERM). */
  void terminate(int node) throws Exception {
    processes[node].destroy();
    if (!processes[node].waitFor(90, TimeUnit.SECONDS)) {
      throw new AssertionError(name(node) + " did not stop within 90 s of SIGTERM:\n" + tail(node));
    }
    if (processes[node].exitValue() != 0 && processes[node].exitValue() != 143) {
      throw new AssertionError(name(node) + " exited with " + processes[node].exitValue() + ":\n" + tail(node));
    }
  }

  /** SIGSTOP or SIGCONT. */
  void signal(int node, String signal) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(processes[node].pid())).inheritIO().start();
    if (kill.waitFor() != 0) {
      throw new AssertionError("kill -" + signal + " failed");
    }
  }

  Path log(int node) {
    return dir.resolve(name(node) + ".log");
  }

  String tail(int node) throws IOException {
    if (!Files.exists(log(node))) {
      return "";
    }
    List<String> lines = Files.readAllLines(log(node));
    return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
  }

  // ---- what Postgres says ------------------------------------------------------------------------------------------

  /** Each partition's leader as its lease row names it (null: released). */
  Map<Integer, String> leaders(String topic) throws Exception {
    Map<Integer, String> leaders = new TreeMap<>();
    try (Connection c = pg.jdbc(); Statement s = c.createStatement();
         ResultSet rows = s.executeQuery("SELECT p.partition, p.leader FROM partitions p JOIN topics t USING (topic_id)"
             + " WHERE t.name = '" + topic + "'")) {
      while (rows.next()) {
        leaders.put(rows.getInt(1), rows.getString(2));
      }
    }
    return leaders;
  }

  /** Each group's owner as its lease row names it. */
  Map<String, String> groupOwners() throws Exception {
    Map<String, String> owners = new TreeMap<>();
    try (Connection c = pg.jdbc(); Statement s = c.createStatement();
         ResultSet rows = s.executeQuery("SELECT group_name, owner FROM group_leases")) {
      while (rows.next()) {
        owners.put(rows.getString(1), rows.getString(2));
      }
    }
    return owners;
  }

  /** Each group's owner, leaving out {@code earlier} (groups an earlier test left in the shared schema). */
  Map<String, String> groupOwnersExcept(Set<String> earlier) throws Exception {
    Map<String, String> owners = groupOwners();
    owners.keySet().removeAll(earlier);
    return owners;
  }

  /**
   * Per partition, the records whose writer epoch is lower than an earlier record's: a stale writer's write that
   * landed after a newer writer took over. Empty when there was never a second writer at once.
   */
  List<String> epochsGoingBack(String topic) throws Exception {
    List<String> back = new ArrayList<>();
    try (Connection c = pg.jdbc(); Statement s = c.createStatement();
         ResultSet rows = s.executeQuery("SELECT partition, record_offset, writer_epoch FROM runnel_records('" + topic
             + "') ORDER BY partition, record_offset")) {
      int partition = -1;
      long highest = -1;
      while (rows.next()) {
        if (rows.getInt(1) != partition) {
          partition = rows.getInt(1);
          highest = -1;
        }
        long epoch = rows.getLong(3);
        if (epoch < highest) {
          back.add(partition + "/" + rows.getLong(2) + " at epoch " + epoch + " after epoch " + highest);
        }
        highest = Math.max(highest, epoch);
      }
    }
    return back;
  }

  /** Kills whatever of this cluster still runs. */
  @Override
  public void close() throws Exception {
    for (Process p : processes) {
      if (p != null && p.isAlive()) {
        new ProcessBuilder("kill", "-CONT", Long.toString(p.pid())).start().waitFor();
        p.destroyForcibly();
        p.waitFor(30, TimeUnit.SECONDS);
      }
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
