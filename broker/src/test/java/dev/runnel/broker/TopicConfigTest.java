package dev.runnel.broker;

import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The topic config as clients give it: the stored config's rules, plus the two that only a client's input needs. */
class TopicConfigTest {

  @Test
  void aDedupWindowUnderTheWebhookToleranceIsRefused() {
    assertThatThrownBy(() -> TopicConfig.fromJson(new JsonObject().put("dedupWindowMs", 299_999)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 300000");
    assertThat(TopicConfig.fromJson(new JsonObject().put("dedupWindowMs", 300_000)).dedupWindowMs()).isEqualTo(300_000);
    assertThat(TopicConfig.DEFAULT.dedupWindowMs()).isEqualTo(600_000);
  }

  @Test
  void aBadRetryPolicyIsRefusedWhenTheTopicIsConfigured() {
    assertThatThrownBy(() -> TopicConfig.fromJson(new JsonObject().put("retryPolicy", new JsonObject()
        .put("maxRetries", -1)))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> TopicConfig.fromJson(new JsonObject().put("retryPolicy", new JsonObject()
        .put("retries", 3)))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("retries");
    assertThat(TopicConfig.fromJson(new JsonObject().put("retryPolicy", new JsonObject().put("maxRetries", 5)))
        .retryPolicy().getInteger("maxRetries")).isEqualTo(5);
  }

  @Test
  void aStoredConfigRoundTripsThroughJson() {
    TopicConfig c = TopicConfig.DEFAULT.withDedup(true, 900_000);
    assertThat(TopicConfig.fromJson(c.toJson())).isEqualTo(c);
  }
}
