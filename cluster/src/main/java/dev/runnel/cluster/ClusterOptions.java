package dev.runnel.cluster;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * How a node joins its cluster (DESIGN.md sections 6 and 8, the {@code cluster.*} keys): the stable node name, the
 * interface Hazelcast and the event bus bind to, the Hazelcast TCP-IP member list, and the failure detection, which
 * is in seconds (Hazelcast's defaults, 60 s without a heartbeat and a merge after 300 s, are far too long for
 * leases of about 3 s). Mutable, set before {@link ClusterNode#start}.
 */
public final class ClusterOptions {
  private String nodeName;
  private String clusterName = "runnel";
  private String host = "127.0.0.1";
  private int port = 5701;
  private int eventBusPort;
  private List<String> members = List.of("127.0.0.1:5701");
  private Integer minMembers;
  private int heartbeatSeconds = 1;
  private int maxNoHeartbeatSeconds = 5;
  private Map<String, String> card = Map.of();
  private String tlsCertPath;
  private String tlsKeyPath;
  private String tlsTrustPath;

  /** The node's stable name (it names lease holders and placement); required. */
  public String getNodeName() {
    return nodeName;
  }

  public ClusterOptions setNodeName(String nodeName) {
    this.nodeName = nodeName;
    return this;
  }

  /** Hazelcast's cluster name: members of another name never join this cluster. */
  public String getClusterName() {
    return clusterName;
  }

  public ClusterOptions setClusterName(String clusterName) {
    this.clusterName = clusterName;
    return this;
  }

  /** The interface Hazelcast and the clustered event bus bind to (never every interface). */
  public String getHost() {
    return host;
  }

  public ClusterOptions setHost(String host) {
    this.host = host;
    return this;
  }

  /** Hazelcast's member port (no auto-increment: the member list names exact ports). */
  public int getPort() {
    return port;
  }

  public ClusterOptions setPort(int port) {
    this.port = port;
    return this;
  }

  /** The clustered event bus's port; 0: any free port. */
  public int getEventBusPort() {
    return eventBusPort;
  }

  public ClusterOptions setEventBusPort(int eventBusPort) {
    this.eventBusPort = eventBusPort;
    return this;
  }

  /** The Hazelcast TCP-IP join list, {@code host:port} each. */
  public List<String> getMembers() {
    return members;
  }

  public ClusterOptions setMembers(List<String> members) {
    this.members = List.copyOf(members);
    return this;
  }

  /** Set explicitly, or null for the default of {@link #minMembers()}. */
  public Integer getMinMembers() {
    return minMembers;
  }

  public ClusterOptions setMinMembers(Integer minMembers) {
    this.minMembers = minMembers;
    return this;
  }

  /**
   * The fewest members a node's view may hold and still serve (fewer: it steps down). The default is a majority of
   * the member list, and 1 when the list names one or two (a 2-node cluster does not step down during a cut).
   */
  public int minMembers() {
    if (minMembers != null) {
      return minMembers;
    }
    return members.size() <= 2 ? 1 : members.size() / 2 + 1;
  }

  public int getHeartbeatSeconds() {
    return heartbeatSeconds;
  }

  public ClusterOptions setHeartbeatSeconds(int heartbeatSeconds) {
    this.heartbeatSeconds = heartbeatSeconds;
    return this;
  }

  /** A member silent this long is taken out of the view (at least 5 s: a loaded 2-core box pauses for seconds). */
  public int getMaxNoHeartbeatSeconds() {
    return maxNoHeartbeatSeconds;
  }

  public ClusterOptions setMaxNoHeartbeatSeconds(int maxNoHeartbeatSeconds) {
    this.maxNoHeartbeatSeconds = maxNoHeartbeatSeconds;
    return this;
  }

  /**
   * What this node tells the others about itself for as long as it is a member (its incarnation, where its transports
   * listen): every member's card is in {@link ClusterView.Member#card()}. Fixed at join.
   */
  public Map<String, String> getCard() {
    return card;
  }

  public ClusterOptions setCard(Map<String, String> card) {
    this.card = Map.copyOf(card);
    return this;
  }

  /**
   * Mutual TLS on the clustered event bus: this node's certificate chain and key (PEM), and the certificates a peer's
   * must be or be signed by (null: this node's own, for nodes that share one). All null: the event bus is plain.
   */
  public ClusterOptions setTls(String certPath, String keyPath, String trustPath) {
    this.tlsCertPath = certPath;
    this.tlsKeyPath = keyPath;
    this.tlsTrustPath = trustPath;
    return this;
  }

  public boolean isTls() {
    return tlsCertPath != null;
  }

  public String getTlsCertPath() {
    return tlsCertPath;
  }

  public String getTlsKeyPath() {
    return tlsKeyPath;
  }

  /** The trusted certificates: the configured ones, or this node's own. */
  public String getTlsTrustPath() {
    return tlsTrustPath != null ? tlsTrustPath : tlsCertPath;
  }

  /** Fails with a message naming the first bad setting. */
  public void validate() {
    if (nodeName == null || nodeName.isBlank()) {
      throw new IllegalArgumentException("cluster: a node name is required (nodeName)");
    }
    Objects.requireNonNull(host, "cluster.host");
    if ((tlsCertPath == null) != (tlsKeyPath == null)) {
      throw new IllegalArgumentException("cluster.tls: certPath and keyPath go together");
    }
    if (tlsCertPath == null && tlsTrustPath != null) {
      throw new IllegalArgumentException("cluster.tls.trustPath needs certPath and keyPath too");
    }
    if (members.isEmpty()) {
      throw new IllegalArgumentException("cluster.members: at least one member is required");
    }
    for (String member : members) {
      int colon = member.lastIndexOf(':');
      if (colon <= 0 || !member.substring(colon + 1).matches("\\d{1,5}")) {
        throw new IllegalArgumentException("cluster.members: '" + member + "' is not host:port");
      }
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("cluster.port: " + port + " is not a port");
    }
    if (minMembers != null && (minMembers < 1 || minMembers > members.size())) {
      throw new IllegalArgumentException("cluster.minMembers: " + minMembers + " must be between 1 and the "
          + members.size() + " members listed");
    }
    if (heartbeatSeconds < 1 || maxNoHeartbeatSeconds < 2 * heartbeatSeconds) {
      throw new IllegalArgumentException("cluster: maxNoHeartbeatSeconds (" + maxNoHeartbeatSeconds
          + ") must be at least twice heartbeatSeconds (" + heartbeatSeconds + ")");
    }
  }
}
