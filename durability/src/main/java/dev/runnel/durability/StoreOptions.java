package dev.runnel.durability;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.InstantSource;
import java.util.Objects;
import java.util.function.Supplier;

/** Options of a {@link LogStore}: where Postgres is, and the bounds of the log's in-memory parts. */
public class StoreOptions {

  private String host = "127.0.0.1";
  private int port = 5432;
  private String database = "postgres";
  private String user = "postgres";
  private String password;
  private String schema = "runnel";
  private Incarnation incarnation = Incarnation.start("node-1");
  private int poolSize = 4;
  private int pipeliningLimit = 256;
  private long tailCacheBytes = 64L * 1024 * 1024;
  private int maxWriteBytes = 8 * 1024 * 1024;
  private long maxQueuedBytesPerPartition = 32L * 1024 * 1024;
  private long leaseMs = 30_000;
  private long retentionCheckMs = 30_000;
  private boolean requireDurable = true;
  private InstantSource clock = InstantSource.system();
  private Supplier<String> unrecoverable = () -> null;
  private Supplier<String> unwritable = () -> null;
  private MeterRegistry meterRegistry = new CompositeMeterRegistry();

  public StoreOptions() {
  }

  public StoreOptions(StoreOptions other) {
    host = other.host;
    port = other.port;
    database = other.database;
    user = other.user;
    password = other.password;
    schema = other.schema;
    incarnation = other.incarnation;
    poolSize = other.poolSize;
    pipeliningLimit = other.pipeliningLimit;
    tailCacheBytes = other.tailCacheBytes;
    maxWriteBytes = other.maxWriteBytes;
    maxQueuedBytesPerPartition = other.maxQueuedBytesPerPartition;
    leaseMs = other.leaseMs;
    retentionCheckMs = other.retentionCheckMs;
    requireDurable = other.requireDurable;
    clock = other.clock;
    unrecoverable = other.unrecoverable;
    unwritable = other.unwritable;
    meterRegistry = other.meterRegistry;
  }

  /**
   * A host name or address for TCP, or a directory (an absolute path: starts with {@code /}) holding the server's
   * Unix-domain socket {@code <dir>/.s.PGSQL.<port>}, as libpq reads {@code host}.
   */
  public String getHost() { return host; }
  public StoreOptions setHost(String host) { this.host = host; return this; }
  /** True when {@link #getHost()} is the directory of a Unix-domain socket rather than a host to reach over TCP. */
  public boolean isUnixSocket() { return host != null && host.startsWith("/"); }
  public int getPort() { return port; }
  public StoreOptions setPort(int port) { this.port = port; return this; }
  public String getDatabase() { return database; }
  public StoreOptions setDatabase(String database) { this.database = database; return this; }
  public String getUser() { return user; }
  public StoreOptions setUser(String user) { this.user = user; return this; }
  public String getPassword() { return password; }
  public StoreOptions setPassword(String password) { this.password = password; return this; }
  /** The schema holding Runnel's tables; created by the migrations if missing. */
  public String getSchema() { return schema; }
  public StoreOptions setSchema(String schema) { this.schema = schema; return this; }
  /** This node's identity in partition leases. */
  /** The stable node name this store's leases are held under. */
  public String getNodeId() { return incarnation.node(); }
  /** A new incarnation of {@code nodeId}, not proven to be its only one (see {@link Incarnation}). */
  public StoreOptions setNodeId(String nodeId) { this.incarnation = Incarnation.start(nodeId); return this; }
  public Incarnation getIncarnation() { return incarnation; }
  public StoreOptions setIncarnation(Incarnation incarnation) {
    this.incarnation = Objects.requireNonNull(incarnation);
    return this;
  }
  /** Connections to Postgres; appends of many partitions are pipelined on each. */
  public int getPoolSize() { return poolSize; }
  public StoreOptions setPoolSize(int poolSize) { this.poolSize = poolSize; return this; }
  public int getPipeliningLimit() { return pipeliningLimit; }
  public StoreOptions setPipeliningLimit(int pipeliningLimit) { this.pipeliningLimit = pipeliningLimit; return this; }
  /** One byte budget for the committed batches kept in memory, shared by all partitions. */
  public long getTailCacheBytes() { return tailCacheBytes; }
  public StoreOptions setTailCacheBytes(long tailCacheBytes) { this.tailCacheBytes = tailCacheBytes; return this; }
  /** Upper bound of one write (one stored batch). */
  public int getMaxWriteBytes() { return maxWriteBytes; }
  public StoreOptions setMaxWriteBytes(int maxWriteBytes) { this.maxWriteBytes = maxWriteBytes; return this; }
  /** Bytes a partition may hold waiting for its write; beyond it appends fail with OVERLOADED. */
  public long getMaxQueuedBytesPerPartition() { return maxQueuedBytesPerPartition; }
  public StoreOptions setMaxQueuedBytesPerPartition(long v) { this.maxQueuedBytesPerPartition = v; return this; }
  /** Length of a partition writer's lease; it is renewed every third of it. */
  public long getLeaseMs() { return leaseMs; }
  public StoreOptions setLeaseMs(long leaseMs) { this.leaseMs = leaseMs; return this; }
  /** How often retention looks for segments to drop; 0 turns the timer off (tests call it directly). */
  public long getRetentionCheckMs() { return retentionCheckMs; }
  public StoreOptions setRetentionCheckMs(long retentionCheckMs) { this.retentionCheckMs = retentionCheckMs; return this; }
  /** Refuse to open unless fsync, synchronous_commit and full_page_writes are on. */
  public boolean isRequireDurable() { return requireDurable; }
  public StoreOptions setRequireDurable(boolean requireDurable) { this.requireDurable = requireDurable; return this; }
  /** Append timestamps, segment buckets and retention read this clock; tests inject their own. */
  public InstantSource getClock() { return clock; }
  public StoreOptions setClock(InstantSource clock) { this.clock = clock; return this; }

  /**
   * Why the server behind this store is down for good (e.g. an embedded Postgres that could not be restarted), or
   * null while it is up or can come back by itself; {@link LogStore#checkLive()} reports it.
   */
  public Supplier<String> getUnrecoverable() { return unrecoverable; }
  public StoreOptions setUnrecoverable(Supplier<String> unrecoverable) { this.unrecoverable = unrecoverable; return this; }

  /**
   * Why appends must be refused now (e.g. the disk under the data dir is nearly full), or null: while it answers a
   * reason, every append fails {@code UNAVAILABLE} with it and {@link LogStore#ping()} fails, while reads and
   * group-state writes go on. Called on every append: it must be cheap (read a field another thread keeps).
   */
  public Supplier<String> getUnwritable() { return unwritable; }
  public StoreOptions setUnwritable(Supplier<String> unwritable) { this.unwritable = unwritable; return this; }

  /**
   * Where the storage meters go ({@code runnel.storage.*}, {@code runnel.tail.cache.*}; docs/operations.md, Metrics).
   * Default: a registry without backends, which keeps nothing (a store built directly, in a test or a benchmark).
   */
  public MeterRegistry getMeterRegistry() { return meterRegistry; }
  public StoreOptions setMeterRegistry(MeterRegistry meterRegistry) {
    this.meterRegistry = java.util.Objects.requireNonNull(meterRegistry, "meterRegistry");
    return this;
  }

  /** Where the server is, for messages and logs: {@code host:port}, or the socket's path. */
  public String address() {
    return isUnixSocket() ? socketPath() : host + ":" + port;
  }

  /** The server's Unix-domain socket, {@code <host>/.s.PGSQL.<port>}, as libpq and Vert.x's client name it. */
  public String socketPath() {
    return (host.endsWith("/") ? host : host + "/") + ".s.PGSQL." + port;
  }

  /**
   * The JDBC URL of the migrations and the start-up checks. The PostgreSQL JDBC driver has no Unix-domain sockets of
   * its own: for a socket the URL hands junixsocket's socket factory the socket's path (the host name in it is then
   * unused), and turns TLS off as the server would (it never offers TLS on a Unix-domain socket).
   */
  public String jdbcUrl() {
    if (isUnixSocket()) {
      return "jdbc:postgresql://localhost:" + port + "/" + encode(database)
          + "?socketFactory=" + encode(UNIX_SOCKET_FACTORY) + "&socketFactoryArg=" + encode(socketPath())
          + "&sslmode=disable";
    }
    return "jdbc:postgresql://" + host + ":" + port + "/" + database;
  }

  /** junixsocket's socket factory for the JDBC driver, taking the socket's path as its argument. */
  private static final String UNIX_SOCKET_FACTORY = "org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg";

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
