package dev.runnel.transport.amqp;

import dev.runnel.broker.auth.ApiKeys;

import java.time.InstantSource;

/** Settings of the AMQP transport; the defaults are DESIGN.md section 7's. */
public class AmqpTransportOptions {

  private String host = "0.0.0.0";
  private int port = 5672;
  private int instances = Runtime.getRuntime().availableProcessors();
  private ApiKeys apiKeys = ApiKeys.OFF;
  private String tlsCertPath;
  private String tlsKeyPath;
  private int heartbeatMs = 10_000;
  private int linkCredit = 1_000;
  private int maxUnsettled = 100;
  private long consumerTimeoutMs = 1_800_000;
  private int maxFreeReleases = 5;
  private long sessionTimeoutMs = 30_000;
  private int maxMessageBytes = 64 * 1024 * 1024;
  private long shutdownGraceMs = 10_000;
  private String containerId = "runnel";
  private InstantSource clock = InstantSource.system();

  public AmqpTransportOptions() {
  }

  public AmqpTransportOptions(AmqpTransportOptions other) {
    host = other.host;
    port = other.port;
    instances = other.instances;
    apiKeys = other.apiKeys;
    tlsCertPath = other.tlsCertPath;
    tlsKeyPath = other.tlsKeyPath;
    heartbeatMs = other.heartbeatMs;
    linkCredit = other.linkCredit;
    maxUnsettled = other.maxUnsettled;
    consumerTimeoutMs = other.consumerTimeoutMs;
    maxFreeReleases = other.maxFreeReleases;
    sessionTimeoutMs = other.sessionTimeoutMs;
    maxMessageBytes = other.maxMessageBytes;
    shutdownGraceMs = other.shutdownGraceMs;
    containerId = other.containerId;
    clock = other.clock;
  }

  public String getHost() {
    return host;
  }

  public AmqpTransportOptions setHost(String host) {
    this.host = host;
    return this;
  }

  /** 0: any free port ({@link AmqpTransport#actualPort()} tells which). */
  public int getPort() {
    return port;
  }

  public AmqpTransportOptions setPort(int port) {
    this.port = port;
    return this;
  }

  /** Listener instances sharing the port, each on its own event loop. Default: the number of cores. */
  public int getInstances() {
    return instances;
  }

  public AmqpTransportOptions setInstances(int instances) {
    if (instances < 1) {
      throw new IllegalArgumentException("instances must be at least 1");
    }
    this.instances = instances;
    return this;
  }

  /** The API keys: SASL PLAIN takes a key's name and secret; with auth off, only ANONYMOUS is offered. */
  public ApiKeys getApiKeys() {
    return apiKeys;
  }

  public AmqpTransportOptions setApiKeys(ApiKeys apiKeys) {
    this.apiKeys = apiKeys;
    return this;
  }

  /** The listener's certificate chain (PEM); with {@link #getTlsKeyPath()}, the listener speaks AMQPS only. */
  public String getTlsCertPath() {
    return tlsCertPath;
  }

  public String getTlsKeyPath() {
    return tlsKeyPath;
  }

  public AmqpTransportOptions setTls(String certPath, String keyPath) {
    if ((certPath == null) != (keyPath == null)) {
      throw new IllegalArgumentException("TLS needs both a certificate (certPath) and its key (keyPath)");
    }
    this.tlsCertPath = certPath;
    this.tlsKeyPath = keyPath;
    return this;
  }

  /** Empty frames are sent at least this often; a peer silent for twice as long is dropped. */
  public int getHeartbeatMs() {
    return heartbeatMs;
  }

  public AmqpTransportOptions setHeartbeatMs(int heartbeatMs) {
    this.heartbeatMs = heartbeatMs;
    return this;
  }

  /** A producer link's window: its credit plus its transfers not yet committed never exceed it. */
  public int getLinkCredit() {
    return linkCredit;
  }

  public AmqpTransportOptions setLinkCredit(int linkCredit) {
    this.linkCredit = positive(linkCredit, "linkCredit");
    return this;
  }

  /** Deliveries a consumer link has outstanding at most, whatever credit its client grants. */
  public int getMaxUnsettled() {
    return maxUnsettled;
  }

  public AmqpTransportOptions setMaxUnsettled(int maxUnsettled) {
    this.maxUnsettled = positive(maxUnsettled, "maxUnsettled");
    return this;
  }

  /** How long a consumer may hold a delivery while its link lives; then it is released to it, counting an attempt. */
  public long getConsumerTimeoutMs() {
    return consumerTimeoutMs;
  }

  public AmqpTransportOptions setConsumerTimeoutMs(long consumerTimeoutMs) {
    this.consumerTimeoutMs = positive(consumerTimeoutMs, "consumerTimeoutMs");
    return this;
  }

  /** Times a record may come back by a consumer's disconnect with no attempt counted. */
  public int getMaxFreeReleases() {
    return maxFreeReleases;
  }

  public AmqpTransportOptions setMaxFreeReleases(int maxFreeReleases) {
    if (maxFreeReleases < 0) {
      throw new IllegalArgumentException("maxFreeReleases must not be negative");
    }
    this.maxFreeReleases = maxFreeReleases;
    return this;
  }

  /** The group session of a consumer link: the transport keeps it alive while the link lives. */
  public long getSessionTimeoutMs() {
    return sessionTimeoutMs;
  }

  public AmqpTransportOptions setSessionTimeoutMs(long sessionTimeoutMs) {
    this.sessionTimeoutMs = positive(sessionTimeoutMs, "sessionTimeoutMs");
    return this;
  }

  /**
   * Proton's hard limit on one transfer, advertised at attach; a transfer above it detaches its link. Keep it far
   * above every topic's {@code maxRecordBytes}: a record over that limit is rejected and the link lives on.
   */
  public int getMaxMessageBytes() {
    return maxMessageBytes;
  }

  public AmqpTransportOptions setMaxMessageBytes(int maxMessageBytes) {
    this.maxMessageBytes = positive(maxMessageBytes, "maxMessageBytes");
    return this;
  }

  /** How long a stop waits for commits in flight and releases before it closes the connections. */
  public long getShutdownGraceMs() {
    return shutdownGraceMs;
  }

  public AmqpTransportOptions setShutdownGraceMs(long shutdownGraceMs) {
    this.shutdownGraceMs = shutdownGraceMs;
    return this;
  }

  /** The container id the server opens connections with (the node's name). */
  public String getContainerId() {
    return containerId;
  }

  public AmqpTransportOptions setContainerId(String containerId) {
    this.containerId = containerId;
    return this;
  }

  /** The broker's clock: a delivery's lease deadline is read on it. */
  public InstantSource getClock() {
    return clock;
  }

  public AmqpTransportOptions setClock(InstantSource clock) {
    this.clock = clock;
    return this;
  }

  private static int positive(int value, String name) {
    if (value < 1) {
      throw new IllegalArgumentException(name + " must be at least 1");
    }
    return value;
  }

  private static long positive(long value, String name) {
    if (value < 1) {
      throw new IllegalArgumentException(name + " must be at least 1");
    }
    return value;
  }
}
