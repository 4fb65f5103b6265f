package dev.runnel.load;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.fasterxml.jackson.databind.MapperFeature;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.http.HttpDriver;
import dev.runnel.load.http.StandardWebhookSigner;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Everything one run does. The YAML workload file ({@code --workload}) sets any of these keys by name; command-line
 * flags override the file. Durations are {@code 500ms}, {@code 30s}, {@code 5m}, {@code 1h} or plain seconds.
 */
public class Workload {

  public enum KeyDistribution { UNIFORM, ZIPF }

  public enum StartFrom { LATEST, EARLIEST }

  public String topic = "runnel-load";
  public int size = 1024;
  public int partitions = 8;
  public int keys = 1000;
  public int producers = 4;
  /** Per group; 0 produces only. */
  public int consumers = 1;
  public int groups = 1;
  /** Records per second over all producers; null: as fast as it goes (closed loop). */
  public Double rate;
  public String duration = "30s";
  public String warmup = "5s";
  public int batch = 1;
  public int maxInFlight = 1000;
  /** Keep-alive connections per node for the producers (HTTP); requests beyond them wait for one. */
  public int connections = 64;
  /**
   * Unsettled messages per AMQP producer link (messages, where {@link #maxInFlight} counts sends); messages beyond it,
   * or beyond the node's credit, wait in the driver, and the wait counts in their latency.
   */
  public int amqpWindow = 1000;
  /**
   * The HTTP API ({@code http://host:port}, comma-separated for several nodes) that prepares the topic of
   * {@code amqp://} targets; null: each AMQP node's host on port 8080.
   */
  public String adminUrl;
  public String apiKey;
  /**
   * Runnel's producers send each record as a signed Standard Webhooks delivery to {@code POST /webhooks/<webhook>}
   * (the source's name in the node's config, whose topic must be {@link #topic}); null: produce requests.
   */
  public String webhook;
  /** The source's secret, {@code whsec_<base64>}, that signs the deliveries; needed with {@link #webhook}. */
  public String webhookSecret;
  public GroupMode mode = GroupMode.PARTITIONED;
  /**
   * How Runnel's consumers receive over HTTP: {@code fetch} (long polls, the default) or {@code sse} (one
   * Server-Sent Events stream per consumer); other targets are unaffected.
   */
  public HttpDriver.ConsumeWith consumeWith = HttpDriver.ConsumeWith.FETCH;
  /** Headers every record carries. */
  public Map<String, String> headers = new LinkedHashMap<>();
  public KeyDistribution keyDistribution = KeyDistribution.UNIFORM;
  public double zipfExponent = 1.0;
  public ValueCodec.Kind valueKind = ValueCodec.Kind.JSON;
  /** Where a new group starts: {@code latest} (the default; consumers join before the first send) or earliest. */
  public StartFrom startFrom = StartFrom.LATEST;
  /**
   * Catch-up read: the consumers join only after the producers stop, from the earliest offset, and the consume rate
   * is the backlog the groups drained per second (from their start until every group has every record).
   */
  public boolean catchUp;
  /** Group names are {@code <groupPrefix>-<i>}; absent: {@code runnel-load-<run id>}, a fresh group per run. */
  public String groupPrefix;
  /** After the producers stop, how long consumers may go without receiving anything before the run ends. */
  public String drainTimeout = "10s";
  /** How often the progress line is printed. */
  public String progressInterval = "5s";
  /** A partition without a success for longer than this has an outage in the result ({@link Outages}). */
  public String outageThreshold = "250ms";

  private static final ObjectMapper YAML = YAMLMapper.builder()
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(MapperFeature.ACCEPT_CASE_INSENSITIVE_ENUMS)
      .build();

  public static Workload load(Path file) throws IOException {
    Workload w = YAML.readValue(file.toFile(), Workload.class);
    return w == null ? new Workload() : w;
  }

  public Duration durationValue() {
    return parseDuration(duration, "duration");
  }

  public Duration warmupValue() {
    return parseDuration(warmup, "warmup");
  }

  public Duration drainTimeoutValue() {
    return parseDuration(drainTimeout, "drainTimeout");
  }

  public Duration outageThresholdValue() {
    return parseDuration(outageThreshold, "outageThreshold");
  }

  public Duration progressIntervalValue() {
    return parseDuration(progressInterval, "progressInterval");
  }

  /** Fails with a usage message on values no run can use. */
  public void check() {
    require(size >= 1, "--size must be at least 1");
    require(partitions >= 1, "--partitions must be at least 1");
    require(keys >= 1, "--keys must be at least 1");
    require(producers >= 1, "--producers must be at least 1");
    require(consumers >= 0, "--consumers must be 0 or more");
    require(groups >= 1, "--groups must be at least 1");
    require(rate == null || rate > 0, "--rate must be positive");
    require(batch >= 1, "--batch must be at least 1");
    require(maxInFlight >= 1, "--max-in-flight must be at least 1");
    require(connections >= 1, "--connections must be at least 1");
    require(amqpWindow >= 1, "--amqp-window must be at least 1");
    adminNodes();
    require(topic != null && !topic.isBlank(), "--topic must not be empty");
    require(apiKey == null || apiKey.indexOf(':') > 0, "--api-key must be NAME:SECRET");
    require(zipfExponent > 0, "zipfExponent must be positive");
    require(consumeWith != null, "--consume-with must be fetch or sse");
    require(webhookSecret == null || webhook != null, "--webhook-secret needs --webhook SOURCE");
    if (webhook != null) {
      require(!webhook.isBlank(), "--webhook must name the node's webhook source");
      require(webhookSecret != null, "--webhook needs --webhook-secret whsec_<base64> (the source's secret)");
      try {
        new StandardWebhookSigner(webhookSecret);
      } catch (IllegalArgumentException e) {
        throw new UsageException("--webhook-secret: " + e.getMessage());
      }
      require(valueKind == ValueCodec.Kind.JSON, "--webhook sends JSON payloads: valueKind binary does not apply");
      require(headers == null || headers.isEmpty(),
          "--webhook: a webhook delivery carries no record headers (the node sets them); drop the workload's headers");
    }
    durationValue();
    warmupValue();
    drainTimeoutValue();
    progressIntervalValue();
    outageThresholdValue();
  }

  /** The {@link #adminUrl} nodes, or null when none is set; a usage error unless each is {@code http://host:port}. */
  public java.util.List<java.net.URI> adminNodes() {
    if (adminUrl == null) {
      return null;
    }
    java.util.List<java.net.URI> nodes = DriverFactory.nodes(adminUrl);
    require(nodes.get(0).getScheme().equals("http"), "--admin-url must be http://host:port (got " + adminUrl + ")");
    return nodes;
  }

  static Duration parseDuration(String text, String what) {
    String s = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
    try {
      if (s.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2).trim()));
      }
      long unit = switch (s.isEmpty() ? ' ' : s.charAt(s.length() - 1)) {
        case 's' -> 1000;
        case 'm' -> 60_000;
        case 'h' -> 3_600_000;
        default -> 0;
      };
      if (unit == 0) {
        return Duration.ofMillis(Math.round(Double.parseDouble(s) * 1000));
      }
      return Duration.ofMillis(Math.round(Double.parseDouble(s.substring(0, s.length() - 1).trim()) * unit));
    } catch (NumberFormatException e) {
      throw new UsageException(what + " must be a duration such as 500ms, 30s, 5m (got '" + text + "')");
    }
  }

  private static void require(boolean ok, String message) {
    if (!ok) {
      throw new UsageException(message);
    }
  }
}
