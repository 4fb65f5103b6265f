package dev.runnel.durability;

import io.vertx.core.json.JsonObject;

import java.util.Set;

/**
 * A topic's storage settings.
 *
 * @param retentionMs    records older than this may be dropped (whole segments at a time); -1 keeps them forever
 * @param retentionBytes the topic's stored bytes are kept under this by dropping its oldest segments; -1: no bound
 * @param segmentMs      width of a segment in append time: retention drops data in steps of this
 * @param maxRecordBytes largest accepted record (key, value, headers)
 */
public record TopicConfig(long retentionMs, long retentionBytes, long segmentMs, int maxRecordBytes) {

  public static final TopicConfig DEFAULT = new TopicConfig(7L * 24 * 3600 * 1000, -1, 3600_000, 1024 * 1024);
  private static final Set<String> KEYS = Set.of("retentionMs", "retentionBytes", "segmentMs", "maxRecordBytes");

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
    return new TopicConfig(
        longValue(json, "retentionMs", DEFAULT.retentionMs),
        longValue(json, "retentionBytes", DEFAULT.retentionBytes),
        longValue(json, "segmentMs", DEFAULT.segmentMs),
        Math.toIntExact(Math.min(Integer.MAX_VALUE, longValue(json, "maxRecordBytes", DEFAULT.maxRecordBytes))));
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
    return new JsonObject()
        .put("retentionMs", retentionMs)
        .put("retentionBytes", retentionBytes)
        .put("segmentMs", segmentMs)
        .put("maxRecordBytes", maxRecordBytes);
  }
}
