package dev.runnel.server;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerOptions;
import dev.runnel.broker.Transport;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.ApiKeys;
import dev.runnel.broker.auth.Grant;
import dev.runnel.broker.auth.Right;
import dev.runnel.cluster.ClusterNode;
import dev.runnel.cluster.ClusterOptions;
import dev.runnel.durability.EmbeddedPostgres;
import dev.runnel.durability.Incarnation;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.StoreOptions;
import dev.runnel.transport.amqp.AmqpTransport;
import dev.runnel.transport.amqp.AmqpTransportOptions;
import dev.runnel.transport.http.HttpTransport;
import dev.runnel.transport.http.HttpTransportOptions;
import dev.runnel.transport.http.WebhookSource;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxBuilder;
import io.vertx.core.spi.VertxMetricsFactory;
import io.vertx.core.VertxOptions;
import io.vertx.micrometer.Label;
import io.vertx.micrometer.MetricsDomain;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Set;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * One running Runnel node: Postgres (embedded or external), the log store, the broker and its transports.
 *
 * <p>{@link #start} and {@link #stop} block; they run on the main thread and in the shutdown hook, never on an event
 * loop. Shutdown order: transports stop accepting, the store lets queued appends commit and releases its leases,
 * Vert.x closes, and only then does the embedded Postgres stop.
 */
public final class RunnelNode {

  private static final Logger LOG = LoggerFactory.getLogger(RunnelNode.class);
  private static final long STEP_TIMEOUT_S = 60;

  private final RunnelConfig config;
  private EmbeddedPostgres embedded;
  private DataDirLock dataDirLock;
  private FreeSpaceWatch freeSpace;
  private Vertx vertx;
  /** This node's membership when {@code cluster.enabled}; null on a single node. */
  private ClusterNode cluster;
  private LogStore store;
  private Broker broker;
  private final List<Transport> transports = new ArrayList<>();
  private HttpTransport http;
  private AmqpTransport amqp;
  private PrometheusMeterRegistry meters;
  /** Tests drive time: the clock of the store and the broker, and the broker's tick period (0: they call tick()). */
  private InstantSource clock = InstantSource.system();
  private Long tickMs;

  public RunnelNode(RunnelConfig config) {
    this.config = config;
  }

  /** For tests, before {@link #start}: the store and the broker read {@code clock}; tickMs 0 stops their timer. */
  RunnelNode withClock(InstantSource clock, long tickMs) {
    this.clock = clock;
    this.tickMs = tickMs;
    return this;
  }

  public RunnelNode start() {
    if (config.cluster.enabled && config.postgres.isEmbedded()) {
      throw new IllegalArgumentException("cluster.enabled needs an external PostgreSQL that every node shares: set "
          + "postgres.url (RUNNEL_PG_URL, --pg-url); an embedded one lives and dies with its node");
    }
    int eventLoops = eventLoops(config);  // refused before anything starts
    Path dataDir = Path.of(config.dataDir).toAbsolutePath().normalize();
    dataDirLock = DataDirLock.take(dataDir);  // first: a second process on this directory must not touch its Postgres
    String nodeId = config.nodeId != null && !config.nodeId.isBlank() ? config.nodeId : persistentNodeId(dataDir);
    Incarnation incarnation = Incarnation.start(nodeId).asSoleHolder();  // it holds the data directory's lock
    LOG.info("starting Runnel node {} (incarnation {}) with config {}", nodeId, incarnation.id(),
        ConfigLoader.describe(config));
    ApiKeys apiKeys = apiKeys(config.auth);
    if (!apiKeys.enabled()) {
      LOG.warn("auth is OFF: anyone who can reach this node may produce, consume and delete every topic; configure "
          + "auth.keys to turn it on");
    }
    freeSpace = new FreeSpaceWatch(dataDir, config.storage.minFreeBytes);
    StoreOptions storeOptions;
    if (config.postgres.isEmbedded()) {
      embedded = EmbeddedPostgres.start(dataDir, config.postgres.embeddedPort);
      embedded.checkNoTrustAuthentication();
      storeOptions = embedded.storeOptions();
    } else {
      storeOptions = externalPostgres(config.postgres);
    }
    storeOptions.setSchema(config.postgres.schema)
        .setIncarnation(incarnation)
        .setPoolSize(config.postgres.poolSize)
        .setTailCacheBytes(config.storage.tailCacheBytes)
        .setMaxWriteBytes(config.storage.maxWriteBytes)
        .setMaxQueuedBytesPerPartition(config.storage.maxQueuedBytesPerPartition)
        .setLeaseMs(config.cluster.enabled ? config.cluster.leaseMs : config.storage.leaseMs)
        .setRetentionCheckMs(config.storage.retentionCheckMs)
        .setRequireDurable(config.storage.requireDurable)
        .setUnwritable(freeSpace::problem)
        .setClock(clock);
    // vertx-pg-client reaches a Unix-domain socket only on the native transport (epoll); TCP stays on NIO
    VertxOptions vertxOptions = new VertxOptions().setPreferNativeTransport(storeOptions.isUnixSocket())
        .setEventLoopPoolSize(eventLoops);
    MicrometerMetricsFactory metricsFactory = null;
    BrokerOptions brokerOptions = new BrokerOptions().setClock(clock).setDrainMs(config.cluster.drainMs);
    if (tickMs != null) {
      brokerOptions.setTickMs(tickMs);
    }
    if (config.metrics.enabled) {
      meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      vertxOptions.setMetricsOptions(vertxMetrics(nodeId));
      metricsFactory = new MicrometerMetricsFactory(meters);
      storeOptions.setMeterRegistry(meters);
      brokerOptions.setMeterRegistry(meters);
    }
    brokerOptions.setEndpoints(this::endpoints);
    VertxMetricsFactory metrics = metricsFactory;
    UnaryOperator<VertxBuilder> withMetrics = b -> metrics == null ? b : b.withMetrics(metrics);
    if (config.cluster.enabled) {
      ClusterOptions clusterOptions = clusterOptions(config.cluster, nodeId).setCard(card(config, incarnation));
      RunnelConfig.ClusterTls tls = config.cluster.tls;
      if (tls.certPath != null || tls.keyPath != null || tls.trustPath != null) {
        clusterOptions.setTls(tls.certPath, tls.keyPath, tls.trustPath);
      } else if (config.http.tls.certPath != null) {
        clusterOptions.setTls(config.http.tls.certPath, config.http.tls.keyPath, null);
      }
      clusterOptions.validate();
      if (!clusterOptions.isTls()) {
        LOG.warn("the clustered event bus on {} is plain TCP: forwarded records cross it in clear text; configure "
            + "cluster.tls (or http.tls) for mutual TLS", config.cluster.host);
      }
      cluster = await(ClusterNode.start(clusterOptions, vertxOptions, withMetrics),
          "join the cluster " + config.cluster.members);
      vertx = cluster.vertx();
    } else {
      vertx = withMetrics.apply(Vertx.builder()).with(vertxOptions).build();
    }
    store = await(LogStore.open(vertx, storeOptions), "open the log store");
    broker = cluster != null ? Broker.create(cluster, store, brokerOptions) : Broker.create(vertx, store, brokerOptions);
    if (config.http.enabled) {
      http = HttpTransport.create(vertx, new HttpTransportOptions()
          .setHost(config.http.host)
          .setPort(config.http.port)
          .setMaxBodyBytes(config.http.maxBodyBytes)
          .setShutdownGraceMs(config.http.shutdownGraceMs)
          .setMaxHeldBytes(config.http.maxHeldBytes)
          .setMaxRecordsPerRequest(config.http.maxRecordsPerRequest)
          .setCloudEventsKeyExtension(config.http.cloudEventsKeyExtension)
          .setMaxHeaderBytes(config.http.maxHeaderBytes)
          .setApiKeys(apiKeys)
          .setPublicMetrics(config.auth.publicMetrics)
          .setMetricsScraper(meters == null ? null : meters::scrape)
          .setWebhooks(webhooks(config.webhooks))
          .setTls(config.http.tls.certPath, config.http.tls.keyPath));
      transports.add(http);
    }
    if (config.amqp.enabled) {
      amqp = AmqpTransport.create(vertx, new AmqpTransportOptions()
          .setHost(config.amqp.host)
          .setPort(config.amqp.port)
          .setApiKeys(apiKeys)
          .setHeartbeatMs(config.amqp.heartbeatMs)
          .setLinkCredit(config.amqp.linkCredit)
          .setMaxUnsettled(config.amqp.maxUnsettled)
          .setConsumerTimeoutMs(config.amqp.consumerTimeoutMs)
          .setMaxFreeReleases(config.amqp.maxFreeReleases)
          .setMaxMessageBytes(config.amqp.maxMessageBytes)
          .setShutdownGraceMs(config.amqp.shutdownGraceMs)
          .setContainerId(nodeId)
          .setClock(clock)
          .setTls(config.amqp.tls.certPath, config.amqp.tls.keyPath));
      transports.add(amqp);
    }
    for (Transport t : transports) {
      await(t.start(broker), "start the " + t.name() + " transport");
    }
    LOG.info("Runnel node {} ready: HTTP on {}:{}, AMQP on {}:{}, PostgreSQL {} ({}), {}", nodeId, config.http.host,
        http == null ? "-" : http.actualPort(), config.amqp.host, amqp == null ? "-" : amqp.actualPort(),
        storeOptions.address(),
        embedded != null ? "embedded, data in " + dataDir.resolve("postgres") : "external",
        cluster == null ? "single node" : "cluster member on " + config.cluster.host + ":" + config.cluster.port
            + " seeing " + cluster.view().nodes());
    return this;
  }

  /**
   * Vert.x's own meters into the node's registry: HTTP server requests by route template (never the raw path),
   * method and status, pools, the Postgres client's connections and queries, and the JVM's. The registry's name is
   * the node's own, so two nodes in one JVM (tests) never share one (Vert.x keeps its registries by name).
   */
  static MicrometerMetricsOptions vertxMetrics(String nodeId) {
    MicrometerMetricsOptions options = new MicrometerMetricsOptions()
        .setEnabled(true)
        .setRegistryName("runnel-" + nodeId + "-" + java.util.UUID.randomUUID())
        .setJvmMetricsEnabled(true)
        .setLabels(EnumSet.of(Label.HTTP_ROUTE, Label.HTTP_METHOD, Label.HTTP_CODE, Label.POOL_TYPE, Label.POOL_NAME,
            Label.NAMESPACE));
    // Nothing here uses the event bus, datagrams or an HTTP client.
    for (MetricsDomain unused : List.of(MetricsDomain.EVENT_BUS, MetricsDomain.DATAGRAM_SOCKET,
        MetricsDomain.HTTP_CLIENT)) {
      options.addDisabledMetricsCategory(unused);
    }
    return options;
  }

  /** Where this node's transports listen now, as GET /cluster tells it. */
  private Map<String, String> endpoints() {
    Map<String, String> endpoints = new LinkedHashMap<>();
    if (http != null) {
      endpoints.put("http", advertised(config.http.host, config) + ":" + http.actualPort());
    }
    if (amqp != null) {
      endpoints.put("amqp", advertised(config.amqp.host, config) + ":" + amqp.actualPort());
    }
    return endpoints;
  }

  /**
   * What a clustered node tells the others about itself (GET /cluster on any node lists it): its incarnation and
   * where its transports listen. Fixed at join, so a clustered node's ports must be fixed too.
   */
  static Map<String, String> card(RunnelConfig config, Incarnation incarnation) {
    Map<String, String> card = new LinkedHashMap<>();
    card.put("incarnation", incarnation.id());
    if (config.http.enabled) {
      card.put("http", advertised(config.http.host, config) + ":" + fixedPort("http.port", config.http.port));
    }
    if (config.amqp.enabled) {
      card.put("amqp", advertised(config.amqp.host, config) + ":" + fixedPort("amqp.port", config.amqp.port));
    }
    return card;
  }

  /** {@code eventLoops}, 0 being one per core. */
  static int eventLoops(RunnelConfig config) {
    if (config.eventLoops < 0) {
      throw new IllegalArgumentException("eventLoops must be 0 (one per core) or more, not " + config.eventLoops);
    }
    return config.eventLoops == 0 ? Runtime.getRuntime().availableProcessors() : config.eventLoops;
  }

  private static int fixedPort(String key, int port) {
    if (port == 0) {
      throw new IllegalArgumentException(key + " is 0 (any free port), but a clustered node needs a fixed one: the "
          + "other nodes tell clients where it listens");
    }
    return port;
  }

  /** A transport's host as clients are told it: {@code cluster.host} when it binds every interface. */
  private static String advertised(String host, RunnelConfig config) {
    return host.equals("0.0.0.0") || host.equals("::") || host.isBlank() ? config.cluster.host : host;
  }

  /** The cluster settings of the config, checked (a bad one refuses to start, naming its key). */
  static ClusterOptions clusterOptions(RunnelConfig.Cluster c, String nodeId) {
    ClusterOptions options = new ClusterOptions().setNodeName(nodeId).setClusterName(c.name).setHost(c.host)
        .setPort(c.port).setEventBusPort(c.eventBusPort).setMembers(c.members).setMinMembers(c.minMembers)
        .setHeartbeatSeconds(c.heartbeatSeconds).setMaxNoHeartbeatSeconds(c.maxNoHeartbeatSeconds);
    options.validate();
    return options;
  }

  /** The API keys of {@code auth}: off when none are configured, unless {@code auth.enabled} says otherwise. */
  static ApiKeys apiKeys(RunnelConfig.Auth auth) {
    boolean enabled = auth.enabled != null ? auth.enabled : !auth.keys.isEmpty();
    if (!enabled) {
      if (!auth.keys.isEmpty()) {
        LOG.warn("auth.enabled is false: the {} configured API keys are ignored", auth.keys.size());
      }
      return ApiKeys.OFF;
    }
    if (auth.keys.isEmpty()) {
      throw new IllegalArgumentException("auth.enabled is true but no API keys are configured: list them in auth.keys "
          + "(name, secret, rights) or set auth.enabled to false");
    }
    List<ApiKey> keys = new ArrayList<>();
    for (RunnelConfig.Key k : auth.keys) {
      if (k.secret == null) {
        throw new IllegalArgumentException("API key '" + k.name + "' has no secret");
      }
      List<Grant> grants = new ArrayList<>();
      for (RunnelConfig.KeyRight r : k.rights) {
        Set<Right> allow = EnumSet.noneOf(Right.class);
        r.allow.forEach(a -> allow.add(Right.parse(a)));
        grants.add(new Grant(r.topics, allow));
      }
      keys.add(new ApiKey(k.name, k.secret, grants));
    }
    return ApiKeys.of(keys);
  }

  /** The webhook sources of the config, checked at start (a bad secret or scheme refuses to start). */
  static Map<String, WebhookSource> webhooks(Map<String, RunnelConfig.Webhook> configured) {
    Map<String, WebhookSource> sources = new LinkedHashMap<>();
    configured.forEach((name, w) -> {
      try {
        sources.put(name, new WebhookSource(w.topic, WebhookSource.Scheme.parse(w.scheme), w.secrets, w.maxBodyBytes));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("webhooks." + name + ": " + e.getMessage(), e);
      }
    });
    return sources;
  }

  public Broker broker() {
    return broker;
  }

  public int httpPort() {
    return http.actualPort();
  }

  public int amqpPort() {
    return amqp.actualPort();
  }

  /** Drains and stops everything, in order; each step is bounded so a stuck step cannot hang the shutdown. */
  public void stop() {
    LOG.info("stopping Runnel node");
    // A transport's stop waits for its requests in flight, up to its grace period.
    long transportTimeoutS = STEP_TIMEOUT_S + TimeUnit.MILLISECONDS.toSeconds(
        Math.max(config.http.shutdownGraceMs, config.amqp.shutdownGraceMs));
    // All at once: each closes its listener as the stop begins (DESIGN.md section 7 for AMQP), none waits for another's
    // grace to end.
    if (broker != null && cluster != null) {
      // First, while this node still serves its clients' calls by forwarding them: its groups drain and pass their
      // members on, its partitions go to their next leaders.
      step(() -> broker.leaveCluster(), "hand over to the other nodes", STEP_TIMEOUT_S
          + TimeUnit.MILLISECONDS.toSeconds(config.cluster.drainMs + 10_000));
    }
    step(() -> Future.join(transports.stream().map(Transport::stop).toList()), "stop the transports", transportTimeoutS);
    if (broker != null) {
      broker.close();
    }
    if (store != null) {
      step(() -> store.close(), "drain and close the log store");
    }
    if (cluster != null) {
      step(() -> cluster.close(), "leave the cluster and close Vert.x");
    } else if (vertx != null) {
      step(() -> vertx.close(), "close Vert.x");
    }
    if (meters != null) {
      meters.close();
    }
    if (freeSpace != null) {
      freeSpace.close();
    }
    if (embedded != null) {
      try {
        embedded.close();
      } catch (RuntimeException e) {
        LOG.error("could not stop the embedded PostgreSQL cleanly", e);
      }
    }
    if (dataDirLock != null) {
      dataDirLock.close();
    }
    LOG.info("Runnel node stopped");
  }

  private static void step(java.util.function.Supplier<Future<?>> action, String what) {
    step(action, what, STEP_TIMEOUT_S);
  }

  private static void step(java.util.function.Supplier<Future<?>> action, String what, long timeoutS) {
    try {
      await(action.get(), what, timeoutS);
    } catch (RuntimeException e) {
      LOG.error("could not {}: {}", what, e.getMessage());
    }
  }

  /** Blocks the calling (main or shutdown-hook) thread on a future, with a bound. */
  private static <T> T await(Future<T> future, String what) {
    return await(future, what, STEP_TIMEOUT_S);
  }

  private static <T> T await(Future<T> future, String what, long timeoutS) {
    try {
      return future.toCompletionStage().toCompletableFuture().get(timeoutS, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while trying to " + what, e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException("could not " + what + ": " + e.getCause().getMessage(), e.getCause());
    } catch (java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException("timed out trying to " + what);
    }
  }

  private static String persistentNodeId(Path dataDir) {
    Path file = dataDir.resolve("node-id");
    try {
      if (Files.exists(file)) {
        return Files.readString(file).trim();
      }
      Files.createDirectories(dataDir);
      byte[] random = new byte[4];
      new SecureRandom().nextBytes(random);
      String id = "node-" + HexFormat.of().formatHex(random);
      Files.writeString(file, id + "\n");
      return id;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read or write " + file, e);
    }
  }

  /**
   * Reads {@code postgres.url} ({@link PostgresUrl}: libpq's URI, a Unix-domain socket's directory as its host, a
   * {@code jdbc:} prefix dropped); {@code postgres.user} and {@code postgres.password}, when set, win over the URL's.
   */
  static StoreOptions externalPostgres(RunnelConfig.Postgres pg) {
    PostgresUrl url = PostgresUrl.parse(pg.url.trim());
    String user = pg.user != null ? pg.user : url.user();
    String password = pg.password != null ? pg.password : url.password();
    return new StoreOptions()
        .setHost(url.host())
        .setPort(url.port())
        .setDatabase(url.database())
        .setUser(user != null ? user : "postgres")
        .setPassword(password);
  }
}
