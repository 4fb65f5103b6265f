package dev.runnel.server;

import ch.qos.logback.classic.LoggerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code java -jar runnel.jar [options]}: runs a node until SIGTERM or Ctrl-C. */
@Command(name = "runnel", mixinStandardHelpOptions = true, version = "Runnel 0.1.0",
    description = "Runs a Runnel node: an event broker whose log lives in PostgreSQL.")
public final class RunnelMain implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(RunnelMain.class);

  @Option(names = {"-c", "--config"}, description = "YAML config file")
  Path configFile;

  @Option(names = "--data-dir", description = "Data directory (default ./data)")
  String dataDir;

  @Option(names = "--node-id", description = "Node id in partition leases (default: generated, kept in the data dir)")
  String nodeId;

  @Option(names = "--http-host", description = "HTTP listen address (default 0.0.0.0)")
  String httpHost;

  @Option(names = "--http-port", description = "HTTP port (default 8080)")
  Integer httpPort;

  @Option(names = "--amqp-port", description = "AMQP 1.0 port (default 5672)")
  Integer amqpPort;

  @Option(names = "--cluster-members", description = "Hazelcast members to join, host:port,host:port "
      + "(with cluster.enabled; default 127.0.0.1:5701)")
  String clusterMembers;

  @Option(names = "--pg-url", description = "External PostgreSQL URL, e.g. postgresql://user:pw@host:5432/db "
      + "(default: an embedded PostgreSQL under the data dir)")
  String pgUrl;

  public static void main(String[] args) {
    int exit = new CommandLine(new RunnelMain()).execute(args);
    if (exit != 0) {
      System.exit(exit);
    }
  }

  @Override
  public Integer call() throws InterruptedException {
    Map<String, String> flags = new LinkedHashMap<>();
    putIfSet(flags, "dataDir", dataDir);
    putIfSet(flags, "nodeId", nodeId);
    putIfSet(flags, "http.host", httpHost);
    putIfSet(flags, "http.port", httpPort == null ? null : httpPort.toString());
    putIfSet(flags, "amqp.port", amqpPort == null ? null : amqpPort.toString());
    putIfSet(flags, "postgres.url", pgUrl);
    putIfSet(flags, "cluster.members", clusterMembers);
    RunnelNode node;
    try {
      node = new RunnelNode(ConfigLoader.load(configFile, System.getenv(), flags));
    } catch (RuntimeException e) {
      LOG.error("invalid configuration: {}", e.getMessage());
      return 2;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Thread hook = new Thread(() -> {
      node.stop();
      stopped.countDown();
      ((LoggerContext) LoggerFactory.getILoggerFactory()).stop();
    }, "runnel-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      node.start();
    } catch (RuntimeException e) {
      LOG.error("Runnel could not start: {}", e.getMessage(), e);
      return 1;  // System.exit runs the hook, which stops what did start
    }
    stopped.await();
    return 0;
  }

  private static void putIfSet(Map<String, String> flags, String path, String value) {
    if (value != null) {
      flags.put(path, value);
    }
  }
}
