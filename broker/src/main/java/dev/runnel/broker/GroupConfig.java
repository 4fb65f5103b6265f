package dev.runnel.broker;

import io.vertx.core.json.JsonObject;

import java.util.Set;

/**
 * A group's own settings over its topics' (DESIGN.md section 5), validated once, when it is made: a group that has
 * one never checks it again.
 *
 * @param retryPolicy     nullable; retry-policy keys that override the topic's policy, key by key
 *                        ({@link RetryPolicy#fromJson})
 * @param deadLetterTopic nullable; the dead-letter topic's name pattern ({@code {topic}} and {@code {group}} are
 *                        replaced), over the topic's {@link TopicConfig#deadLetterTopic()}
 */
public record GroupConfig(JsonObject retryPolicy, String deadLetterTopic) {

  /** A group with nothing of its own: its topics' settings apply. */
  public static final GroupConfig NONE = new GroupConfig(null, null);

  private static final Set<String> KEYS = Set.of("retryPolicy", "deadLetterTopic");

  /** @throws IllegalArgumentException for a retry policy {@link RetryPolicy#fromJson} refuses */
  public GroupConfig {
    if (retryPolicy != null) {
      retryPolicy = retryPolicy.copy();
      RetryPolicy.fromJson(retryPolicy, RetryPolicy.DEFAULT);  // refuses unknown keys and wrong types
    }
  }

  /**
   * {@code {"retryPolicy":{...},"deadLetterTopic":"..."}}, both optional; null is {@link #NONE}.
   *
   * @throws IllegalArgumentException for another key, a value of the wrong type or a policy that is refused
   */
  public static GroupConfig fromJson(JsonObject json) {
    if (json == null) {
      return NONE;
    }
    for (String key : json.fieldNames()) {
      if (!KEYS.contains(key)) {
        throw new IllegalArgumentException("unknown group config key '" + key
            + "' (known: retryPolicy, deadLetterTopic)");
      }
    }
    Object policy = json.getValue("retryPolicy");
    Object dlq = json.getValue("deadLetterTopic");
    if (policy != null && !(policy instanceof JsonObject) || dlq != null && !(dlq instanceof String)) {
      throw new IllegalArgumentException("group config takes {\"retryPolicy\": {...}, \"deadLetterTopic\": \"name\"}");
    }
    return new GroupConfig((JsonObject) policy, (String) dlq);
  }

  /** A copy: the config cannot be changed after it was checked. */
  @Override
  public JsonObject retryPolicy() {
    return retryPolicy == null ? null : retryPolicy.copy();
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject();
    if (retryPolicy != null) {
      json.put("retryPolicy", retryPolicy.copy());
    }
    if (deadLetterTopic != null) {
      json.put("deadLetterTopic", deadLetterTopic);
    }
    return json;
  }

  /** The policy of this group on a topic whose own policy is {@code topicPolicy}. */
  public RetryPolicy retryPolicyOver(RetryPolicy topicPolicy) {
    return RetryPolicy.fromJson(retryPolicy, topicPolicy);
  }

  /** The name of this group's dead-letter topic for {@code topic}, whose own pattern is {@code topicPattern}. */
  public String deadLetterTopicName(String topicPattern, String topic, String group) {
    String pattern = deadLetterTopic != null ? deadLetterTopic : topicPattern;
    return pattern.replace("{topic}", topic).replace("{group}", group);
  }
}
