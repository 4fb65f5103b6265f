package dev.runnel.transport.http;

import dev.runnel.broker.auth.ApiKeys;

import java.time.InstantSource;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Options of the {@link HttpTransport}: where it listens, how many event loops serve it, its body limit and how long
 * a stop waits for the requests in flight.
 */
public class HttpTransportOptions {

  public static final String DEFAULT_HOST = "0.0.0.0";
  public static final int DEFAULT_PORT = 8080;
  public static final long DEFAULT_MAX_BODY_BYTES = 16L * 1024 * 1024;
  public static final long DEFAULT_SHUTDOWN_GRACE_MS = 30_000;
  public static final long DEFAULT_MAX_HELD_BYTES = 256L * 1024 * 1024;
  public static final int DEFAULT_MAX_RECORDS_PER_REQUEST = 10_000;
  public static final int DEFAULT_MAX_HEADER_BYTES = 8192;
  /** The CloudEvents partitioning extension's attribute. */
  public static final String DEFAULT_CLOUD_EVENTS_KEY_EXTENSION = "partitionkey";

  private String host = DEFAULT_HOST;
  private int port = DEFAULT_PORT;
  private long maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
  private int instances = Runtime.getRuntime().availableProcessors();
  private long shutdownGraceMs = DEFAULT_SHUTDOWN_GRACE_MS;
  private long maxHeldBytes = DEFAULT_MAX_HELD_BYTES;
  private int maxRecordsPerRequest = DEFAULT_MAX_RECORDS_PER_REQUEST;
  private int maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES;
  private String cloudEventsKeyExtension = DEFAULT_CLOUD_EVENTS_KEY_EXTENSION;
  private ApiKeys apiKeys = ApiKeys.OFF;
  private String tlsCertPath;
  private String tlsKeyPath;
  private Map<String, WebhookSource> webhooks = Map.of();
  private InstantSource clock = InstantSource.system();
  private Supplier<String> metricsScraper;
  private boolean publicMetrics;

  public HttpTransportOptions() {
  }

  public HttpTransportOptions(HttpTransportOptions other) {
    host = other.host;
    port = other.port;
    maxBodyBytes = other.maxBodyBytes;
    instances = other.instances;
    shutdownGraceMs = other.shutdownGraceMs;
    maxHeldBytes = other.maxHeldBytes;
    maxRecordsPerRequest = other.maxRecordsPerRequest;
    maxHeaderBytes = other.maxHeaderBytes;
    cloudEventsKeyExtension = other.cloudEventsKeyExtension;
    apiKeys = other.apiKeys;
    tlsCertPath = other.tlsCertPath;
    tlsKeyPath = other.tlsKeyPath;
    webhooks = other.webhooks;
    clock = other.clock;
    metricsScraper = other.metricsScraper;
    publicMetrics = other.publicMetrics;
  }

  /**
   * What {@code GET /metrics} answers: the node's meters in Prometheus's text format (0.0.4), or null when metrics
   * are off ({@code /metrics} is then 404 {@code NOT_FOUND}). Called on a worker thread, once per scrape.
   */
  public Supplier<String> getMetricsScraper() {
    return metricsScraper;
  }

  public HttpTransportOptions setMetricsScraper(Supplier<String> metricsScraper) {
    this.metricsScraper = metricsScraper;
    return this;
  }

  /** Whether {@code /metrics} answers without an API key; otherwise it needs {@code admin} on every topic ({@code *}). */
  public boolean isPublicMetrics() {
    return publicMetrics;
  }

  public HttpTransportOptions setPublicMetrics(boolean publicMetrics) {
    this.publicMetrics = publicMetrics;
    return this;
  }

  /** Signed webhook sources by name ({@code POST /webhooks/<name>}). */
  public Map<String, WebhookSource> getWebhooks() {
    return webhooks;
  }

  public HttpTransportOptions setWebhooks(Map<String, WebhookSource> webhooks) {
    this.webhooks = Map.copyOf(webhooks);
    return this;
  }

  /** The clock webhook timestamps are checked against. */
  public InstantSource getClock() {
    return clock;
  }

  public HttpTransportOptions setClock(InstantSource clock) {
    this.clock = java.util.Objects.requireNonNull(clock, "clock");
    return this;
  }

  /** The API keys requests must carry ({@code Authorization: Bearer <name>:<secret>}); {@link ApiKeys#OFF}: none. */
  public ApiKeys getApiKeys() {
    return apiKeys;
  }

  public HttpTransportOptions setApiKeys(ApiKeys apiKeys) {
    this.apiKeys = java.util.Objects.requireNonNull(apiKeys, "apiKeys");
    return this;
  }

  /** The listener's certificate chain (PEM); with {@link #getTlsKeyPath()}, the listener speaks HTTPS only. */
  public String getTlsCertPath() {
    return tlsCertPath;
  }

  /** The private key (PEM, PKCS#8 or PKCS#1) of {@link #getTlsCertPath()}. */
  public String getTlsKeyPath() {
    return tlsKeyPath;
  }

  /** Both or neither: TLS on the listener from PEM files. */
  public HttpTransportOptions setTls(String certPath, String keyPath) {
    if ((certPath == null) != (keyPath == null)) {
      throw new IllegalArgumentException("TLS needs both a certificate and a key file (http.tls.certPath, keyPath)");
    }
    this.tlsCertPath = certPath;
    this.tlsKeyPath = keyPath;
    return this;
  }

  /** The most bytes of request headers; more is answered 431 with a problem, and the connection closed. */
  public int getMaxHeaderBytes() {
    return maxHeaderBytes;
  }

  public HttpTransportOptions setMaxHeaderBytes(int maxHeaderBytes) {
    if (maxHeaderBytes < 1024) {
      throw new IllegalArgumentException("maxHeaderBytes must be at least 1024");
    }
    this.maxHeaderBytes = maxHeaderBytes;
    return this;
  }

  /** The most records one produce request may carry; more is 400 {@code INVALID_REQUEST}. Default 10,000. */
  public int getMaxRecordsPerRequest() {
    return maxRecordsPerRequest;
  }

  public HttpTransportOptions setMaxRecordsPerRequest(int maxRecordsPerRequest) {
    if (maxRecordsPerRequest < 1) {
      throw new IllegalArgumentException("maxRecordsPerRequest must be at least 1");
    }
    this.maxRecordsPerRequest = maxRecordsPerRequest;
    return this;
  }

  /**
   * The CloudEvents extension attribute whose value is a produced event's record key; an event without it is keyed by
   * its {@code subject}, and one with neither has no key. Default {@value #DEFAULT_CLOUD_EVENTS_KEY_EXTENSION} (the
   * CloudEvents partitioning extension).
   */
  public String getCloudEventsKeyExtension() {
    return cloudEventsKeyExtension;
  }

  public HttpTransportOptions setCloudEventsKeyExtension(String extension) {
    // CloudEvents attribute names: lower-case ASCII letters and digits; the spec asks for at most 20 of them.
    if (extension == null || !extension.matches("[a-z0-9]{1,20}")) {
      throw new IllegalArgumentException("cloudEventsKeyExtension must be a CloudEvents attribute name (1 to 20 "
          + "lower-case letters or digits), not '" + extension + "'");
    }
    this.cloudEventsKeyExtension = extension;
    return this;
  }

  /**
   * The request bytes the node holds at once over all connections (bodies being received, parsed or waiting for their
   * commit); a request that would go past it is answered 503 {@code OVERLOADED} with {@code Retry-After} before its
   * body is read. Default {@value #DEFAULT_MAX_HELD_BYTES}.
   */
  public long getMaxHeldBytes() {
    return maxHeldBytes;
  }

  public HttpTransportOptions setMaxHeldBytes(long maxHeldBytes) {
    if (maxHeldBytes < 1) {
      throw new IllegalArgumentException("maxHeldBytes must be at least 1");
    }
    this.maxHeldBytes = maxHeldBytes;
    return this;
  }

  /**
   * How long a stop keeps open connections, busy or idle, once the listener has closed: each request is answered
   * (with {@code Connection: close}) and its connection then closes; whatever is still open at the end is closed.
   * Default
   * {@value #DEFAULT_SHUTDOWN_GRACE_MS} ms.
   */
  public long getShutdownGraceMs() {
    return shutdownGraceMs;
  }

  public HttpTransportOptions setShutdownGraceMs(long shutdownGraceMs) {
    if (shutdownGraceMs < 0) {
      throw new IllegalArgumentException("shutdownGraceMs must not be negative");
    }
    this.shutdownGraceMs = shutdownGraceMs;
    return this;
  }

  /** The address to bind; default {@value #DEFAULT_HOST}. */
  public String getHost() {
    return host;
  }

  public HttpTransportOptions setHost(String host) {
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("host must not be empty");
    }
    this.host = host;
    return this;
  }

  /** The port to listen on; 0 picks a free port (see {@link HttpTransport#actualPort()}). Default {@value #DEFAULT_PORT}. */
  public int getPort() {
    return port;
  }

  public HttpTransportOptions setPort(int port) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port must be between 0 and 65535");
    }
    this.port = port;
    return this;
  }

  /** Largest request body accepted on any route; a larger one is refused with 413 BODY_TOO_LARGE. Default 16 MiB. */
  public long getMaxBodyBytes() {
    return maxBodyBytes;
  }

  public HttpTransportOptions setMaxBodyBytes(long maxBodyBytes) {
    if (maxBodyBytes < 1) {
      throw new IllegalArgumentException("maxBodyBytes must be at least 1");
    }
    this.maxBodyBytes = maxBodyBytes;
    return this;
  }

  /** Verticle instances sharing the port, each on its own event loop. Default: the number of cores. */
  public int getInstances() {
    return instances;
  }

  public HttpTransportOptions setInstances(int instances) {
    if (instances < 1) {
      throw new IllegalArgumentException("instances must be at least 1");
    }
    this.instances = instances;
    return this;
  }
}
