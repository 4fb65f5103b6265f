package dev.runnel.load.http;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class StandardWebhookSignerTest {

  // The Standard Webhooks libraries' published vector (standard-webhooks/standard-webhooks,
  // libraries/python/tests/test_webhooks.py test_sign_function; the Go, JavaScript and Svix suites use the same).
  static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  static final String ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  static final long TIMESTAMP = 1614265330;
  static final byte[] PAYLOAD = "{\"test\": 2432232314}".getBytes(StandardCharsets.UTF_8);
  static final String SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

  @Test
  void theReferenceVectorSignsAsTheSpecificationsLibrariesDo() {
    assertThat(new StandardWebhookSigner(SECRET).sign(ID, TIMESTAMP, PAYLOAD)).isEqualTo(SIGNATURE);
  }

  @Test
  void aSecretWithoutItsPrefixIsTheSameKey() {
    assertThat(new StandardWebhookSigner("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign(ID, TIMESTAMP, PAYLOAD))
        .isEqualTo(SIGNATURE);
  }

  @Test
  void aChangedBodyIdOrTimestampGivesAnotherSignature() {
    StandardWebhookSigner signer = new StandardWebhookSigner(SECRET);
    assertThat(signer.sign(ID, TIMESTAMP, "{\"test\": 2432232315}".getBytes(StandardCharsets.UTF_8)))
        .startsWith("v1,").isNotEqualTo(SIGNATURE);
    assertThat(signer.sign(ID, TIMESTAMP, "{\"test\":2432232314}".getBytes(StandardCharsets.UTF_8)))
        .as("the body is signed byte for byte, not as JSON").isNotEqualTo(SIGNATURE);
    assertThat(signer.sign(ID + "x", TIMESTAMP, PAYLOAD)).isNotEqualTo(SIGNATURE);
    assertThat(signer.sign(ID, TIMESTAMP + 1, PAYLOAD)).isNotEqualTo(SIGNATURE);
    assertThat(signer.sign(ID, TIMESTAMP, PAYLOAD)).as("the Mac is reset between signatures").isEqualTo(SIGNATURE);
  }

  @Test
  void theTestsOwnVerificationAcceptsTheVectorAndRefusesAlterations() {
    Instant then = Instant.ofEpochSecond(TIMESTAMP + 10);
    assertThat(WebhookVerification.refusal(SECRET, ID, "1614265330", PAYLOAD, SIGNATURE, then)).isNull();
    assertThat(WebhookVerification.refusal(SECRET, ID, "1614265330", PAYLOAD,
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " + SIGNATURE, then)).as("one of several").isNull();
    assertThat(WebhookVerification.refusal(SECRET, ID, "1614265330", PAYLOAD,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", then)).isNotNull();
    assertThat(WebhookVerification.refusal(SECRET, ID, "1614265330", "{}".getBytes(), SIGNATURE, then)).isNotNull();
    assertThat(WebhookVerification.refusal(SECRET, ID, "1614265330", PAYLOAD, SIGNATURE,
        Instant.ofEpochSecond(TIMESTAMP + 301))).as("outside the tolerance").isNotNull();
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "whsec_", "whsec_not*base64", "plain words"})
  void aSecretThatIsNotBase64IsRefused(String secret) {
    assertThatThrownBy(() -> new StandardWebhookSigner(secret)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("whsec_");
  }
}
