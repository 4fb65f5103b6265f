package dev.runnel.durability.impl;

import dev.runnel.durability.GroupStateStore;
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
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.Tuple;
import org.flywaydb.core.Flyway;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;

/** The PostgreSQL {@link LogStore}: topics, partition writers, leases and retention. */
public final class PgLogStore implements LogStore {

  private static final Logger LOG = LoggerFactory.getLogger(PgLogStore.class);
  private static final Set<String> DURABLE_SYNC_COMMIT = Set.of("on", "local", "remote_write", "remote_apply");

  private final Vertx vertx;
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
  private final AtomicInteger nextContext = new AtomicInteger();
  private final Map<TopicPartition, PartitionWriter> writers = new ConcurrentHashMap<>();
  /** The latest metadata of each topic this store changed (config, growth), for writers created from an older one. */
  private final Map<UUID, TopicMetadata> changedTopics = new ConcurrentHashMap<>();
  private final long renewTimer;
  private final long retentionTimer;
  private volatile boolean closed;
  private volatile RetentionGuard retentionGuard = (topic, starts) -> Future.succeededFuture();

  private PgLogStore(Vertx vertx, StoreOptions options) {
    this.vertx = vertx;
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
    long renewEvery = Math.max(1, options.getLeaseMs() / 3);
    this.renewTimer = vertx.setPeriodic(renewEvery, id -> renewLeases());
    this.retentionTimer = options.getRetentionCheckMs() > 0
        ? vertx.setPeriodic(options.getRetentionCheckMs(), id -> enforceRetention()
            .onFailure(err -> LOG.warn("retention pass failed: {}", err.getMessage())))
        : -1;
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

  // ---- topics --------------------------------------------------------------------------------------------------

  @Override
  public Future<TopicCreation> createTopic(String name, int partitions, TopicConfig config) {
    UUID id = UUID.randomUUID();
    return client.preparedQuery("""
            WITH t AS (INSERT INTO topics (topic_id, name, partitions, config) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (name) DO NOTHING RETURNING topic_id, partitions)
            INSERT INTO partitions (topic_id, partition)
            SELECT t.topic_id, g FROM t, generate_series(0, t.partitions - 1) g""")
        .execute(Tuple.of(id, name, partitions, config.toJson()))
        .compose(v -> topic(name))
        .map(topic -> new TopicCreation(topic.id().equals(id), topic));
  }

  @Override
  public Future<TopicMetadata> topic(String name) {
    return client.preparedQuery("SELECT topic_id, name, partitions, config FROM topics WHERE name = $1")
        .execute(Tuple.of(name))
        .map(rows -> rows.rowCount() == 0 ? null : toTopic(rows.iterator().next()));
  }

  @Override
  public Future<List<TopicMetadata>> topics() {
    return client.preparedQuery("SELECT topic_id, name, partitions, config FROM topics ORDER BY name")
        .execute()
        .map(rows -> {
          List<TopicMetadata> list = new ArrayList<>();
          rows.forEach(r -> list.add(toTopic(r)));
          return list;
        });
  }

  private static TopicMetadata toTopic(Row row) {
    return new TopicMetadata(row.getUUID("topic_id"), row.getString("name"), row.getInteger("partitions"),
        TopicConfig.fromJson(json(row.getValue("config"))));
  }

  private static JsonObject json(Object config) {
    return config instanceof JsonObject j ? j : new JsonObject(String.valueOf(config));
  }

  /** How often an update is tried again when other updates of the same topic keep landing first. */
  private static final int UPDATE_ATTEMPTS = 10;

  @Override
  public Future<TopicMetadata> updateTopicConfig(String name, UnaryOperator<TopicConfig> change) {
    return updateTopicConfig(name, change, 1);
  }

  private Future<TopicMetadata> updateTopicConfig(String name, UnaryOperator<TopicConfig> change, int attempt) {
    return client.preparedQuery("SELECT topic_id, name, partitions, config FROM topics WHERE name = $1")
        .execute(Tuple.of(name))
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return Future.failedFuture(new StorageException(StorageFailure.TOPIC_NOT_FOUND, "topic " + name
                + " does not exist"));
          }
          Row row = rows.iterator().next();
          JsonObject stored = json(row.getValue("config"));
          TopicMetadata current = toTopic(row);
          TopicConfig updated;
          try {
            updated = change.apply(current.config());
          } catch (RuntimeException e) {
            return Future.failedFuture(e);
          }
          if (updated.equals(current.config())) {
            return Future.succeededFuture(current);
          }
          boolean window = updated.dedupWindowMs() != current.config().dedupWindowMs();
          // Compared with the stored JSON itself, so the update lands only on the config that change saw.
          String sql = window ? """
              WITH t AS (UPDATE topics SET config = $3 WHERE topic_id = $1 AND config = $2 RETURNING topic_id),
                   k AS (UPDATE dedup_keys d SET expires_at = d.record_timestamp + $4 FROM t
                          WHERE d.topic_id = t.topic_id RETURNING 1)
              SELECT (SELECT count(*) FROM t) AS updated, (SELECT count(*) FROM k) AS keys"""
              : """
              WITH t AS (UPDATE topics SET config = $3 WHERE topic_id = $1 AND config = $2 RETURNING topic_id)
              SELECT (SELECT count(*) FROM t) AS updated""";
          Tuple params = Tuple.of(current.id(), stored, updated.toJson());
          if (window) {
            params.addLong(updated.dedupWindowMs());
          }
          return client.preparedQuery(sql).execute(params).compose(result -> {
            if (result.iterator().next().getLong("updated") == 1) {
              TopicMetadata topic = new TopicMetadata(current.id(), current.name(), current.partitions(), updated);
              return topicChanged(topic).map(topic);
            }
            if (attempt >= UPDATE_ATTEMPTS) {
              return Future.failedFuture(new StorageException(StorageFailure.UNAVAILABLE, "the config of topic "
                  + name + " kept changing under this update; nothing was changed: try again"));
            }
            return updateTopicConfig(name, change, attempt + 1);  // another update landed first: apply to it
          });
        });
  }

  @Override
  public Future<TopicMetadata> growPartitions(UUID topicId, int partitions) {
    // As the lease acquisition does: the sub-select locks the row before the update, so two growths of one topic
    // take turns and each sees the count the other left.
    return client.preparedQuery("""
            WITH t AS (UPDATE topics u SET partitions = $2
                         FROM (SELECT topic_id, partitions FROM topics WHERE topic_id = $1 FOR UPDATE) old
                        WHERE u.topic_id = old.topic_id AND old.partitions < $2
                       RETURNING u.topic_id, old.partitions AS before),
                 p AS (INSERT INTO partitions (topic_id, partition)
                       SELECT t.topic_id, g FROM t, generate_series(t.before, $2 - 1) g RETURNING 1),
                 o AS (INSERT INTO group_offsets (group_name, topic_id, partition, committed_offset, skipped)
                       SELECT x.group_name, t.topic_id, g, 0, 0
                         FROM t, generate_series(t.before, $2 - 1) g,
                              (SELECT DISTINCT group_name FROM group_offsets WHERE topic_id = $1) x
                       ON CONFLICT DO NOTHING RETURNING 1)
            SELECT (SELECT count(*) FROM t) AS grown, (SELECT count(*) FROM p) AS partitions,
                   (SELECT count(*) FROM o) AS positions""")
        .execute(Tuple.of(topicId, partitions))
        .compose(rows -> client.preparedQuery("SELECT topic_id, name, partitions, config FROM topics WHERE topic_id = $1")
            .execute(Tuple.of(topicId)))
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return Future.failedFuture(new StorageException(StorageFailure.TOPIC_NOT_FOUND, "the topic was deleted"));
          }
          TopicMetadata topic = toTopic(rows.iterator().next());
          return topicChanged(topic).map(topic);
        });
  }

  /** The topic's writers use its new metadata once this completes. */
  private Future<Void> topicChanged(TopicMetadata topic) {
    changedTopics.put(topic.id(), topic);  // first: a writer created from here on starts with it (see partition)
    List<Future<Void>> applied = new ArrayList<>();
    for (PartitionWriter w : writers.values()) {
      if (w.topic.id().equals(topic.id())) {
        applied.add(w.topicChanged(topic));
      }
    }
    return Future.all(applied).mapEmpty();
  }

  @Override
  public Future<TopicStats> stats(TopicMetadata topic) {
    Future<List<TopicStats.Partition>> partitions = readClient.preparedQuery("""
            SELECT p.partition, p.log_start_offset,
                   greatest(p.log_start_offset, coalesce(max(s.last_offset) + 1, p.log_start_offset)) AS end_offset,
                   coalesce(sum(s.bytes), 0)::bigint AS bytes, count(s.segment_no)::int AS segments,
                   coalesce(min(s.oldest_timestamp), -1) AS oldest, coalesce(max(s.newest_timestamp), -1) AS newest
              FROM partitions p LEFT JOIN runnel_segment_stats($1) s ON s.partition = p.partition
             WHERE p.topic_id = $1
             GROUP BY p.partition, p.log_start_offset
             ORDER BY p.partition""")
        .execute(Tuple.of(topic.id()))
        .map(rows -> {
          List<TopicStats.Partition> list = new ArrayList<>();
          for (Row r : rows) {
            list.add(new TopicStats.Partition(r.getInteger("partition"), r.getLong("log_start_offset"),
                r.getLong("end_offset"), r.getLong("bytes"), r.getInteger("segments"), r.getLong("oldest"),
                r.getLong("newest")));
          }
          return list;
        });
    Future<long[]> segments = readClient.preparedQuery("""
            SELECT coalesce(sum(coalesce(pg_total_relation_size(to_regclass(table_name)), 0)), 0)::bigint, count(*)
              FROM segments WHERE topic_id = $1""")
        .execute(Tuple.of(topic.id()))
        .map(rows -> new long[] {rows.iterator().next().getLong(0), rows.iterator().next().getLong(1)});
    return Future.all(partitions, segments).map(v -> new TopicStats(partitions.result(), segments.result()[0],
        (int) segments.result()[1]));
  }

  @Override
  public Future<Boolean> deleteTopic(String name) {
    return topic(name).compose(topic -> {
      if (topic == null) {
        return Future.succeededFuture(false);
      }
      StorageException gone = new StorageException(StorageFailure.TOPIC_NOT_FOUND, "topic " + name + " was deleted");
      changedTopics.remove(topic.id());
      writers.entrySet().removeIf(e -> {
        if (e.getValue().topic.id().equals(topic.id())) {
          e.getValue().abort(gone);
          return true;
        }
        return false;
      });
      WriteMeters.remove(options.getMeterRegistry(), name);
      return client.preparedQuery("SELECT runnel_drop_topic($1)").execute(Tuple.of(topic.id())).map(true);
    });
  }

  @Override
  public PartitionLog partition(TopicMetadata topic, int partition) {
    if (partition < 0 || partition >= topic.partitions()) {
      throw new IllegalArgumentException("partition " + partition + " of " + topic.name() + " does not exist");
    }
    if (closed) {
      throw new StorageException(StorageFailure.UNAVAILABLE, "the store is closed");
    }
    TopicMetadata latest = changedTopics.getOrDefault(topic.id(), topic);
    PartitionWriter writer = writers.computeIfAbsent(new TopicPartition(topic.id(), partition),
        k -> new PartitionWriter(this, latest, partition,
            writerContexts.get(Math.floorMod(nextContext.getAndIncrement(), writerContexts.size()))));
    TopicMetadata now = changedTopics.get(topic.id());
    if (now != null && writer.topic != now) {
      writer.topicChanged(now);  // a change raced with this writer's creation, or it was made from older metadata
    }
    return writer;
  }

  @Override
  public void setRetentionGuard(RetentionGuard guard) {
    this.retentionGuard = guard;
  }

  @Override
  public GroupStateStore groupState() {
    return groupState;
  }

  // ---- leases --------------------------------------------------------------------------------------------------

  private void renewLeases() {
    if (!closed) {
      groupLeases.renew();
    }
    List<PartitionWriter> held = writers.values().stream().filter(PartitionWriter::isActive).toList();
    if (held.isEmpty() || closed) {
      return;
    }
    UUID[] topics = new UUID[held.size()];
    Integer[] partitions = new Integer[held.size()];
    Long[] epochs = new Long[held.size()];
    for (int i = 0; i < held.size(); i++) {
      topics[i] = held.get(i).topic.id();
      partitions[i] = held.get(i).partition();
      epochs[i] = held.get(i).epoch();
    }
    long sent = System.nanoTime();
    client.preparedQuery(Sql.RENEW).execute(Tuple.of(topics, partitions, epochs, options.getLeaseMs()))
        .onSuccess(rows -> {
          Set<TopicPartition> renewed = new HashSet<>();
          rows.forEach(r -> renewed.add(new TopicPartition(r.getUUID(0), r.getInteger(1))));
          for (int i = 0; i < held.size(); i++) {
            PartitionWriter w = held.get(i);
            if (renewed.contains(new TopicPartition(w.topic.id(), w.partition()))) {
              w.leaseRenewed(sent);
            } else {
              w.fenced(epochs[i]);
            }
          }
        })
        .onFailure(err -> LOG.warn("could not renew {} partition leases: {}", held.size(), err.getMessage()));
  }

  // ---- retention -----------------------------------------------------------------------------------------------

  @Override
  public Future<Void> enforceRetention() {
    // Expired idempotency keys: a small keyed table, so a plain DELETE by expiry (indexed) is fine here. The window in
    // force decides (a key written while the window grew may carry the older, shorter expiry).
    Future<Void> keys = client.preparedQuery("""
            DELETE FROM dedup_keys d USING topics t
             WHERE d.expires_at < $1 AND t.topic_id = d.topic_id
               AND d.record_timestamp + (t.config ->> 'dedupWindowMs')::bigint < $1""")
        .execute(Tuple.of(options.getClock().millis())).mapEmpty();
    return keys.compose(v -> topics()).compose(list -> {
      Future<Void> chain = Future.succeededFuture();
      for (TopicMetadata topic : list) {
        chain = chain.compose(v -> retain(topic));
      }
      return chain;
    });
  }

  private Future<Void> retain(TopicMetadata topic) {
    TopicConfig config = topic.config();
    if (config.retentionMs() == -1 && config.retentionBytes() == -1) {
      return Future.succeededFuture();
    }
    return client.preparedQuery("""
            SELECT segment_no, coalesce(pg_total_relation_size(to_regclass(table_name)), 0) AS bytes
              FROM segments WHERE topic_id = $1 ORDER BY segment_no""")
        .execute(Tuple.of(topic.id()))
        .compose(rows -> {
          List<long[]> segments = new ArrayList<>();
          long total = 0;
          for (Row r : rows) {
            segments.add(new long[] {r.getLong(0), r.getLong(1)});
            total += r.getLong(1);
          }
          long now = options.getClock().millis();
          List<Long> drop = new ArrayList<>();
          for (int i = 0; i < segments.size(); i++) {
            long segment = segments.get(i)[0];
            long bytes = segments.get(i)[1];
            boolean expired = config.retentionMs() != -1
                && (segment + 1) * config.segmentMs() <= now - config.retentionMs();
            // By size, the newest segment always stays: it may be the one being written.
            boolean oversize = config.retentionBytes() != -1 && i < segments.size() - 1
                && total - bytes >= config.retentionBytes();
            if (!expired && !oversize) {
              break;
            }
            drop.add(segment);
            total -= bytes;
          }
          if (drop.isEmpty()) {
            return Future.succeededFuture();
          }
          Future<Void> chain = Future.succeededFuture();
          for (long segment : drop) {
            // First the guard (the broker dead-letters parked records in the segment), then the drop.
            chain = chain
                .compose(v -> client.preparedQuery("SELECT partition, max(last_offset) + 1 FROM "
                    + Sql.table(topic.id(), segment) + " GROUP BY partition").execute())
                .compose(ends -> {
                  Map<Integer, Long> starts = new java.util.HashMap<>();
                  ends.forEach(r -> starts.put(r.getInteger(0), r.getLong(1)));
                  return retentionGuard.beforeDrop(topic, starts);
                })
                .compose(v -> client.preparedQuery("SELECT runnel_drop_segment($1, $2)")
                    .execute(Tuple.of(topic.id(), segment)).<Void>mapEmpty());
          }
          return chain
              .recover(err -> {
                // Typically the lock timeout: a reader is inside the segment. The next pass tries again.
                LOG.info("retention of {} stopped early: {}", topic.name(), err.getMessage());
                return Future.succeededFuture();
              })
              .compose(v -> publishLogStarts(topic));
        });
  }

  private Future<Void> publishLogStarts(TopicMetadata topic) {
    return client.preparedQuery("SELECT partition, log_start_offset FROM partitions WHERE topic_id = $1")
        .execute(Tuple.of(topic.id()))
        .compose(rows -> {
          List<Future<Void>> applied = new ArrayList<>();
          for (Row r : rows) {
            PartitionWriter w = writers.get(new TopicPartition(topic.id(), r.getInteger(0)));
            if (w != null) {
              applied.add(w.logStartMoved(r.getLong(1)));
            }
          }
          return Future.all(applied).mapEmpty();
        });
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------------

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
    vertx.cancelTimer(renewTimer);
    if (retentionTimer != -1) {
      vertx.cancelTimer(retentionTimer);
    }
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
