package dev.runnel.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import io.vertx.spi.cluster.hazelcast.ConfigUtil;
import java.util.List;

/**
 * The Hazelcast configuration of a node, built in code (DESIGN.md section 6): vertx-hazelcast's own default for the
 * {@code __vertx.*} structures it needs, then TCP-IP join from the member list only (multicast, auto-detection and
 * phone-home off), bound to one interface, and failure detection in seconds. Nothing Runnel must keep lives in
 * Hazelcast: Postgres is the only authority, Hazelcast is the membership and the event bus's transport.
 */
public final class HazelcastSettings {
  /** The member attribute that carries a member's stable node name. */
  public static final String NODE_ATTRIBUTE = "runnel.node";
  /** The prefix of the member attributes that carry a node's card ({@link ClusterOptions#getCard()}). */
  static final String CARD = "runnel.card.";

  private HazelcastSettings() {
  }

  public static Config config(ClusterOptions options) {
    options.validate();
    Config config = ConfigUtil.loadConfig();
    config.setClusterName(options.getClusterName());
    config.getMemberAttributeConfig().setAttribute(NODE_ATTRIBUTE, options.getNodeName());
    options.getCard().forEach((name, value) -> config.getMemberAttributeConfig().setAttribute(CARD + name, value));

    config.setProperty("hazelcast.logging.type", "slf4j");
    config.setProperty("hazelcast.phone.home.enabled", "false");
    config.setProperty("hazelcast.shutdownhook.enabled", "false");  // the node closes Vert.x, which leaves first
    config.setProperty("hazelcast.socket.bind.any", "false");  // the configured interface only
    config.setProperty("hazelcast.heartbeat.interval.seconds", Integer.toString(options.getHeartbeatSeconds()));
    config.setProperty("hazelcast.max.no.heartbeat.seconds", Integer.toString(options.getMaxNoHeartbeatSeconds()));
    // After a cut heals, the two sides merge within seconds instead of Hazelcast's 300 s.
    config.setProperty("hazelcast.merge.first.run.delay.seconds", "5");
    config.setProperty("hazelcast.merge.next.run.delay.seconds", "5");
    config.setProperty("hazelcast.wait.seconds.before.join", "0");

    NetworkConfig network = config.getNetworkConfig();
    network.setPort(options.getPort()).setPortAutoIncrement(false);
    network.getInterfaces().setEnabled(true).setInterfaces(List.of(options.getHost()));
    JoinConfig join = network.getJoin();
    join.getMulticastConfig().setEnabled(false);
    join.getAutoDetectionConfig().setEnabled(false);
    join.getKubernetesConfig().setEnabled(false);
    join.getTcpIpConfig().setEnabled(true).setMembers(options.getMembers());
    return config;
  }
}
