package dev.runnel.transport.http;

/**
 * Options of the {@link HttpTransport}: where it listens, how many event loops serve it, its body limit and how long
 * a stop waits for the requests in flight.
 */
public class HttpTransportOptions {

  public static final String DEFAULT_HOST = "0.0.0.0";
  public static final int DEFAULT_PORT = 8080;
  public static final long DEFAULT_MAX_BODY_BYTES = 16L * 1024 * 1024;
  public static final long DEFAULT_SHUTDOWN_GRACE_MS = 30_000;

  private String host = DEFAULT_HOST;
  private int port = DEFAULT_PORT;
  private long maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
  private int instances = Runtime.getRuntime().availableProcessors();
  private long shutdownGraceMs = DEFAULT_SHUTDOWN_GRACE_MS;

  public HttpTransportOptions() {
  }

  public HttpTransportOptions(HttpTransportOptions other) {
    host = other.host;
    port = other.port;
    maxBodyBytes = other.maxBodyBytes;
    instances = other.instances;
    shutdownGraceMs = other.shutdownGraceMs;
  }

  /**
   * How long a stop lets open connections finish: requests in flight are answered (with {@code Connection: close}),
   * then their connections close; whatever is still open at the end is closed. Default
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
