package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.RetryPolicy;
import dev.runnel.broker.TopicConfig;
import dev.runnel.broker.TopicNames;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.json.JsonObject;

import java.util.Set;
import java.util.TreeSet;

/**
 * A topic config update as a JSON merge patch (RFC 7396): checked before it is applied (unknown keys refused, even
 * when they would remove nothing: a patch names what it means to change) and applied to the stored config, whose
 * result must be a valid config. Pure.
 */
final class TopicConfigPatch {

  private static final Set<String> CONFIG_KEYS =
      Set.copyOf(TopicConfig.DEFAULT.withRetryPolicy(new JsonObject()).toJson().fieldNames());
  private static final Set<String> RETRY_KEYS = Set.copyOf(RetryPolicy.DEFAULT.toJson().fieldNames());

  private TopicConfigPatch() {
  }

  /** INVALID_CONFIG for a key no topic config has, or a retry policy that is not an object of known keys. */
  static void check(JsonObject patch) {
    for (String key : patch.fieldNames()) {
      if (!CONFIG_KEYS.contains(key)) {
        throw new BrokerException(BrokerError.INVALID_CONFIG, "unknown topic config key '" + key + "' (known: "
            + new TreeSet<>(CONFIG_KEYS) + ")");
      }
    }
    Object policy = patch.getValue("retryPolicy");
    if (policy != null && !(policy instanceof JsonObject)) {
      throw new BrokerException(BrokerError.INVALID_CONFIG, "topic config 'retryPolicy' must be an object or null");
    }
    if (policy instanceof JsonObject p) {
      for (String key : p.fieldNames()) {
        if (!RETRY_KEYS.contains(key)) {
          throw new BrokerException(BrokerError.INVALID_CONFIG, "unknown retry policy key '" + key + "' (known: "
              + new TreeSet<>(RETRY_KEYS) + ")");
        }
      }
    }
  }

  /** The topic's config with the patch applied, checked: INVALID_CONFIG if it cannot be. */
  static TopicConfig apply(TopicMetadata topic, JsonObject patch) {
    TopicConfig current = Values.config(topic.config());
    TopicConfig updated;
    try {
      updated = TopicConfig.fromJson(mergePatch(current.toJson(), patch));
      RetryPolicy.fromJson(updated.retryPolicy(), RetryPolicy.DEFAULT);
    } catch (IllegalArgumentException | ClassCastException e) {
      throw new BrokerException(BrokerError.INVALID_CONFIG, e.getMessage());
    }
    if (updated.segmentMs() != current.segmentMs()) {
      throw new BrokerException(BrokerError.INVALID_CONFIG, "segmentMs cannot change once a topic exists (it numbers "
          + "the topic's segments); topic " + topic.name() + " has " + current.segmentMs());
    }
    String dlq = updated.deadLetterTopic().replace("{topic}", topic.name());
    if (!TopicNames.isValid(dlq.replace("{group}", "g"))) {
      throw new BrokerException(BrokerError.INVALID_CONFIG, "'deadLetterTopic' must give a topic name "
          + "([A-Za-z0-9._-]{1,249}) once {topic} and {group} are replaced, not \"" + updated.deadLetterTopic() + "\"");
    }
    return updated;
  }

  /** RFC 7396: the patch's keys replace the target's, null removes one, and objects merge key by key. */
  static JsonObject mergePatch(JsonObject target, JsonObject patch) {
    JsonObject out = target.copy();
    for (String key : patch.fieldNames()) {
      Object value = patch.getValue(key);
      if (value == null) {
        out.remove(key);
      } else if (value instanceof JsonObject p) {
        out.put(key, mergePatch(out.getValue(key) instanceof JsonObject t ? t : new JsonObject(), p));
      } else {
        out.put(key, value);
      }
    }
    return out;
  }
}
