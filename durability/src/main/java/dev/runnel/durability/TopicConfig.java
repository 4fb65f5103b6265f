package dev.runnel.durability;

import io.vertx.core.json.JsonObject;

import java.util.Set;

/**
 * A topic's settings.
 *
 * @param retentionMs     records older than this may be dropped (whole segments at a time); -1 keeps them forever
 * @param retentionBytes  the topic's stored bytes are kept under this by dropping its oldest segments; -1: no bound
 * @param segmentMs       width of a segment in append time: retention drops data in steps of this
 * @param maxRecordBytes  largest accepted record (key, value, headers)
 * @param retryPolicy     the consumer groups' retry policy (validated by the broker), or null for the default
 * @param deadLetterTopic name of a group's dead-letter topic, {@code {topic}} and {@code {group}} replaced
 * @param dedup           whether produce deduplicates by idempotency key
 * @param dedupWindowMs   how long an idempotency key is remembered
 */
public record TopicConfig(long retentionMs, long retentionBytes, long segmentMs, int maxRecordBytes,
                          JsonObject retryPolicy, String deadLetterTopic, boolean dedup, long dedupWindowMs) {

  public static final String DEFAULT_DEAD_LETTER_TOPIC = "{topic}.{group}.dlq";
  public static final TopicConfig DEFAULT = new TopicConfig(7L * 24 * 3600 * 1000, -1, 3600_000, 1024 * 1024);
  private static final Set<String> KEYS = Set.of("retentionMs", "retentionBytes", "segmentMs", "maxRecordBytes",
      "retryPolicy", "deadLetterTopic", "dedup", "dedupWindowMs");

  public TopicConfig {
    if (retentionMs < -1 || retentionMs == 0) {
      throw new IllegalArgumentException("retentionMs must be positive or -1 (keep forever)");
    }
    if (retentionBytes < -1 || retentionBytes == 0) {
      throw new IllegalArgumentException("retentionBytes must be positive or -1 (no bound)");
    }
    if (segmentMs < 1) {
      throw new IllegalArgumentException("segmentMs must be at least 1");
    }
    if (maxRecordBytes < 1 || maxRecordBytes > 64 * 1024 * 1024) {
      throw new IllegalArgumentException("maxRecordBytes must be between 1 and 67108864");
    }
    if (deadLetterTopic == null || deadLetterTopic.isBlank()) {
      throw new IllegalArgumentException("deadLetterTopic must not be empty");
    }
    if (dedupWindowMs < 1) {
      throw new IllegalArgumentException("dedupWindowMs must be at least 1");
    }
    retryPolicy = retryPolicy == null ? null : retryPolicy.copy();
  }

  /** Storage settings only; the rest default. */
  public TopicConfig(long retentionMs, long retentionBytes, long segmentMs, int maxRecordBytes) {
    this(retentionMs, retentionBytes, segmentMs, maxRecordBytes, null, DEFAULT_DEAD_LETTER_TOPIC, false, 600_000);
  }

  public TopicConfig withRetryPolicy(JsonObject policy) {
    return new TopicConfig(retentionMs, retentionBytes, segmentMs, maxRecordBytes, policy, deadLetterTopic, dedup,
        dedupWindowMs);
  }

  public TopicConfig withDedup(boolean enabled, long windowMs) {
    return new TopicConfig(retentionMs, retentionBytes, segmentMs, maxRecordBytes, retryPolicy, deadLetterTopic, enabled,
        windowMs);
  }

  /** Reads a config, taking defaults for absent keys; unknown keys and wrong types are errors. */
  public static TopicConfig fromJson(JsonObject json) {
    if (json == null) {
      return DEFAULT;
    }
    for (String key : json.fieldNames()) {
      if (!KEYS.contains(key)) {
        throw new IllegalArgumentException("unknown topic config key '" + key + "' (known: " + KEYS + ")");
      }
    }
    Object policy = json.getValue("retryPolicy");
    if (policy != null && !(policy instanceof JsonObject)) {
      throw new IllegalArgumentException("topic config 'retryPolicy' must be an object");
    }
    Object dlq = json.getValue("deadLetterTopic");
    if (dlq != null && !(dlq instanceof String)) {
      throw new IllegalArgumentException("topic config 'deadLetterTopic' must be a string");
    }
    Object dedup = json.getValue("dedup");
    if (dedup != null && !(dedup instanceof Boolean)) {
      throw new IllegalArgumentException("topic config 'dedup' must be true or false");
    }
    return new TopicConfig(
        longValue(json, "retentionMs", DEFAULT.retentionMs),
        longValue(json, "retentionBytes", DEFAULT.retentionBytes),
        longValue(json, "segmentMs", DEFAULT.segmentMs),
        Math.toIntExact(Math.min(Integer.MAX_VALUE, longValue(json, "maxRecordBytes", DEFAULT.maxRecordBytes))),
        (JsonObject) policy,
        dlq == null ? DEFAULT_DEAD_LETTER_TOPIC : (String) dlq,
        dedup != null && (Boolean) dedup,
        longValue(json, "dedupWindowMs", DEFAULT.dedupWindowMs));
  }

  private static long longValue(JsonObject json, String key, long defaultValue) {
    Object v = json.getValue(key);
    if (v == null) {
      return defaultValue;
    }
    if (!(v instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())) {
      throw new IllegalArgumentException("topic config '" + key + "' must be an integer");
    }
    return n.longValue();
  }

  public JsonObject toJson() {
    JsonObject json = new JsonObject()
        .put("retentionMs", retentionMs)
        .put("retentionBytes", retentionBytes)
        .put("segmentMs", segmentMs)
        .put("maxRecordBytes", maxRecordBytes)
        .put("deadLetterTopic", deadLetterTopic)
        .put("dedup", dedup)
        .put("dedupWindowMs", dedupWindowMs);
    if (retryPolicy != null) {
      json.put("retryPolicy", retryPolicy.copy());
    }
    return json;
  }
}
