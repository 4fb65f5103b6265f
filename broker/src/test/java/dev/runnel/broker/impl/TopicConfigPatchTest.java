package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.TopicConfig;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A topic config update as a merge patch ({@link TopicConfigPatch}), without Postgres. */
class TopicConfigPatchTest {

  private static final TopicMetadata ORDERS = new TopicMetadata(UUID.randomUUID(), "orders", 4,
      Values.storage(TopicConfig.DEFAULT));

  @Test
  void aPatchReplacesKeysRemovesNullsAndMergesObjects() {
    JsonObject target = new JsonObject().put("a", 1).put("b", 2).put("o", new JsonObject().put("x", 1).put("y", 2));
    JsonObject patch = new JsonObject().put("a", 9).putNull("b").put("o", new JsonObject().putNull("x").put("z", 3));
    assertThat(TopicConfigPatch.mergePatch(target, patch)).isEqualTo(new JsonObject().put("a", 9)
        .put("o", new JsonObject().put("y", 2).put("z", 3)));
    assertThat(target.getInteger("a")).as("the target is not changed").isEqualTo(1);
  }

  @Test
  void aValidPatchChangesWhatItNames() {
    TopicConfig updated = TopicConfigPatch.apply(ORDERS, new JsonObject().put("retentionMs", 60_000)
        .put("retryPolicy", new JsonObject().put("maxRetries", 2)));
    assertThat(updated.retentionMs()).isEqualTo(60_000);
    assertThat(updated.retryPolicy().getInteger("maxRetries")).isEqualTo(2);
    assertThat(updated.segmentMs()).isEqualTo(TopicConfig.DEFAULT.segmentMs());
  }

  @Test
  void unknownKeysAndBadValuesAreRefused() {
    assertInvalid(() -> TopicConfigPatch.check(new JsonObject().putNull("nope")), "unknown topic config key 'nope'");
    assertInvalid(() -> TopicConfigPatch.check(new JsonObject().put("retryPolicy", 3)), "must be an object or null");
    assertInvalid(() -> TopicConfigPatch.check(new JsonObject().put("retryPolicy", new JsonObject().put("tries", 1))),
        "unknown retry policy key 'tries'");
    assertInvalid(() -> TopicConfigPatch.apply(ORDERS, new JsonObject().put("segmentMs", 1234)),
        "segmentMs cannot change");
    assertInvalid(() -> TopicConfigPatch.apply(ORDERS, new JsonObject().put("deadLetterTopic", "bad name {group}")),
        "'deadLetterTopic' must give a topic name");
    assertInvalid(() -> TopicConfigPatch.apply(ORDERS, new JsonObject().put("retentionMs", "soon")), "");
  }

  private static void assertInvalid(Runnable call, String message) {
    assertThatThrownBy(call::run).isInstanceOfSatisfying(BrokerException.class, e -> {
      assertThat(e.error()).isEqualTo(BrokerError.INVALID_CONFIG);
      assertThat(e.getMessage()).contains(message);
    });
  }
}
