package dev.runnel.durability;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.InstantSource;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Options of a {@link LogStore}: where Postgres is and how it is reached ({@link PostgresOptions}), whose leases the
 * store holds ({@link LeaseOptions}), the bounds of the log's in-memory parts ({@link BoundsOptions}), and how the
 * store runs (retention's timer, the durability check, its clock, health and meters). Every setting has a getter and
 * a fluent setter here too, which reach the group's.
 *
 * <p>Threads: set before the store is opened, from one thread; {@link LogStore#open} takes a copy.
 */
public class StoreOptions {

  private final PostgresOptions postgres;
  private final LeaseOptions leases;
  private final BoundsOptions bounds;
  private long retentionCheckMs = 30_000;
  private boolean requireDurable = true;
  private InstantSource clock = InstantSource.system();
  private Supplier<String> unrecoverable = () -> null;
  private Supplier<String> unwritable = () -> null;
  private MeterRegistry meterRegistry = new CompositeMeterRegistry();

  public StoreOptions() {
    postgres = new PostgresOptions();
    leases = new LeaseOptions();
    bounds = new BoundsOptions();
  }

  public StoreOptions(StoreOptions other) {
    postgres = new PostgresOptions(other.postgres);
    leases = new LeaseOptions(other.leases);
    bounds = new BoundsOptions(other.bounds);
    retentionCheckMs = other.retentionCheckMs;
    requireDurable = other.requireDurable;
    clock = other.clock;
    unrecoverable = other.unrecoverable;
    unwritable = other.unwritable;
    meterRegistry = other.meterRegistry;
  }

  /** Where Postgres is and how it is reached; changing it changes these options. */
  public PostgresOptions getPostgres() { return postgres; }
  /** Whose leases the store holds and for how long; changing it changes these options. */
  public LeaseOptions getLeases() { return leases; }
  /** The bounds of the log's in-memory parts; changing it changes these options. */
  public BoundsOptions getBounds() { return bounds; }

  /** See {@link PostgresOptions#getHost()}. */
  public String getHost() { return postgres.getHost(); }
  public StoreOptions setHost(String host) { postgres.setHost(host); return this; }
  /** True when {@link #getHost()} is the directory of a Unix-domain socket rather than a host to reach over TCP. */
  public boolean isUnixSocket() { return postgres.isUnixSocket(); }
  public int getPort() { return postgres.getPort(); }
  public StoreOptions setPort(int port) { postgres.setPort(port); return this; }
  public String getDatabase() { return postgres.getDatabase(); }
  public StoreOptions setDatabase(String database) { postgres.setDatabase(database); return this; }
  public String getUser() { return postgres.getUser(); }
  public StoreOptions setUser(String user) { postgres.setUser(user); return this; }
  public String getPassword() { return postgres.getPassword(); }
  public StoreOptions setPassword(String password) { postgres.setPassword(password); return this; }
  /** The schema holding Runnel's tables; created by the migrations if missing. */
  public String getSchema() { return postgres.getSchema(); }
  public StoreOptions setSchema(String schema) { postgres.setSchema(schema); return this; }
  /** Connections to Postgres; appends of many partitions are pipelined on each. */
  public int getPoolSize() { return postgres.getPoolSize(); }
  public StoreOptions setPoolSize(int poolSize) { postgres.setPoolSize(poolSize); return this; }
  public int getPipeliningLimit() { return postgres.getPipeliningLimit(); }
  public StoreOptions setPipeliningLimit(int pipeliningLimit) { postgres.setPipeliningLimit(pipeliningLimit); return this; }
  /** Where the server is, for messages and logs: {@code host:port}, or the socket's path. */
  public String address() { return postgres.address(); }
  /** The server's Unix-domain socket, {@code <host>/.s.PGSQL.<port>}, as libpq and Vert.x's client name it. */
  public String socketPath() { return postgres.socketPath(); }
  /** See {@link PostgresOptions#jdbcUrl()}. */
  public String jdbcUrl() { return postgres.jdbcUrl(); }

  /** The stable node name this store's leases are held under. */
  public String getNodeId() { return leases.getNodeId(); }
  /** A new incarnation of {@code nodeId}, not proven to be its only one (see {@link Incarnation}). */
  public StoreOptions setNodeId(String nodeId) { leases.setNodeId(nodeId); return this; }
  public Incarnation getIncarnation() { return leases.getIncarnation(); }
  public StoreOptions setIncarnation(Incarnation incarnation) { leases.setIncarnation(incarnation); return this; }
  /** Length of a partition writer's lease; it is renewed every third of it. */
  public long getLeaseMs() { return leases.getLeaseMs(); }
  public StoreOptions setLeaseMs(long leaseMs) { leases.setLeaseMs(leaseMs); return this; }

  /** One byte budget for the committed batches kept in memory, shared by all partitions. */
  public long getTailCacheBytes() { return bounds.getTailCacheBytes(); }
  public StoreOptions setTailCacheBytes(long tailCacheBytes) { bounds.setTailCacheBytes(tailCacheBytes); return this; }
  /** Upper bound of one write (one stored batch). */
  public int getMaxWriteBytes() { return bounds.getMaxWriteBytes(); }
  public StoreOptions setMaxWriteBytes(int maxWriteBytes) { bounds.setMaxWriteBytes(maxWriteBytes); return this; }
  /** Bytes a partition may hold waiting for its write; beyond it appends fail with OVERLOADED. */
  public long getMaxQueuedBytesPerPartition() { return bounds.getMaxQueuedBytesPerPartition(); }
  public StoreOptions setMaxQueuedBytesPerPartition(long v) { bounds.setMaxQueuedBytesPerPartition(v); return this; }

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
    this.meterRegistry = Objects.requireNonNull(meterRegistry, "meterRegistry");
    return this;
  }

  /**
   * Where the PostgreSQL server is, who logs in, and the store's connections to it: the address, the login, the
   * schema, the pool size and how many statements are pipelined on a connection.
   *
   * <p>Threads: set before the store is opened, from one thread.
   */
  public static final class PostgresOptions {

    /** junixsocket's socket factory for the JDBC driver, taking the socket's path as its argument. */
    private static final String UNIX_SOCKET_FACTORY = "org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg";

    private String host = "127.0.0.1";
    private int port = 5432;
    private String database = "postgres";
    private String user = "postgres";
    private String password;
    private String schema = "runnel";
    private int poolSize = 4;
    private int pipeliningLimit = 256;

    public PostgresOptions() {
    }

    public PostgresOptions(PostgresOptions other) {
      host = other.host;
      port = other.port;
      database = other.database;
      user = other.user;
      password = other.password;
      schema = other.schema;
      poolSize = other.poolSize;
      pipeliningLimit = other.pipeliningLimit;
    }

    /**
     * A host name or address for TCP, or a directory (an absolute path: starts with {@code /}) holding the server's
     * Unix-domain socket {@code <dir>/.s.PGSQL.<port>}, as libpq reads {@code host}.
     */
    public String getHost() { return host; }
    public PostgresOptions setHost(String host) { this.host = host; return this; }
    /** True when {@link #getHost()} is the directory of a Unix-domain socket rather than a host to reach over TCP. */
    public boolean isUnixSocket() { return host != null && host.startsWith("/"); }
    public int getPort() { return port; }
    public PostgresOptions setPort(int port) { this.port = port; return this; }
    public String getDatabase() { return database; }
    public PostgresOptions setDatabase(String database) { this.database = database; return this; }
    public String getUser() { return user; }
    public PostgresOptions setUser(String user) { this.user = user; return this; }
    /** Null: none is sent (trust or peer authentication). */
    public String getPassword() { return password; }
    public PostgresOptions setPassword(String password) { this.password = password; return this; }
    /** The schema holding Runnel's tables; created by the migrations if missing. */
    public String getSchema() { return schema; }
    public PostgresOptions setSchema(String schema) { this.schema = schema; return this; }
    /** Connections to Postgres; appends of many partitions are pipelined on each. */
    public int getPoolSize() { return poolSize; }
    public PostgresOptions setPoolSize(int poolSize) { this.poolSize = poolSize; return this; }
    public int getPipeliningLimit() { return pipeliningLimit; }
    public PostgresOptions setPipeliningLimit(int pipeliningLimit) { this.pipeliningLimit = pipeliningLimit; return this; }

    /** Where the server is, for messages and logs: {@code host:port}, or the socket's path. */
    public String address() {
      return isUnixSocket() ? socketPath() : host + ":" + port;
    }

    /** The server's Unix-domain socket, {@code <host>/.s.PGSQL.<port>}, as libpq and Vert.x's client name it. */
    public String socketPath() {
      return (host.endsWith("/") ? host : host + "/") + ".s.PGSQL." + port;
    }

    /**
     * The JDBC URL of the migrations and the start-up checks. The PostgreSQL JDBC driver has no Unix-domain sockets
     * of its own: for a socket the URL hands junixsocket's socket factory the socket's path (the host name in it is
     * then unused), and turns TLS off as the server would (it never offers TLS on a Unix-domain socket).
     */
    public String jdbcUrl() {
      if (isUnixSocket()) {
        return "jdbc:postgresql://localhost:" + port + "/" + encode(database)
            + "?socketFactory=" + encode(UNIX_SOCKET_FACTORY) + "&socketFactoryArg=" + encode(socketPath())
            + "&sslmode=disable";
      }
      return "jdbc:postgresql://" + host + ":" + port + "/" + database;
    }

    private static String encode(String s) {
      return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }
  }

  /**
   * Whose leases the store holds (its {@link Incarnation}: the stable node name and this start's id) and how long a
   * lease lasts.
   *
   * <p>Threads: set before the store is opened, from one thread.
   */
  public static final class LeaseOptions {

    private Incarnation incarnation = Incarnation.start("node-1");
    private long leaseMs = 30_000;

    public LeaseOptions() {
    }

    public LeaseOptions(LeaseOptions other) {
      incarnation = other.incarnation;
      leaseMs = other.leaseMs;
    }

    /** The stable node name this store's leases are held under. */
    public String getNodeId() { return incarnation.node(); }
    /** A new incarnation of {@code nodeId}, not proven to be its only one (see {@link Incarnation}). */
    public LeaseOptions setNodeId(String nodeId) { this.incarnation = Incarnation.start(nodeId); return this; }
    public Incarnation getIncarnation() { return incarnation; }
    public LeaseOptions setIncarnation(Incarnation incarnation) {
      this.incarnation = Objects.requireNonNull(incarnation);
      return this;
    }
    /** Length of a partition writer's (and a group's) lease; it is renewed every third of it. */
    public long getLeaseMs() { return leaseMs; }
    public LeaseOptions setLeaseMs(long leaseMs) { this.leaseMs = leaseMs; return this; }
  }

  /**
   * The bounds of the log's in-memory parts: the tail cache's byte budget, the size of one write, and the bytes a
   * partition may hold waiting for its write.
   *
   * <p>Threads: set before the store is opened, from one thread.
   */
  public static final class BoundsOptions {

    private long tailCacheBytes = 64L * 1024 * 1024;
    private int maxWriteBytes = 8 * 1024 * 1024;
    private long maxQueuedBytesPerPartition = 32L * 1024 * 1024;

    public BoundsOptions() {
    }

    public BoundsOptions(BoundsOptions other) {
      tailCacheBytes = other.tailCacheBytes;
      maxWriteBytes = other.maxWriteBytes;
      maxQueuedBytesPerPartition = other.maxQueuedBytesPerPartition;
    }

    /** One byte budget for the committed batches kept in memory, shared by all partitions. */
    public long getTailCacheBytes() { return tailCacheBytes; }
    public BoundsOptions setTailCacheBytes(long tailCacheBytes) { this.tailCacheBytes = tailCacheBytes; return this; }
    /** Upper bound of one write (one stored batch). */
    public int getMaxWriteBytes() { return maxWriteBytes; }
    public BoundsOptions setMaxWriteBytes(int maxWriteBytes) { this.maxWriteBytes = maxWriteBytes; return this; }
    /** Bytes a partition may hold waiting for its write; beyond it appends fail with OVERLOADED. */
    public long getMaxQueuedBytesPerPartition() { return maxQueuedBytesPerPartition; }
    public BoundsOptions setMaxQueuedBytesPerPartition(long v) { this.maxQueuedBytesPerPartition = v; return this; }
  }
}
