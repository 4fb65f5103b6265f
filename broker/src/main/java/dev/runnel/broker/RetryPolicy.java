package dev.runnel.broker;

import io.vertx.core.json.JsonObject;

import java.util.Set;
import java.util.function.DoubleSupplier;

/**
 * When a failed record is delivered again. Retry n (n ≥ 1) waits
 * {@code min(maxDelayMs, initialDelayMs · backoffMultiplier^(n−1)) · (1 + U[−jitter, +jitter])};
 * {@code maxRetries: 3} means at most 4 deliveries.
 */
public record RetryPolicy(int maxRetries, long initialDelayMs, double backoffMultiplier, long maxDelayMs, double jitter) {

  public static final RetryPolicy DEFAULT = new RetryPolicy(3, 1000, 2, 300_000, 0.2);
  private static final Set<String> KEYS = Set.of("maxRetries", "initialDelayMs", "backoffMultiplier", "maxDelayMs", "jitter");

  public RetryPolicy {
    if (maxRetries < 0) {
      throw new IllegalArgumentException("maxRetries must be 0 or more");
    }
    if (initialDelayMs < 0 || maxDelayMs < 0) {
      throw new IllegalArgumentException("delays must be 0 or more");
    }
    if (backoffMultiplier < 1) {
      throw new IllegalArgumentException("backoffMultiplier must be at least 1");
    }
    if (jitter < 0 || jitter > 1) {
      throw new IllegalArgumentException("jitter must be between 0 and 1");
    }
  }

  /** The wait before retry {@code n} (n ≥ 1); {@code uniform} gives numbers in [0, 1). */
  public long delayMs(int n, DoubleSupplier uniform) {
    double base = Math.min(maxDelayMs, initialDelayMs * Math.pow(backoffMultiplier, n - 1));
    double factor = jitter == 0 ? 1 : 1 + (uniform.getAsDouble() * 2 - 1) * jitter;
    return Math.max(0, Math.round(base * factor));
  }

  /** A policy from JSON over {@code defaults}: absent keys keep the default; unknown keys are errors. */
  public static RetryPolicy fromJson(JsonObject json, RetryPolicy defaults) {
    if (json == null) {
      return defaults;
    }
    for (String key : json.fieldNames()) {
      if (!KEYS.contains(key)) {
        throw new IllegalArgumentException("unknown retry policy key '" + key + "' (known: " + KEYS + ")");
      }
      if (!(json.getValue(key) instanceof Number n)) {
        throw new IllegalArgumentException("retry policy '" + key + "' must be a number");
      }
      boolean integral = !key.equals("backoffMultiplier") && !key.equals("jitter");
      if (integral && n.doubleValue() != Math.rint(n.doubleValue())) {
        throw new IllegalArgumentException("retry policy '" + key + "' must be an integer");
      }
    }
    return new RetryPolicy(
        json.getNumber("maxRetries", defaults.maxRetries).intValue(),
        json.getNumber("initialDelayMs", defaults.initialDelayMs).longValue(),
        json.getNumber("backoffMultiplier", defaults.backoffMultiplier).doubleValue(),
        json.getNumber("maxDelayMs", defaults.maxDelayMs).longValue(),
        json.getNumber("jitter", defaults.jitter).doubleValue());
  }

  public JsonObject toJson() {
    return new JsonObject().put("maxRetries", maxRetries).put("initialDelayMs", initialDelayMs)
        .put("backoffMultiplier", backoffMultiplier).put("maxDelayMs", maxDelayMs).put("jitter", jitter);
  }
}
