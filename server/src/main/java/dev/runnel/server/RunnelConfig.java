package dev.runnel.server;

import com.fasterxml.jackson.annotation.JsonIgnore;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The node's configuration. Every key can come from the YAML file, be overridden by an environment variable named
 * {@code RUNNEL_} + the key path in upper snake case ({@code http.port} → {@code RUNNEL_HTTP_PORT}), and the common
 * ones by a command-line flag. {@code RUNNEL_PG_URL} is an alias of {@code RUNNEL_POSTGRES_URL}.
 */
public class RunnelConfig {

  /** Where the node keeps its state: the embedded Postgres data, its password, the node id. */
  public String dataDir = "./data";
  /** This node's identity in partition leases; generated once and kept in the data dir when not set. */
  public String nodeId;
  /**
   * Vert.x event loops: 0 is one per core. Vert.x's own default is two per core; on this broker's hot path a request
   * hops between the HTTP loop, its partition writer's and its Postgres connection's, and with fewer loops more of
   * those hops stay on one thread (docs/benchmarks.md, session 18).
   */
  public int eventLoops = 0;
  public Http http = new Http();
  public Amqp amqp = new Amqp();
  public Postgres postgres = new Postgres();
  public Storage storage = new Storage();
  public Auth auth = new Auth();
  public Metrics metrics = new Metrics();
  public Cluster cluster = new Cluster();
  /** Signed webhook sources by name: {@code POST /webhooks/<name>}. */
  public Map<String, Webhook> webhooks = new LinkedHashMap<>();

  /**
   * Several nodes on one external Postgres, through Hazelcast (DESIGN.md section 6; docs/cluster.md). Off: a single
   * node, and no Hazelcast class is loaded.
   */
  public static class Cluster {
    public boolean enabled = false;
    /** Hazelcast's cluster name: members of another name never join. */
    public String name = "runnel";
    /** The interface Hazelcast and the clustered event bus bind to (a private one: Hazelcast's port has no TLS). */
    public String host = "127.0.0.1";
    /** Hazelcast's TCP-IP join list, {@code host:port} each (every node lists the same). */
    public List<String> members = new ArrayList<>(List.of("127.0.0.1:5701"));
    /** This node's Hazelcast port (one of {@link #members}). */
    public int port = 5701;
    /** The clustered event bus's port; 0: any free one. */
    public int eventBusPort = 0;
    /** The fewest members a node's view may hold and still serve; null: a majority (1 for one or two members). */
    public Integer minMembers;
    public int heartbeatSeconds = 1;
    /** A member silent this long leaves the view (at least 5 s: a loaded box pauses for seconds). */
    public int maxNoHeartbeatSeconds = 5;
    /** The partition and group lease length in a cluster ({@code storage.leaseMs} is a single node's). */
    public long leaseMs = 3_000;
    /**
     * How long a group handed to another node keeps accepting outcomes for the deliveries it handed out, at most,
     * before it saves, releases and passes its members' sessions on (DESIGN.md section 6).
     */
    public long drainMs = 10_000;
    /**
     * Mutual TLS on the clustered event bus (forwarded records cross it). Unset: the node's {@code http.tls}
     * certificate and key when those are set; with neither, the event bus is plain (docs/cluster.md).
     */
    public ClusterTls tls = new ClusterTls();
  }

  public static class ClusterTls {
    /** This node's certificate chain (PEM). */
    public String certPath;
    /** Its private key (PEM). */
    public String keyPath;
    /** The certificates (PEM) a peer's must be or be signed by; unset: this node's own certificate. */
    public String trustPath;
  }

  /** API keys (DESIGN.md section 8). Keys come only from the file; their strings may be {@code ${ENV}} references. */
  public static class Auth {
    /** Null: on exactly when keys are configured. True with no keys refuses to start. */
    public Boolean enabled;
    public List<Key> keys = new ArrayList<>();
    /** {@code /metrics} without a key; otherwise it needs {@code admin} on {@code *}. */
    public boolean publicMetrics;
  }

  /** {@code GET /metrics}: Prometheus's text format of Vert.x's, the JVM's and Runnel's meters (docs/operations.md). */
  public static class Metrics {
    /** Off: no meters are kept (Vert.x runs without its metrics SPI) and {@code /metrics} is 404. */
    public boolean enabled = true;
  }

  public static class Key {
    /** HTTP: {@code Authorization: Bearer <name>:<secret>}; AMQP: SASL PLAIN user and password. */
    public String name;
    public String secret;
    public List<KeyRight> rights = new ArrayList<>();
  }

  public static class KeyRight {
    /** A topic name pattern; {@code *} stands for any run of characters. */
    public String topics;
    /** {@code produce}, {@code consume}, {@code admin}. */
    public List<String> allow = new ArrayList<>();
  }

  public static class Webhook {
    public String topic;
    /** {@code standard} (Standard Webhooks) or {@code github}. */
    public String scheme;
    /** Every secret that verifies (several while one is rotated in). */
    public List<String> secrets = new ArrayList<>();
    /** The largest body this source may send (GitHub sends up to 25 MB). */
    public long maxBodyBytes = 25L * 1024 * 1024;
  }

  public static class Tls {
    /** The certificate chain (PEM). With {@link #keyPath}, the listener speaks TLS only. */
    public String certPath;
    /** Its private key (PEM). */
    public String keyPath;
  }

  public static class Http {
    public boolean enabled = true;
    public String host = "0.0.0.0";
    public int port = 8080;
    public long maxBodyBytes = 16L * 1024 * 1024;
    /** How long a stop lets open connections finish (requests in flight answered, then closed). */
    public long shutdownGraceMs = 30_000;
    /** Request bytes held at once over all connections; past it, 503 OVERLOADED before a body is read. */
    public long maxHeldBytes = 256L * 1024 * 1024;
    /** The most records one produce request may carry. */
    public int maxRecordsPerRequest = 10_000;
    /** The most bytes of request headers; more is 431. */
    public int maxHeaderBytes = 8192;
    /** The CloudEvents extension attribute a produced event's key comes from (else its subject). */
    public String cloudEventsKeyExtension = "partitionkey";
    public Tls tls = new Tls();
  }

  /** The AMQP 1.0 listener (DESIGN.md section 7; docs/amqp.md). */
  public static class Amqp {
    public boolean enabled = true;
    public String host = "0.0.0.0";
    public int port = 5672;
    /** Empty frames at least this often; a peer silent for twice as long is dropped. */
    public int heartbeatMs = 10_000;
    /** A producer link's window: credit plus transfers not yet committed. */
    public int linkCredit = 1_000;
    /** Deliveries a consumer link has outstanding at most, whatever its credit. */
    public int maxUnsettled = 100;
    /** How long a consumer may hold a delivery; then it is released to it, counting an attempt. */
    public long consumerTimeoutMs = 1_800_000;
    /** Times a record comes back by a consumer's disconnect with no attempt counted. */
    public int maxFreeReleases = 5;
    /** Proton's hard limit on one transfer (far above any topic's maxRecordBytes). */
    public int maxMessageBytes = 64 * 1024 * 1024;
    /** How long a stop waits for commits in flight before it closes the connections. */
    public long shutdownGraceMs = 10_000;
    public Tls tls = new Tls();
  }

  public static class Postgres {
    /**
     * An external server ({@code postgresql://user:password@host:5432/db}, {@code jdbc:postgresql://host/db}, or a
     * Unix-domain socket's directory: {@code postgresql://user@/db?host=/var/run/postgresql}; see {@link PostgresUrl}).
     * When empty, the node runs its own embedded PostgreSQL under the data dir.
     */
    public String url;
    public String user;
    public String password;
    public String schema = "runnel";
    /** Port of the embedded server on 127.0.0.1; 0 picks a free one. */
    public int embeddedPort = 0;
    public int poolSize = 4;

    @JsonIgnore
    public boolean isEmbedded() {
      return url == null || url.isBlank();
    }
  }

  public static class Storage {
    public long tailCacheBytes = 64L * 1024 * 1024;
    public int maxWriteBytes = 8 * 1024 * 1024;
    public long maxQueuedBytesPerPartition = 32L * 1024 * 1024;
    public long leaseMs = 30_000;
    public long retentionCheckMs = 30_000;
    /** Refuse to start unless Postgres runs with fsync, synchronous_commit and full_page_writes on. */
    public boolean requireDurable = true;
    /** Under this much free space in the data dir's file system, produces are refused and readiness fails. */
    public long minFreeBytes = 1L << 30;
  }
}
