package dev.runnel.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClusterOptionsTest {
  private static ClusterOptions three() {
    return new ClusterOptions().setNodeName("n1")
        .setMembers(List.of("127.0.0.1:5701", "127.0.0.1:5702", "127.0.0.1:5703"));
  }

  @Test
  void minMembersDefaultsToAMajorityAndToOneForOneOrTwo() {
    assertThat(three().minMembers()).isEqualTo(2);
    assertThat(three().setMembers(List.of("a:1", "b:1")).minMembers()).isEqualTo(1);
    assertThat(three().setMembers(List.of("a:1")).minMembers()).isEqualTo(1);
    assertThat(three().setMembers(List.of("a:1", "b:1", "c:1", "d:1")).minMembers()).isEqualTo(3);
    assertThat(three().setMembers(List.of("a:1", "b:1", "c:1", "d:1", "e:1")).minMembers()).isEqualTo(3);
    assertThat(three().setMinMembers(3).minMembers()).isEqualTo(3);
  }

  @Test
  void badSettingsAreRefusedByName() {
    assertThatThrownBy(() -> three().setNodeName(" ").validate()).hasMessageContaining("node name");
    assertThatThrownBy(() -> three().setMembers(List.of("127.0.0.1")).validate()).hasMessageContaining("host:port");
    assertThatThrownBy(() -> three().setMembers(List.of()).validate()).hasMessageContaining("at least one");
    assertThatThrownBy(() -> three().setMinMembers(4).validate()).hasMessageContaining("cluster.minMembers");
    assertThatThrownBy(() -> three().setPort(0).validate()).hasMessageContaining("cluster.port");
    assertThatThrownBy(() -> three().setMaxNoHeartbeatSeconds(1).validate())
        .hasMessageContaining("maxNoHeartbeatSeconds");
  }

  @Test
  void hazelcastJoinsByTheMemberListOnlyOnOneInterfaceWithFastFailureDetection() {
    Config config = HazelcastSettings.config(three().setHost("127.0.0.2").setPort(5702));
    JoinConfig join = config.getNetworkConfig().getJoin();
    assertThat(join.getMulticastConfig().isEnabled()).isFalse();
    assertThat(join.getAutoDetectionConfig().isEnabled()).isFalse();
    assertThat(join.getTcpIpConfig().isEnabled()).isTrue();
    assertThat(join.getTcpIpConfig().getMembers())
        .containsExactly("127.0.0.1:5701", "127.0.0.1:5702", "127.0.0.1:5703");
    assertThat(config.getNetworkConfig().getPort()).isEqualTo(5702);
    assertThat(config.getNetworkConfig().isPortAutoIncrement()).isFalse();
    assertThat(config.getNetworkConfig().getInterfaces().isEnabled()).isTrue();
    assertThat(config.getNetworkConfig().getInterfaces().getInterfaces()).containsExactly("127.0.0.2");
    assertThat(config.getProperty("hazelcast.socket.bind.any")).isEqualTo("false");
    assertThat(config.getProperty("hazelcast.phone.home.enabled")).isEqualTo("false");
    assertThat(config.getProperty("hazelcast.heartbeat.interval.seconds")).isEqualTo("1");
    assertThat(config.getProperty("hazelcast.max.no.heartbeat.seconds")).isEqualTo("5");
    assertThat(config.getMemberAttributeConfig().getAttribute(HazelcastSettings.NODE_ATTRIBUTE)).isEqualTo("n1");
    // vertx-hazelcast's structures come from its own default configuration
    assertThat(config.getMultiMapConfigs().keySet().toString() + config.getMapConfigs().keySet())
        .contains("__vertx.");
  }
}
