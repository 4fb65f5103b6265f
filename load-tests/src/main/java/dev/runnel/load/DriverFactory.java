package dev.runnel.load;

import dev.runnel.load.amqp.AmqpDriver;
import dev.runnel.load.driver.Driver;
import dev.runnel.load.http.HttpDriver;
import dev.runnel.load.http.StandardWebhookSigner;
import dev.runnel.load.http.WebhookDriver;

import java.lang.reflect.InvocationTargetException;
import java.net.URI;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens the driver a target URL names: {@code http://} Runnel (its producers sending webhook deliveries with
 * {@code --webhook}), {@code amqp://} Runnel over AMQP 1.0 (its topic prepared over {@code --admin-url}),
 * {@code kafka://} Kafka.
 */
@FunctionalInterface
public interface DriverFactory {

  String KAFKA_DRIVER = "dev.runnel.load.kafka.KafkaDriver";

  Driver open(String target, Workload workload);

  /** Fails with a usage error, before anything runs, when this factory cannot open the target. */
  default void check(String target) {
    nodes(target);
  }

  DriverFactory DEFAULT = new DriverFactory() {
    @Override
    public Driver open(String target, Workload workload) {
      check(target);
      List<URI> nodes = nodes(target);
      if (nodes.get(0).getScheme().equals("kafka")) {
        return kafka(nodes);
      }
      if (nodes.get(0).getScheme().equals("amqp")) {
        return new AmqpDriver(nodes, AmqpDriver.adminNodes(nodes, workload.adminNodes()), workload.apiKey,
            workload.valueKind == ValueCodec.Kind.JSON, workload.startFrom == Workload.StartFrom.LATEST,
            workload.amqpWindow);
      }
      HttpDriver http = new HttpDriver(nodes, workload.apiKey, workload.valueKind == ValueCodec.Kind.JSON,
          workload.startFrom == Workload.StartFrom.LATEST, workload.connections, workload.consumeWith);
      if (workload.webhook != null) {
        return new WebhookDriver(http, workload.webhook, new StandardWebhookSigner(workload.webhookSecret),
            Clock.systemUTC());
      }
      return http;
    }

    @Override
    public void check(String target) {
      String scheme = nodes(target).get(0).getScheme();
      switch (scheme) {
        case "http", "amqp" -> { }
        case "kafka" -> driverClass(KAFKA_DRIVER);
        default -> throw new UsageException("unknown target scheme '" + scheme + "' in " + target
            + " (use http://host:port, kafka://host:port or amqp://host:port)");
      }
    }
  };

  /** The nodes of one target: {@code http://a:8080,http://b:8080} (later nodes may leave out the scheme). */
  static List<URI> nodes(String target) {
    List<URI> nodes = new ArrayList<>();
    String scheme = null;
    for (String part : target.split(",")) {
      String p = part.trim();
      if (p.isEmpty()) {
        continue;
      }
      if (!p.contains("://")) {
        if (scheme == null) {
          throw new UsageException("a target must start with a scheme, e.g. http://localhost:8080 (got " + target + ")");
        }
        p = scheme + "://" + p;
      }
      URI uri;
      try {
        uri = URI.create(p);
      } catch (IllegalArgumentException e) {
        throw new UsageException("not a target URL: " + p);
      }
      if (uri.getHost() == null || uri.getPort() < 0) {
        throw new UsageException("a target needs host and port, e.g. http://localhost:8080 (got " + p + ")");
      }
      if (scheme != null && !scheme.equals(uri.getScheme())) {
        throw new UsageException("the nodes of one target must share a scheme (got " + target + ")");
      }
      scheme = uri.getScheme();
      nodes.add(uri);
    }
    if (nodes.isEmpty()) {
      throw new UsageException("empty target");
    }
    return nodes;
  }

  /** The Kafka driver lives in its own package (dev.runnel.load.kafka); it is looked up by name. */
  private static Driver kafka(List<URI> nodes) {
    StringBuilder bootstrap = new StringBuilder();
    for (URI n : nodes) {
      bootstrap.append(bootstrap.length() == 0 ? "" : ",").append(n.getHost()).append(':').append(n.getPort());
    }
    return byName(KAFKA_DRIVER, bootstrap.toString());
  }

  private static Class<?> driverClass(String className) {
    try {
      return Class.forName(className);
    } catch (ClassNotFoundException e) {
      throw new UsageException("kafka:// targets need " + className + ", which this build does not contain");
    }
  }

  /** A driver class with a {@code (String bootstrapServers)} constructor, found by name. */
  static Driver byName(String className, String bootstrap) {
    Class<?> type = driverClass(className);
    try {
      return (Driver) type.getConstructor(String.class).newInstance(bootstrap);
    } catch (InvocationTargetException e) {
      throw new LoadRun.ConnectionFailure("cannot open the Kafka driver: " + LoadRun.rootMessage(e.getCause()));
    } catch (ReflectiveOperationException | ClassCastException e) {
      throw new UsageException(className + " is not a Driver with a (String bootstrapServers) constructor: " + e);
    }
  }
}
