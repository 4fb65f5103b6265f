package dev.runnel.load;

import dev.runnel.load.driver.Driver;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.http.HttpDriver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code run}: the workload against each target in turn (A B A B with --rounds), then the report. */
@Command(name = "run", sortOptions = false, mixinStandardHelpOptions = true,
    description = {"Runs the workload against each --target in turn and verifies what every group received.",
        "Exit 0: verified; 1: a target lost or reordered acknowledged records; 2: usage or connection failure.",
        "Flags override the --workload file; unset flags keep the file's value or the default shown."})
public final class RunCommand implements Callable<Integer> {

  @Option(names = "--target", required = true, paramLabel = "URL",
      description = "System under test: http://host:port (Runnel over HTTP), amqp://host:port (Runnel over AMQP"
          + " 1.0: SASL PLAIN with --api-key, else ANONYMOUS; the topic is prepared over --admin-url),"
          + " kafka://host:port (Kafka). Several nodes of one system comma-separated (http://a:8080,http://b:8080): clients are"
          + " spread over them and move on after a connection error, a 503 or UNKNOWN_MEMBER. Repeat the flag for"
          + " separate systems, run in turn.")
  List<String> targets;

  @Option(names = "--size", paramLabel = "BYTES", description = "Value size in bytes (default 1024).")
  Integer size;

  @Option(names = "--partitions", paramLabel = "N",
      description = "Partitions of the topic when it has to be created (default 8); an existing topic is used as it is.")
  Integer partitions;

  @Option(names = "--keys", paramLabel = "N", description = "Distinct record keys (default 1000).")
  Integer keys;

  @Option(names = "--producers", paramLabel = "N", description = "Producers (default 4), each with its own client.")
  Integer producers;

  @Option(names = "--consumers", paramLabel = "N",
      description = "Consumers per group (default 1); 0 produces only (nothing is verified as consumed).")
  Integer consumers;

  @Option(names = "--groups", paramLabel = "N",
      description = "Consumer groups, each receiving every record (fan-out; default 1).")
  Integer groups;

  @Option(names = "--rate", paramLabel = "MSGS_PER_S",
      description = "Records per second over all producers (open loop: latency from the intended send time). Absent:"
          + " as fast as it goes (closed loop, up to --max-in-flight outstanding per producer).")
  Double rate;

  @Option(names = "--duration", paramLabel = "DURATION", description = "Measured time, after the warmup (default 30s).")
  String duration;

  @Option(names = "--warmup", paramLabel = "DURATION",
      description = "Load before the measured time, left out of latency and throughput but verified (default 5s).")
  String warmup;

  @Option(names = "--batch", paramLabel = "N", description = "Records per produce request (default 1); over AMQP, messages per send, which waits for all their"
          + " outcomes.")
  Integer batch;

  @Option(names = "--max-in-flight", paramLabel = "N",
      description = "Outstanding requests per producer (default 1000). A send due while all are taken counts as late;"
          + " its latency still runs from its intended time.")
  Integer maxInFlight;

  @Option(names = "--connections", paramLabel = "N",
      description = "HTTP keep-alive connections per node for the producers (default 64); requests beyond them wait"
          + " for a connection, and the wait counts in their latency.")
  Integer connections;

  @Option(names = "--amqp-window", paramLabel = "N",
      description = "amqp:// targets: unsettled messages per producer link (default 1000, the node's default link"
          + " credit). A message goes while fewer are unsettled and the node has granted credit; the others wait in the"
          + " driver, and the wait counts in their latency. --max-in-flight still bounds the sends (of --batch"
          + " messages each) a producer has outstanding.")
  Integer amqpWindow;

  @Option(names = "--admin-url", paramLabel = "URL",
      description = "amqp:// targets: the node's HTTP API that prepares the topic (AMQP cannot create one), e.g."
          + " http://host:8080; several nodes comma-separated, each tried in turn. Default: each AMQP node's host on"
          + " port 8080.")
  String adminUrl;

  @Option(names = "--topic", paramLabel = "NAME", description = "Topic (default runnel-load).")
  String topic;

  @Option(names = "--api-key", paramLabel = "NAME:SECRET",
      description = "Credentials, sent as Authorization: Bearer NAME:SECRET over HTTP; over AMQP as SASL PLAIN (user"
          + " NAME, password SECRET).")
  String apiKey;

  @Option(names = "--webhook", paramLabel = "SOURCE",
      description = "http:// targets take each record as one signed Standard Webhooks delivery to POST"
          + " /webhooks/SOURCE (webhook-id fresh per record and kept on its retries, webhook-timestamp,"
          + " webhook-signature), instead of produce requests; the consumers are unchanged. The node's"
          + " webhooks.SOURCE must be scheme standard with --topic as its topic. Records are stored unkeyed, so no"
          + " per-key order is checked (loss and duplicates are). JSON values only; kafka:// targets are unaffected.")
  String webhook;

  @Option(names = "--webhook-secret", paramLabel = "whsec_BASE64",
      description = "The webhook source's secret (one of the node's webhooks.SOURCE.secrets) that signs each"
          + " delivery: HMAC-SHA256 over \"<id>.<timestamp>.<body>\" with the base64 key after whsec_.")
  String webhookSecret;

  @Option(names = "--result", paramLabel = "FILE.json", description = "Writes the JSON result there.")
  Path result;

  @Option(names = "--rounds", paramLabel = "N",
      description = "Runs all targets N times, alternating (A B A B), and prints the ratios to the first (default 1).")
  Integer rounds;

  @Option(names = "--mode", paramLabel = "partitioned|shared",
      description = "Group mode: partitioned (each partition to one member) or shared (any member any record;"
          + " default partitioned).")
  String mode;

  @Option(names = "--consume-with", paramLabel = "fetch|sse",
      description = "How the consumers of http:// targets receive: fetch (long-poll fetches, each answer's tokens acked"
          + " beside the next fetch; default) or sse (one Server-Sent Events stream per consumer, GET"
          + " /groups/{group}/members/{memberId}/events, tokens acked in batches, reopened with Last-Event-ID when it"
          + " breaks). Verified and timed the same way; kafka:// targets are unaffected.")
  String consumeWith;

  @Option(names = "--workload", paramLabel = "FILE.yaml",
      description = "Workload file for everything else: headers, keyDistribution (uniform|zipf), zipfExponent,"
          + " valueKind (json|binary), mode, consumeWith (fetch|sse), startFrom (latest|earliest), groupPrefix,"
          + " drainTimeout,"
          + " progressInterval, and any flag above by its camelCase name.")
  Path workloadFile;

  @Option(names = "--drain-timeout", paramLabel = "DURATION",
      description = "After the producers stop, how long the consumers may receive nothing before the run ends and"
          + " what is missing counts as lost (default 10s).")
  String drainTimeout;

  @Option(names = "--outage-threshold", paramLabel = "DURATION",
      description = "A partition with no acknowledged produce (or no record received) for longer than this has an"
          + " outage, listed with its wall-clock start and end in the JSON result's outages (default 250ms): with a"
          + " fault's time, the time to serve again after it.")
  String outageThreshold;

  @Option(names = "--catch-up",
      description = "Consumers join only after the producers stop, from the earliest offset; the consume rate is the"
          + " backlog drained per second, until every group has every record (a catch-up read).")
  Boolean catchUp;

  private final PrintStream out;
  private final DriverFactory drivers;
  private final boolean quiet;

  RunCommand(PrintStream out, DriverFactory drivers, boolean quiet) {
    this.out = out;
    this.drivers = drivers;
    this.quiet = quiet;
  }

  /** The workload the file and flags describe. */
  Workload workload() throws IOException {
    Workload w = workloadFile != null ? Workload.load(workloadFile) : new Workload();
    if (size != null) w.size = size;
    if (partitions != null) w.partitions = partitions;
    if (keys != null) w.keys = keys;
    if (producers != null) w.producers = producers;
    if (consumers != null) w.consumers = consumers;
    if (groups != null) w.groups = groups;
    if (rate != null) w.rate = rate;
    if (duration != null) w.duration = duration;
    if (warmup != null) w.warmup = warmup;
    if (batch != null) w.batch = batch;
    if (maxInFlight != null) w.maxInFlight = maxInFlight;
    if (connections != null) w.connections = connections;
    if (amqpWindow != null) w.amqpWindow = amqpWindow;
    if (adminUrl != null) w.adminUrl = adminUrl;
    if (topic != null) w.topic = topic;
    if (apiKey != null) w.apiKey = apiKey;
    if (webhook != null) w.webhook = webhook;
    if (webhookSecret != null) w.webhookSecret = webhookSecret;
    if (drainTimeout != null) w.drainTimeout = drainTimeout;
    if (outageThreshold != null) w.outageThreshold = outageThreshold;
    if (catchUp != null) w.catchUp = catchUp;
    if (mode != null) {
      try {
        w.mode = GroupMode.valueOf(mode.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new UsageException("--mode must be partitioned or shared (got " + mode + ")");
      }
    }
    if (consumeWith != null) {
      try {
        w.consumeWith = HttpDriver.ConsumeWith.valueOf(consumeWith.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new UsageException("--consume-with must be fetch or sse (got " + consumeWith + ")");
      }
    }
    if (w.catchUp) {
      w.startFrom = Workload.StartFrom.EARLIEST;  // the groups exist only after the records
    }
    w.check();
    return w;
  }

  private void report(List<TargetResult> results) throws IOException {
    out.print(Report.markdown(results));
    if (result != null) {
      Files.writeString(result, Report.json(results));
    }
  }

  @Override
  public Integer call() throws IOException {
    Workload w;
    try {
      w = workload();
    } catch (com.fasterxml.jackson.core.JacksonException e) {
      throw new UsageException("cannot read the workload file " + workloadFile + ": " + e.getOriginalMessage());
    }
    int n = rounds == null ? 1 : rounds;
    if (n < 1) {
      throw new UsageException("--rounds must be at least 1");
    }
    for (String t : targets) {
      drivers.check(t);  // a target that cannot run fails before anything runs
    }
    List<TargetResult> results = new ArrayList<>();
    try {
      for (int round = 1; round <= n; round++) {
        for (String target : targets) {
          try (Driver driver = drivers.open(target, w)) {
            results.add(new LoadRun(w, target, round, driver, out, quiet).run());
          }
        }
      }
    } catch (LoadRun.ConnectionFailure e) {
      if (!results.isEmpty()) {  // what finished before still counts
        report(results);
      }
      throw e;
    }
    report(results);
    boolean failed = false;
    for (TargetResult r : results) {
      if (r.failed()) {
        failed = true;
        out.printf(Locale.ROOT, "%nFAILED: %s (round %d) lost %d and reordered %d acknowledged record(s):%n",
            r.target(), r.round(), r.lost(), r.reordered());
      } else if (!r.problems().isEmpty()) {
        out.printf(Locale.ROOT, "%n%s (round %d):%n", r.target(), r.round());
      }
      for (String p : r.problems()) {
        out.println("  " + p);
      }
    }
    return failed ? LoadMain.VERIFICATION_FAILED : LoadMain.OK;
  }

}
