package dev.runnel.broker.auth;

import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ApiKeysTest {

  private static final ApiKey BILLING = new ApiKey("billing", "s3cret",
      List.of(new Grant("orders*", EnumSet.of(Right.PRODUCE, Right.CONSUME)), new Grant("audit", Set.of(Right.CONSUME))));
  private static final ApiKey OPS = new ApiKey("ops", "0ps", List.of(new Grant("*", EnumSet.allOf(Right.class))));
  private static final ApiKeys KEYS = ApiKeys.of(List.of(BILLING, OPS));

  @Test
  void patternsMatchWithStarsOnly() {
    assertThat(new Grant("orders*", Set.of(Right.PRODUCE)).covers("orders")).isTrue();
    assertThat(new Grant("orders*", Set.of(Right.PRODUCE)).covers("orders.eu")).isTrue();
    assertThat(new Grant("orders*", Set.of(Right.PRODUCE)).covers("order")).isFalse();
    assertThat(new Grant("orders*", Set.of(Right.PRODUCE)).covers("xorders")).isFalse();
    assertThat(new Grant("*.dlq", Set.of(Right.PRODUCE)).covers("orders.g.dlq")).isTrue();
    assertThat(new Grant("*.dlq", Set.of(Right.PRODUCE)).covers("orders.g.dlqx")).isFalse();
    assertThat(new Grant("a*b*c", Set.of(Right.PRODUCE)).covers("axxbyyc")).isTrue();
    assertThat(new Grant("a*b*c", Set.of(Right.PRODUCE)).covers("axxbyy")).isFalse();
    assertThat(new Grant("a.b", Set.of(Right.PRODUCE)).covers("axb")).isFalse();  // '.' is no wildcard
    assertThat(new Grant("audit", Set.of(Right.PRODUCE)).covers("audit")).isTrue();
    assertThat(new Grant("audit", Set.of(Right.PRODUCE)).covers("audit2")).isFalse();
    assertThat(new Grant("*", Set.of(Right.PRODUCE)).coversEveryTopic()).isTrue();
    assertThat(new Grant("o*", Set.of(Right.PRODUCE)).coversEveryTopic()).isFalse();
    // A pattern that would take exponential time with naive backtracking answers at once.
    assertThat(new Grant("*a*a*a*a*a*a*a*a*b", Set.of(Right.PRODUCE)).covers("a".repeat(240))).isFalse();
  }

  @Test
  void rightsArePerTopicPattern() {
    assertThat(BILLING.may(Right.PRODUCE, "orders.eu")).isTrue();
    assertThat(BILLING.may(Right.ADMIN, "orders.eu")).isFalse();
    assertThat(BILLING.may(Right.CONSUME, "audit")).isTrue();
    assertThat(BILLING.may(Right.PRODUCE, "audit")).isFalse();
    assertThat(BILLING.may(Right.CONSUME, "payments")).isFalse();
    assertThat(BILLING.sees("audit")).isTrue();
    assertThat(BILLING.sees("payments")).isFalse();
    assertThat(BILLING.mayOnEveryTopic(Right.CONSUME)).isFalse();
    assertThat(OPS.mayOnEveryTopic(Right.ADMIN)).isTrue();
  }

  @Test
  void authenticatesNameAndSecret() {
    assertThat(KEYS.enabled()).isTrue();
    assertThat(KEYS.authenticate("billing:s3cret")).isSameAs(BILLING);
    assertThat(KEYS.authenticate("ops", "0ps")).isSameAs(OPS);
    assertThat(KEYS.authenticate("billing:0ps")).isNull();
    assertThat(KEYS.authenticate("billing:s3cret ")).isNull();
    assertThat(KEYS.authenticate("nobody:s3cret")).isNull();
    assertThat(KEYS.authenticate("billing")).isNull();
    assertThat(KEYS.authenticate(":s3cret")).isNull();
    assertThat(KEYS.authenticate((String) null)).isNull();
    // A secret may hold ':'; only the first one separates the name.
    ApiKeys colon = ApiKeys.of(List.of(new ApiKey("k", "a:b", List.of(new Grant("*", Set.of(Right.CONSUME))))));
    assertThat(colon.authenticate("k:a:b")).isNotNull();
  }

  @Test
  void withoutKeysAuthIsOffAndEveryoneIsAnonymous() {
    assertThat(ApiKeys.OFF.enabled()).isFalse();
    assertThat(ApiKeys.OFF.authenticate((String) null)).isSameAs(ApiKey.ANONYMOUS);
    assertThat(ApiKey.ANONYMOUS.mayOnEveryTopic(Right.ADMIN)).isTrue();
  }

  @Test
  void badConfigIsRefused() {
    assertThatThrownBy(() -> ApiKeys.of(List.of())).hasMessageContaining("no API keys");
    assertThatThrownBy(() -> ApiKeys.of(List.of(BILLING, BILLING))).hasMessageContaining("twice");
    assertThatThrownBy(() -> new ApiKey("a:b", "s", List.of())).hasMessageContaining("':'");
    assertThatThrownBy(() -> ApiKeys.of(List.of(new ApiKey("a", "", List.of())))).hasMessageContaining("empty secret");
    assertThatThrownBy(() -> new Grant("", Set.of(Right.ADMIN))).hasMessageContaining("pattern");
    assertThatThrownBy(() -> new Grant("x", Set.of())).hasMessageContaining("allows nothing");
    assertThatThrownBy(() -> Right.parse("write")).hasMessageContaining("produce, consume or admin");
    assertThat(Right.parse(" Consume")).isEqualTo(Right.CONSUME);
  }

  @Test
  void secretsAreNeverPrinted() {
    assertThat(BILLING.toString()).doesNotContain("s3cret").contains("billing");
  }
}
