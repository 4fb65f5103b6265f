package dev.runnel.durability.impl;

import dev.runnel.durability.GroupStateStore;
import dev.runnel.durability.Incarnation;
import dev.runnel.durability.LeaseTable;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.PartitionLog;
import dev.runnel.durability.RetentionGuard;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.StoreOptions;
import dev.runnel.durability.TopicConfig;
import dev.runnel.durability.TopicCreation;
import dev.runnel.durability.TopicMetadata;
import dev.runnel.durability.TopicPartition;
import dev.runnel.durability.TopicStats;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import io.vertx.sqlclient.SqlClient;
import org.flywaydb.core.Flyway;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;

/**
 * The PostgreSQL {@link LogStore}: opens it (the migrations and the durability check), holds its connection pools, the
 * tail cache and its partition writers by {@link TopicPartition} (each on one of a few event-loop contexts), and
 * closes it; topics are its {@link TopicCatalog}'s, retention its {@link Retention}'s, lease renewal its
 * {@link LeaseRenewal}'s.
 *
 * <p>Threads: any; the writers map is concurrent, each writer works on its own context.
 */
public final class PgLogStore implements LogStore {

  private static final Logger LOG = LoggerFactory.getLogger(PgLogStore.class);
  private static final Set<String> DURABLE_SYNC_COMMIT = Set.of("on", "local", "remote_write", "remote_apply");

  private final StoreOptions options;
  private final SqlClient client;
  /** Reads of the log go on connections of their own, so they never wait behind commits. */
  private final SqlClient readClient;
  /** Lease acquisitions, each a short transaction that bounds how long it waits for the lease row's lock. */
  private final Pool leaseClient;
  private final TailCache cache;
  private final PgGroupStateStore groupState;
  private final GroupLeases groupLeases;
  private final List<ContextInternal> writerContexts = new ArrayList<>();
  /** The plain writes of all partitions, in shared statements per segment table. */
  private final SharedInserts sharedInserts;
  private final AtomicInteger nextContext = new AtomicInteger();
  private final Map<TopicPartition, PartitionWriter> writers = new ConcurrentHashMap<>();
  private final TopicCatalog catalog = new TopicCatalog(this);
  private final Retention retention;
  private final LeaseRenewal renewal;
  private volatile boolean closed;

  private PgLogStore(Vertx vertx, StoreOptions options) {
    this.options = new StoreOptions(options);
    PgConnectOptions connect = new PgConnectOptions()
        .setHost(options.getHost())
        .setPort(options.getPort())
        .setDatabase(options.getDatabase())
        .setUser(options.getUser())
        .setPipeliningLimit(options.getPipeliningLimit())
        .setCachePreparedStatements(true)
        .setPreparedStatementCacheMaxSize(1024)
        .addProperty("search_path", options.getSchema())
        .addProperty("application_name", "runnel " + options.getNodeId())
        // A paused process must not hold a lease row's lock (and so every writer of the partition) for long.
        .addProperty("idle_in_transaction_session_timeout", lockWaitMs(options) + "ms");
    if (options.getPassword() != null) {
      connect.setPassword(options.getPassword());  // none: trust authentication
    }
    this.client = PgBuilder.client()
        .with(new PoolOptions().setMaxSize(options.getPoolSize()).setName("runnel-writes"))  // metrics: pool_name
        .connectingTo(connect)
        .using(vertx)
        .build();
    // One query at a time on each read connection: vertx-pg-client's decoder (5.0.8) keeps cumulating into one
    // composite buffer, copied again every 16 chunks, until a network read ends exactly between two messages. With
    // large results pipelined back to back that rarely happens and reads slow down quadratically; a result that ends
    // the connection's traffic always drains it.
    this.readClient = PgBuilder.client()
        .with(new PoolOptions().setMaxSize(Math.max(2, options.getPoolSize())).setName("runnel-reads"))
        .connectingTo(new PgConnectOptions(connect).setPipeliningLimit(1)
            .addProperty("application_name", "runnel " + options.getNodeId() + " reads"))
        .using(vertx)
        .build();
    this.leaseClient = PgBuilder.pool()
        .with(new PoolOptions().setMaxSize(2).setName("runnel-leases"))
        .connectingTo(new PgConnectOptions(connect).setPipeliningLimit(1)
            .addProperty("application_name", "runnel " + options.getNodeId() + " leases"))
        .using(vertx)
        .build();
    this.cache = new TailCache(options.getTailCacheBytes(), options.getMeterRegistry());
    this.groupLeases = new GroupLeases(vertx, this);
    this.groupState = new PgGroupStateStore(client, groupLeases);
    int loops = Math.max(2, Runtime.getRuntime().availableProcessors() * 2);
    for (int i = 0; i < loops; i++) {
      writerContexts.add(((VertxInternal) vertx).createEventLoopContext());
    }
    this.sharedInserts = new SharedInserts(this, writerContexts);  // consecutive contexts: different event loops
    this.renewal = new LeaseRenewal(vertx, this, groupLeases);
    this.retention = new Retention(vertx, this, catalog);
  }

  public static Future<LogStore> open(Vertx vertx, StoreOptions options) {
    if (options.isUnixSocket() && !vertx.isNativeTransportEnabled()) {
      // vertx-pg-client (5.0.8) connects to a Unix-domain socket only on a native transport, though Vert.x's NIO could
      Throwable why = vertx.unavailableNativeTransportCause();
      return Future.failedFuture(new IllegalStateException("PostgreSQL's Unix-domain socket " + options.socketPath()
          + " can only be reached on Vert.x's native transport: create Vert.x with preferNativeTransport and "
          + "netty-transport-native-epoll (linux-x86_64) on the class path"
          + (why == null ? "" : " (native transport unavailable: " + why + ")"), why));
    }
    return vertx.executeBlocking(() -> {
      migrate(options);
      return null;
    }, false).map(v -> new PgLogStore(vertx, options));
  }

  /** Applies the schema migrations and checks durability, over JDBC (blocking). */
  static void migrate(StoreOptions options) throws SQLException {
    try {
      checkDurable(options);
    } catch (SQLException e) {
      throw refused(options, e);
    }
    Flyway.configure()
        .dataSource(options.jdbcUrl(), options.getUser(), options.getPassword())
        .schemas(options.getSchema())
        .createSchemas(true)
        .locations("classpath:db/migration")
        .load()
        .migrate();
  }

  private static void checkDurable(StoreOptions options) throws SQLException {
    Properties props = new Properties();
    props.setProperty("user", options.getUser());
    if (options.getPassword() != null) {
      props.setProperty("password", options.getPassword());
    }
    try (Connection c = DriverManager.getConnection(options.jdbcUrl(), props); Statement s = c.createStatement()) {
      String fsync = show(s, "fsync");
      String syncCommit = show(s, "synchronous_commit");
      String fullPageWrites = show(s, "full_page_writes");
      boolean durable = "on".equals(fsync) && DURABLE_SYNC_COMMIT.contains(syncCommit) && "on".equals(fullPageWrites);
      String settings = "fsync=" + fsync + ", synchronous_commit=" + syncCommit + ", full_page_writes=" + fullPageWrites;
      if (!durable && options.isRequireDurable()) {
        throw new IllegalStateException("PostgreSQL is not durable (" + settings + "); Runnel acknowledges only "
            + "records that survive a crash, so it refuses to run. Turn these on, or start in relaxed mode.");
      }
      if (durable) {
        LOG.info("PostgreSQL durability checked: {}", settings);
      } else {
        LOG.warn("RELAXED MODE: PostgreSQL is not durable ({}); acknowledged records can be lost in a crash", settings);
      }
    }
  }

  /** A login Postgres refused, said with what to set; other failures as they are. */
  private static SQLException refused(StoreOptions options, SQLException e) {
    String state = e.getSQLState() == null ? "" : e.getSQLState();
    String message = String.valueOf(e.getMessage());
    boolean login = state.startsWith("28") || message.contains("password") || message.contains("authentication");
    if (!login) {
      return e;
    }
    String where = options.isUnixSocket()
        ? "Set the user in postgres.url (postgresql://USER@/DB?host=" + options.getHost() + "), or postgres.user "
            + "(RUNNEL_POSTGRES_USER), and check the server's pg_hba.conf 'local' lines: with peer authentication the "
            + "operating-system user running Runnel must be that role, or be mapped to it in pg_ident.conf (peer map=...); "
            + "with password or scram-sha-256 authentication set postgres.password (RUNNEL_POSTGRES_PASSWORD) too"
        : "Set the user and password in postgres.url (postgresql://USER:PASSWORD@HOST:PORT/DB), or postgres.user and "
            + "postgres.password (RUNNEL_POSTGRES_USER, RUNNEL_POSTGRES_PASSWORD), and check that the server's "
            + "pg_hba.conf lets this user in from this host";
    return new SQLException("PostgreSQL at " + options.address() + " refused the login of user " + options.getUser()
        + " to database " + options.getDatabase() + " (" + message + "). " + where, state, e);
  }

  private static String show(Statement s, String setting) throws SQLException {
    try (ResultSet rs = s.executeQuery("SHOW " + setting)) {
      rs.next();
      return rs.getString(1);
    }
  }

  StoreOptions options() {
    return options;
  }

  SharedInserts sharedInserts() {
    return sharedInserts;
  }

  SqlClient client() {
    return client;
  }

  SqlClient readClient() {
    return readClient;
  }

  Pool leaseClient() {
    return leaseClient;
  }

  /**
   * How long a lease row's lock may be waited for (an acquisition's {@code lock_timeout}) or held by a transaction
   * that sits idle (the connections' {@code idle_in_transaction_session_timeout}): a third of a lease, at least a
   * second.
   */
  static long lockWaitMs(StoreOptions options) {
    return Math.max(1000, options.getLeaseMs() / 3);
  }

  TailCache cache() {
    return cache;
  }

  /** The store's partition writers. */
  Collection<PartitionWriter> writers() {
    return writers.values();
  }

  /** The writers of one topic. */
  List<PartitionWriter> writersOf(UUID topicId) {
    return writers.values().stream().filter(w -> w.topic.id().equals(topicId)).toList();
  }

  /** The partition's writer, or null if this store made none. */
  PartitionWriter writer(TopicPartition partition) {
    return writers.get(partition);
  }

  /** The topic was deleted: its writers fail what waits and are forgotten. */
  void abortWriters(UUID topicId, StorageException cause) {
    writers.entrySet().removeIf(e -> {
      if (e.getValue().topic.id().equals(topicId)) {
        e.getValue().abort(cause);
        return true;
      }
      return false;
    });
  }

  // ---- topics --------------------------------------------------------------------------------------------------

  @Override
  public Future<TopicCreation> createTopic(String name, int partitions, TopicConfig config) {
    return catalog.createTopic(name, partitions, config);
  }

  @Override
  public Future<TopicMetadata> topic(String name) {
    return catalog.topic(name);
  }

  @Override
  public Future<List<TopicMetadata>> topics() {
    return catalog.topics();
  }

  @Override
  public Future<TopicMetadata> updateTopicConfig(String name, UnaryOperator<TopicConfig> change) {
    return catalog.updateTopicConfig(name, change);
  }

  @Override
  public Future<TopicMetadata> growPartitions(UUID topicId, int partitions) {
    return catalog.growPartitions(topicId, partitions);
  }

  @Override
  public Future<TopicStats> stats(TopicMetadata topic) {
    return catalog.stats(topic);
  }

  @Override
  public Future<Boolean> deleteTopic(String name) {
    return catalog.deleteTopic(name);
  }

  @Override
  public PartitionLog partition(TopicMetadata topic, int partition) {
    if (partition < 0 || partition >= topic.partitions()) {
      throw new IllegalArgumentException("partition " + partition + " of " + topic.name() + " does not exist");
    }
    if (closed) {
      throw new StorageException(StorageFailure.UNAVAILABLE, "the store is closed");
    }
    TopicMetadata latest = catalog.latest(topic);
    PartitionWriter writer = writers.computeIfAbsent(new TopicPartition(topic.id(), partition),
        k -> new PartitionWriter(this, latest, partition,
            writerContexts.get(Math.floorMod(nextContext.getAndIncrement(), writerContexts.size()))));
    TopicMetadata now = catalog.changed(topic.id());
    if (now != null && writer.topic != now) {
      writer.topicChanged(now);  // a change raced with this writer's creation, or it was made from older metadata
    }
    return writer;
  }


  @Override
  public Set<TopicPartition> writing() {
    return Set.copyOf(writers.keySet());
  }

  @Override
  public Future<Void> release(TopicPartition partition) {
    PartitionWriter writer = writers.remove(partition);
    return writer == null ? Future.succeededFuture() : writer.close();
  }

  @Override
  public GroupStateStore groupState() {
    return groupState;
  }

  // ---- retention -----------------------------------------------------------------------------------------------

  @Override
  public void setRetentionGuard(RetentionGuard guard) {
    retention.setGuard(guard);
  }

  @Override
  public Future<Void> enforceRetention() {
    return retention.enforce();
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------------

  @Override
  public Future<TopicMetadata> refresh(TopicMetadata held) {
    return catalog.refresh(held);
  }

  @Override
  public Incarnation incarnation() {
    return options.getIncarnation();
  }

  @Override
  public Future<LeaseTable> leases() {
    Future<List<LeaseTable.Partition>> partitions = client.query(
        "SELECT p.topic_id, t.name, p.partition, p.leader, p.incarnation, p.epoch, p.lease_until FROM partitions p"
            + " JOIN topics t USING (topic_id) ORDER BY t.name, p.partition").execute()
        .map(rows -> {
          List<LeaseTable.Partition> all = new ArrayList<>(rows.size());
          rows.forEach(r -> all.add(new LeaseTable.Partition(r.getUUID(0), r.getString(1), r.getInteger(2),
              r.getString(3), r.getString(4), r.getLong(5), instant(r.getOffsetDateTime(6)))));
          return all;
        });
    Future<List<LeaseTable.Group>> groups = client.query(
        "SELECT group_name, owner, incarnation, epoch, lease_until FROM group_leases ORDER BY group_name").execute()
        .map(rows -> {
          List<LeaseTable.Group> all = new ArrayList<>(rows.size());
          rows.forEach(r -> all.add(new LeaseTable.Group(r.getString(0), r.getString(1), r.getString(2), r.getLong(3),
              instant(r.getOffsetDateTime(4)))));
          return all;
        });
    return Future.all(partitions, groups).map(v -> new LeaseTable(partitions.result(), groups.result()));
  }

  private static Instant instant(OffsetDateTime time) {
    return time == null ? null : time.toInstant();
  }

  @Override
  public Future<Void> ping() {
    String unwritable = options.getUnwritable().get();
    if (unwritable != null) {
      return Future.failedFuture(new StorageException(StorageFailure.UNAVAILABLE, unwritable));
    }
    return client.query("SELECT 1").execute().mapEmpty();
  }

  @Override
  public Future<Void> checkLive() {
    String problem = options.getUnrecoverable().get();
    return problem == null ? Future.succeededFuture()
        : Future.failedFuture(new StorageException(StorageFailure.UNAVAILABLE, problem));
  }

  @Override
  public Future<Void> close() {
    if (closed) {
      return Future.succeededFuture();
    }
    closed = true;
    renewal.stop();
    retention.stop();
    List<Future<Void>> closing = new ArrayList<>();
    writers.values().forEach(w -> closing.add(w.close()));
    closing.add(groupLeases.releaseAll());
    return Future.join(closing)
        .transform(ar -> Future.join(client.close(), readClient.close(), leaseClient.close()).<Void>mapEmpty())
        .andThen(ar -> {
          cache.clearAll();  // its blocks are direct memory
          cache.removeMeters();
        })
        .andThen(ar -> LOG.info("log store closed ({} partitions released)", closing.size()));
  }
}
