package dev.runnel.broker;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.util.Random;
import java.util.TreeSet;
import java.util.function.DoubleSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The retry schedule of DESIGN.md section 4: retry n (n ≥ 1) waits
 * {@code min(maxDelayMs, initialDelayMs · backoffMultiplier^(n−1)) · (1 + U[−jitter, +jitter])}. Expected values are
 * literals worked out by hand, never the policy's own arithmetic.
 */
class RetryPolicyTest {

  /** DESIGN.md section 4, verbatim. */
  private static final String DESIGN_DEFAULTS =
      "{\"maxRetries\": 3, \"initialDelayMs\": 1000, \"backoffMultiplier\": 2, \"maxDelayMs\": 300000, \"jitter\": 0.2}";

  /** A uniform draw that always gives {@code u}: 0 is the bottom of the jitter range, 0.5 its middle. */
  private static DoubleSupplier fixed(double u) {
    return () -> u;
  }

  private static RetryPolicy policy(String json) {
    return RetryPolicy.fromJson(new JsonObject(json), RetryPolicy.DEFAULT);
  }

  @Test
  void theDefaultsAreTheDesignsLiterals() {
    RetryPolicy d = RetryPolicy.DEFAULT;
    assertThat(d.maxRetries()).isEqualTo(3);
    assertThat(d.initialDelayMs()).isEqualTo(1000);
    assertThat(d.backoffMultiplier()).isEqualTo(2.0);
    assertThat(d.maxDelayMs()).isEqualTo(300_000);
    assertThat(d.jitter()).isEqualTo(0.2);
    assertThat(d.toJson()).isEqualTo(new JsonObject(DESIGN_DEFAULTS));
    // No policy, or an empty one, is the default; the design's JSON over any other base is the default too.
    assertThat(RetryPolicy.fromJson(null, RetryPolicy.DEFAULT)).isEqualTo(d);
    assertThat(RetryPolicy.fromJson(new JsonObject(), RetryPolicy.DEFAULT)).isEqualTo(d);
    assertThat(RetryPolicy.fromJson(new JsonObject(DESIGN_DEFAULTS), new RetryPolicy(0, 1, 1, 1, 0))).isEqualTo(d);
  }

  @Test
  void theDefaultScheduleDoublesFromOneSecondWithinTwentyPercent() {
    RetryPolicy d = RetryPolicy.DEFAULT;
    // The middle of the jitter range: the bare exponential.
    assertThat(d.delayMs(1, fixed(0.5))).isEqualTo(1000);
    assertThat(d.delayMs(2, fixed(0.5))).isEqualTo(2000);
    assertThat(d.delayMs(3, fixed(0.5))).isEqualTo(4000);
    // The bottom of the range is −20 %, the top approaches +20 %.
    assertThat(d.delayMs(1, fixed(0))).isEqualTo(800);
    assertThat(d.delayMs(3, fixed(0))).isEqualTo(3200);
    assertThat(d.delayMs(1, fixed(0.75))).isEqualTo(1100);
    assertThat(d.delayMs(2, fixed(0.25))).isEqualTo(1800);
    assertThat(d.delayMs(1, fixed(Math.nextDown(1.0)))).isEqualTo(1200);
  }

  @Test
  void theBackoffGrowsByTheMultiplierPerRetry() {
    RetryPolicy p = new RetryPolicy(5, 100, 3, 1_000_000, 0);
    long[] expected = {100, 300, 900, 2700, 8100, 24300};
    for (int n = 1; n <= expected.length; n++) {
      assertThat(p.delayMs(n, fixed(0.5))).as("retry %d", n).isEqualTo(expected[n - 1]);
    }
    RetryPolicy fractional = new RetryPolicy(5, 1000, 1.5, 1_000_000, 0);
    assertThat(fractional.delayMs(1, fixed(0.5))).isEqualTo(1000);
    assertThat(fractional.delayMs(2, fixed(0.5))).isEqualTo(1500);
    assertThat(fractional.delayMs(3, fixed(0.5))).isEqualTo(2250);
    // A multiplier of 1 is a constant backoff.
    RetryPolicy constant = new RetryPolicy(5, 700, 1, 1_000_000, 0);
    assertThat(constant.delayMs(1, fixed(0.5))).isEqualTo(700);
    assertThat(constant.delayMs(9, fixed(0.5))).isEqualTo(700);
  }

  @Test
  void theBackoffIsCappedAtMaxDelayBeforeTheJitter() {
    RetryPolicy noJitter = new RetryPolicy(100, 1000, 2, 5000, 0);
    assertThat(noJitter.delayMs(3, fixed(0.5))).isEqualTo(4000);
    assertThat(noJitter.delayMs(4, fixed(0.5))).as("8,000 capped").isEqualTo(5000);
    assertThat(noJitter.delayMs(10, fixed(0.5))).as("512,000 capped").isEqualTo(5000);
    assertThat(noJitter.delayMs(100, fixed(0.5))).as("2^99 s capped").isEqualTo(5000);
    // The jitter applies to the capped value (so it may go past maxDelayMs by the jitter, as the formula says).
    RetryPolicy jittered = new RetryPolicy(100, 1000, 2, 5000, 0.2);
    assertThat(jittered.delayMs(20, fixed(0))).isEqualTo(4000);
    assertThat(jittered.delayMs(20, fixed(0.25))).isEqualTo(4500);
    assertThat(jittered.delayMs(20, fixed(0.75))).isEqualTo(5500);
    // The default cap: 1 s · 2^9 = 512 s is past 300 s.
    assertThat(RetryPolicy.DEFAULT.delayMs(9, fixed(0.5))).isEqualTo(256_000);
    assertThat(RetryPolicy.DEFAULT.delayMs(10, fixed(0.5))).isEqualTo(300_000);
    assertThat(RetryPolicy.DEFAULT.delayMs(10, fixed(0))).isEqualTo(240_000);
  }

  @Test
  void aCapBelowTheInitialDelayCapsTheFirstRetry() {
    RetryPolicy p = new RetryPolicy(3, 10_000, 2, 2500, 0);
    assertThat(p.delayMs(1, fixed(0.5))).isEqualTo(2500);
    assertThat(new RetryPolicy(3, 10_000, 2, 0, 0.5).delayMs(1, fixed(0))).isZero();
  }

  @Test
  void jitterSpreadsTheDelaysOverTheWholeRangeAndNeverPastIt() {
    Random random = new Random(20261201);
    RetryPolicy p = new RetryPolicy(3, 10_000, 2, 300_000, 0.2);
    TreeSet<Long> seen = new TreeSet<>();
    for (int i = 0; i < 2000; i++) {
      long d = p.delayMs(1, random::nextDouble);
      assertThat(d).isBetween(8000L, 12_000L);
      seen.add(d);
    }
    // Not constant, and spread over the range: both ends reached within 2 %, many distinct values.
    assertThat(seen.size()).isGreaterThan(1000);
    assertThat(seen.first()).isLessThan(8040);
    assertThat(seen.last()).isGreaterThan(11_960);
    // Half of the draws below the middle, roughly.
    long below = random.doubles(2000).filter(u -> p.delayMs(1, () -> u) < 10_000).count();
    assertThat(below).isBetween(900L, 1100L);
  }

  @Test
  void fullJitterRangesFromZeroToTwiceTheBackoff() {
    RetryPolicy p = new RetryPolicy(3, 1000, 2, 300_000, 1);
    assertThat(p.delayMs(1, fixed(0))).isZero();
    assertThat(p.delayMs(2, fixed(0.25))).isEqualTo(1000);
    assertThat(p.delayMs(2, fixed(Math.nextDown(1.0)))).isEqualTo(4000);
  }

  @Test
  void withoutJitterTheDelayIsExactAndDrawsNoRandomNumber() {
    RetryPolicy p = new RetryPolicy(3, 1000, 2, 300_000, 0);
    // A seeded jitter sequence (BrokerOptions' jitter seed) is not consumed by policies without jitter.
    DoubleSupplier none = () -> {
      throw new AssertionError("no random number needed without jitter");
    };
    assertThat(p.delayMs(1, none)).isEqualTo(1000);
    assertThat(p.delayMs(2, none)).isEqualTo(2000);
  }

  @Test
  void maxRetriesIsKeptAsGivenAndZeroMeansNoRetry() {
    assertThat(policy("{\"maxRetries\": 0}").maxRetries()).isZero();
    assertThat(policy("{\"maxRetries\": 7}").maxRetries()).isEqualTo(7);
    assertThat(new RetryPolicy(0, 0, 1, 0, 0).maxRetries()).isZero();
    assertThatThrownBy(() -> new RetryPolicy(-1, 1000, 2, 1000, 0))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("maxRetries must be 0 or more");
  }

  @Test
  void absentKeysKeepTheBaseAndEveryKeyIsRead() {
    RetryPolicy base = new RetryPolicy(9, 111, 1.25, 99_999, 0.5);
    assertThat(RetryPolicy.fromJson(new JsonObject("{\"maxRetries\": 1}"), base))
        .isEqualTo(new RetryPolicy(1, 111, 1.25, 99_999, 0.5));
    assertThat(RetryPolicy.fromJson(new JsonObject("{\"initialDelayMs\": 5}"), base))
        .isEqualTo(new RetryPolicy(9, 5, 1.25, 99_999, 0.5));
    assertThat(RetryPolicy.fromJson(new JsonObject("{\"backoffMultiplier\": 3.5}"), base))
        .isEqualTo(new RetryPolicy(9, 111, 3.5, 99_999, 0.5));
    assertThat(RetryPolicy.fromJson(new JsonObject("{\"maxDelayMs\": 60000}"), base))
        .isEqualTo(new RetryPolicy(9, 111, 1.25, 60_000, 0.5));
    assertThat(RetryPolicy.fromJson(new JsonObject("{\"jitter\": 0.05}"), base))
        .isEqualTo(new RetryPolicy(9, 111, 1.25, 99_999, 0.05));
    // Integral keys may be written as integral doubles; fractional keys as integers.
    assertThat(RetryPolicy.fromJson(new JsonObject("{\"maxRetries\": 2.0, \"maxDelayMs\": 1e4, \"jitter\": 1}"), base))
        .isEqualTo(new RetryPolicy(2, 111, 1.25, 10_000, 1));
  }

  @Test
  void aPolicySurvivesItsJson() {
    RetryPolicy p = new RetryPolicy(4, 250, 1.5, 12_345, 0.3);
    JsonObject json = p.toJson();
    assertThat(json).isEqualTo(new JsonObject(
        "{\"maxRetries\": 4, \"initialDelayMs\": 250, \"backoffMultiplier\": 1.5, \"maxDelayMs\": 12345, \"jitter\": 0.3}"));
    assertThat(RetryPolicy.fromJson(new JsonObject(json.encode()), RetryPolicy.DEFAULT)).isEqualTo(p);
  }

  @Test
  void unknownKeysAndNonNumbersAreRefusedByName() {
    assertThatThrownBy(() -> policy("{\"maxRetries\": 3, \"retries\": 3}"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("unknown retry policy key 'retries'");
    assertThatThrownBy(() -> policy("{\"jiter\": 0.1}"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("unknown retry policy key 'jiter'");
    for (String key : new String[] {"maxRetries", "initialDelayMs", "backoffMultiplier", "maxDelayMs", "jitter"}) {
      for (Object bad : new Object[] {"3", true, new JsonObject(), new JsonArray().add(1)}) {
        JsonObject json = new JsonObject().put(key, bad);
        assertThatThrownBy(() -> RetryPolicy.fromJson(json, RetryPolicy.DEFAULT)).as("%s", json)
            .isInstanceOf(IllegalArgumentException.class).hasMessage("retry policy '" + key + "' must be a number");
      }
      JsonObject nullValue = new JsonObject().putNull(key);
      assertThatThrownBy(() -> RetryPolicy.fromJson(nullValue, RetryPolicy.DEFAULT)).as("%s", nullValue)
          .isInstanceOf(IllegalArgumentException.class).hasMessage("retry policy '" + key + "' must be a number");
    }
  }

  @Test
  void countsAndDelaysMustBeIntegers() {
    for (String key : new String[] {"maxRetries", "initialDelayMs", "maxDelayMs"}) {
      assertThatThrownBy(() -> policy("{\"" + key + "\": 1.5}")).as(key)
          .isInstanceOf(IllegalArgumentException.class).hasMessage("retry policy '" + key + "' must be an integer");
    }
    assertThat(policy("{\"backoffMultiplier\": 1.5}").backoffMultiplier()).isEqualTo(1.5);
    assertThat(policy("{\"jitter\": 0.25}").jitter()).isEqualTo(0.25);
  }

  @Test
  void outOfRangeValuesAreRefusedAndTheBoundsAccepted() {
    assertThatThrownBy(() -> policy("{\"maxRetries\": -1}")).hasMessage("maxRetries must be 0 or more");
    assertThatThrownBy(() -> policy("{\"initialDelayMs\": -1}")).hasMessage("delays must be 0 or more");
    assertThatThrownBy(() -> policy("{\"maxDelayMs\": -1}")).hasMessage("delays must be 0 or more");
    assertThatThrownBy(() -> policy("{\"backoffMultiplier\": 0.99}")).hasMessage("backoffMultiplier must be at least 1");
    assertThatThrownBy(() -> policy("{\"backoffMultiplier\": 0}")).hasMessage("backoffMultiplier must be at least 1");
    assertThatThrownBy(() -> policy("{\"jitter\": -0.01}")).hasMessage("jitter must be between 0 and 1");
    assertThatThrownBy(() -> policy("{\"jitter\": 1.01}")).hasMessage("jitter must be between 0 and 1");
    // The bounds themselves are valid.
    assertThat(policy("{\"maxRetries\": 0, \"initialDelayMs\": 0, \"maxDelayMs\": 0, \"backoffMultiplier\": 1, \"jitter\": 0}"))
        .isEqualTo(new RetryPolicy(0, 0, 1, 0, 0));
    assertThat(policy("{\"jitter\": 1}").jitter()).isEqualTo(1.0);
  }
}
