package dev.runnel.broker;

import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A group's config is validated once, when made, and answers its retry policy and dead-letter topic name. */
class GroupConfigTest {

  @Test
  void anUnknownKeyAWrongTypeOrABadPolicyIsRefusedWhenMade() {
    assertThatThrownBy(() -> GroupConfig.fromJson(new JsonObject().put("retries", 1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'retries'");
    assertThatThrownBy(() -> GroupConfig.fromJson(new JsonObject().put("retryPolicy", "fast")))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> GroupConfig.fromJson(new JsonObject().put("deadLetterTopic", 7)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new GroupConfig(new JsonObject().put("maxRetrys", 1), null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxRetrys");
  }

  @Test
  void itsRetryPolicyOverridesTheTopicsKeyByKey() {
    RetryPolicy topic = RetryPolicy.fromJson(new JsonObject().put("maxRetries", 9).put("initialDelayMs", 50),
        RetryPolicy.DEFAULT);
    GroupConfig config = GroupConfig.fromJson(new JsonObject().put("retryPolicy", new JsonObject().put("maxRetries", 2)));

    RetryPolicy policy = config.retryPolicyOver(topic);

    assertThat(policy.maxRetries()).isEqualTo(2);
    assertThat(policy.initialDelayMs()).isEqualTo(50);
    assertThat(GroupConfig.NONE.retryPolicyOver(topic)).isEqualTo(topic);
  }

  @Test
  void itsDeadLetterPatternWinsOverTheTopicsAndNamesTheTopicAndGroup() {
    GroupConfig own = GroupConfig.fromJson(new JsonObject().put("deadLetterTopic", "dead.{group}.{topic}"));

    assertThat(own.deadLetterTopicName("{topic}.{group}.dlq", "orders", "billing")).isEqualTo("dead.billing.orders");
    assertThat(GroupConfig.NONE.deadLetterTopicName("{topic}.{group}.dlq", "orders", "billing"))
        .isEqualTo("orders.billing.dlq");
  }

  @Test
  void itsJsonIsWhatItWasMadeFromAndCannotBeChangedFromOutside() {
    JsonObject policy = new JsonObject().put("maxRetries", 3);
    JsonObject json = new JsonObject().put("retryPolicy", policy).put("deadLetterTopic", "x.{group}");
    GroupConfig config = GroupConfig.fromJson(json);
    policy.put("maxRetries", 100);

    assertThat(config.toJson()).isEqualTo(new JsonObject().put("retryPolicy", new JsonObject().put("maxRetries", 3))
        .put("deadLetterTopic", "x.{group}"));
    assertThat(GroupConfig.fromJson(null)).isEqualTo(GroupConfig.NONE);
    assertThat(GroupConfig.NONE.toJson()).isEqualTo(new JsonObject());
  }
}
