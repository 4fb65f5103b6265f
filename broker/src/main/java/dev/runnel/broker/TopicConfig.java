package dev.runnel.broker;

import io.vertx.core.json.JsonObject;

/**
 * A topic's settings, as clients set and see them (DESIGN.md section 2). The rules are the stored config's, checked
 * once: constructing one validates every field.
 *
 * @param retentionMs     records older than this may be dropped (whole segments at a time); -1 keeps them forever
 * @param retentionBytes  the topic's stored bytes are kept under this by dropping its oldest segments; -1: no bound
 * @param segmentMs       width of a segment in append time: retention drops data in steps of this
 * @param maxRecordBytes  largest accepted record (key, value, headers)
 * @param retryPolicy     the consumer groups' retry policy, or null for the default
 * @param deadLetterTopic name of a group's dead-letter topic, {@code {topic}} and {@code {group}} replaced
 * @param dedup           whether produce deduplicates by idempotency key
 * @param dedupWindowMs   how long an idempotency key is remembered
 */
public record TopicConfig(long retentionMs, long retentionBytes, long segmentMs, int maxRecordBytes,
                          JsonObject retryPolicy, String deadLetterTopic, boolean dedup, long dedupWindowMs) {

  /** DESIGN.md section 2: never below the 5-minute webhook signature tolerance. */
  public static final long MIN_DEDUP_WINDOW_MS = 300_000;
  public static final TopicConfig DEFAULT = fromJson(new JsonObject());

  public TopicConfig {
    retryPolicy = storage(retentionMs, retentionBytes, segmentMs, maxRecordBytes, retryPolicy, deadLetterTopic, dedup,
        dedupWindowMs).retryPolicy();
  }

  /** Storage settings only; the rest default. */
  public TopicConfig(long retentionMs, long retentionBytes, long segmentMs, int maxRecordBytes) {
    this(retentionMs, retentionBytes, segmentMs, maxRecordBytes, null, DEFAULT.deadLetterTopic, false,
        DEFAULT.dedupWindowMs);
  }

  /**
   * Reads a config as a client gives it, taking defaults for absent keys; unknown keys, wrong types, a bad retry
   * policy and a dedup window under {@link #MIN_DEDUP_WINDOW_MS} are {@link IllegalArgumentException}s.
   */
  public static TopicConfig fromJson(JsonObject json) {
    var c = dev.runnel.durability.TopicConfig.fromJson(json);
    if (c.dedupWindowMs() < MIN_DEDUP_WINDOW_MS) {
      throw new IllegalArgumentException("dedupWindowMs must be at least " + MIN_DEDUP_WINDOW_MS + " (5 minutes, the "
          + "webhook signature tolerance: a delivery retried within it must still be recognised)");
    }
    RetryPolicy.fromJson(c.retryPolicy(), RetryPolicy.DEFAULT);  // a bad policy is refused now, not at a group's join
    return new TopicConfig(c.retentionMs(), c.retentionBytes(), c.segmentMs(), c.maxRecordBytes(), c.retryPolicy(),
        c.deadLetterTopic(), c.dedup(), c.dedupWindowMs());
  }

  public JsonObject toJson() {
    return storage(retentionMs, retentionBytes, segmentMs, maxRecordBytes, retryPolicy, deadLetterTopic, dedup,
        dedupWindowMs).toJson();
  }

  public TopicConfig withDedup(boolean enabled, long windowMs) {
    return new TopicConfig(retentionMs, retentionBytes, segmentMs, maxRecordBytes, retryPolicy, deadLetterTopic, enabled,
        windowMs);
  }

  public TopicConfig withRetryPolicy(JsonObject policy) {
    return new TopicConfig(retentionMs, retentionBytes, segmentMs, maxRecordBytes, policy, deadLetterTopic, dedup,
        dedupWindowMs);
  }

  /** The stored config's rules are the one place they are written down. */
  private static dev.runnel.durability.TopicConfig storage(long retentionMs, long retentionBytes, long segmentMs,
      int maxRecordBytes, JsonObject retryPolicy, String deadLetterTopic, boolean dedup, long dedupWindowMs) {
    return new dev.runnel.durability.TopicConfig(retentionMs, retentionBytes, segmentMs, maxRecordBytes, retryPolicy,
        deadLetterTopic, dedup, dedupWindowMs);
  }
}
