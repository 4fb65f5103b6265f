package dev.runnel.broker.impl;

import org.junit.jupiter.api.Test;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Random;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/** Delivery tokens (DESIGN.md section 4): opaque, URL-safe, at most 256 characters, HMAC-signed. */
class DeliveryTokenTest {

  private static final String URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  private static byte[] key(int seed) {
    byte[] key = new byte[32];
    new Random(seed).nextBytes(key);
    return key;
  }

  private static final byte[] KEY = key(1);

  private static DeliveryToken sample() {
    return new DeliveryToken(UUID.fromString("0d6a8c2e-5f1b-4c3a-9e7d-2b4f6a8c0e1d"), 7, 123_456_789_012L, 3,
        987_654_321L, 42L, DeliveryToken.groupHash("billing"));
  }

  @Test
  void aTokenDecodesToEveryFieldItWasMadeOf() {
    DeliveryToken t = sample();
    DeliveryToken back = DeliveryToken.decode(t.encode(KEY), KEY);
    assertThat(back).isEqualTo(t);
    assertThat(back.topicId()).isEqualTo(UUID.fromString("0d6a8c2e-5f1b-4c3a-9e7d-2b4f6a8c0e1d"));
    assertThat(back.partition()).isEqualTo(7);
    assertThat(back.offset()).isEqualTo(123_456_789_012L);
    assertThat(back.attempt()).isEqualTo(3);
    assertThat(back.leaseId()).isEqualTo(987_654_321L);
    assertThat(back.incarnation()).isEqualTo(42L);
    assertThat(back.groupHash()).isEqualTo(DeliveryToken.groupHash("billing"));
  }

  @Test
  void extremeAndRandomFieldsSurviveTheRoundTrip() {
    DeliveryToken[] edges = {
        new DeliveryToken(new UUID(0, 0), 0, 0, 0, 0, 0, 0),
        new DeliveryToken(new UUID(-1, -1), Integer.MAX_VALUE, Long.MAX_VALUE, Integer.MAX_VALUE, Long.MAX_VALUE,
            Long.MAX_VALUE, Integer.MAX_VALUE),
        new DeliveryToken(new UUID(Long.MIN_VALUE, 1), Integer.MIN_VALUE, Long.MIN_VALUE, Integer.MIN_VALUE,
            Long.MIN_VALUE, Long.MIN_VALUE, Integer.MIN_VALUE),
    };
    for (DeliveryToken t : edges) {
      assertThat(DeliveryToken.decode(t.encode(KEY), KEY)).isEqualTo(t);
    }
    Random random = new Random(20261201);
    for (int i = 0; i < 1000; i++) {
      DeliveryToken t = new DeliveryToken(new UUID(random.nextLong(), random.nextLong()), random.nextInt(),
          random.nextLong(), random.nextInt(), random.nextLong(), random.nextLong(), random.nextInt());
      assertThat(DeliveryToken.decode(t.encode(KEY), KEY)).as("token %d", i).isEqualTo(t);
    }
  }

  @Test
  void aTokenIsShortAndUrlSafe() {
    String token = sample().encode(KEY);
    // 69 bytes (53 of fields, 16 of MAC) in unpadded base64url.
    assertThat(token).hasSize(92);
    assertThat(token.length()).isLessThanOrEqualTo(256);
    assertThat(token.chars()).allMatch(c -> URL_SAFE.indexOf(c) >= 0);
    // Encoding is deterministic, and every field takes part in it.
    assertThat(sample().encode(KEY)).isEqualTo(token);
  }

  @Test
  void changingAnyFieldChangesTheToken() {
    DeliveryToken t = sample();
    String token = t.encode(KEY);
    DeliveryToken[] variants = {
        new DeliveryToken(UUID.randomUUID(), t.partition(), t.offset(), t.attempt(), t.leaseId(), t.incarnation(), t.groupHash()),
        new DeliveryToken(t.topicId(), t.partition() + 1, t.offset(), t.attempt(), t.leaseId(), t.incarnation(), t.groupHash()),
        new DeliveryToken(t.topicId(), t.partition(), t.offset() + 1, t.attempt(), t.leaseId(), t.incarnation(), t.groupHash()),
        new DeliveryToken(t.topicId(), t.partition(), t.offset(), t.attempt() + 1, t.leaseId(), t.incarnation(), t.groupHash()),
        new DeliveryToken(t.topicId(), t.partition(), t.offset(), t.attempt(), t.leaseId() + 1, t.incarnation(), t.groupHash()),
        new DeliveryToken(t.topicId(), t.partition(), t.offset(), t.attempt(), t.leaseId(), t.incarnation() + 1, t.groupHash()),
        new DeliveryToken(t.topicId(), t.partition(), t.offset(), t.attempt(), t.leaseId(), t.incarnation(), t.groupHash() + 1),
    };
    for (DeliveryToken v : variants) {
      assertThat(v.encode(KEY)).as("%s", v).isNotEqualTo(token);
      assertThat(DeliveryToken.decode(v.encode(KEY), KEY)).isEqualTo(v);
    }
  }

  @Test
  void changingAnyCharacterMakesItUnknown() {
    String token = sample().encode(KEY);
    for (int i = 0; i < token.length(); i++) {
      // Every other URL-safe character at position i, so no single bit of the token goes unchecked.
      for (int j = 0; j < URL_SAFE.length(); j++) {
        char c = URL_SAFE.charAt(j);
        if (c == token.charAt(i)) {
          continue;
        }
        String tampered = token.substring(0, i) + c + token.substring(i + 1);
        assertThat(DeliveryToken.decode(tampered, KEY)).as("'%s' at %d", c, i).isNull();
      }
    }
  }

  @Test
  void aTokenSignedWithAnotherKeyIsUnknown() {
    byte[] other = key(2);
    // Alternate the keys on one thread: the per-thread MAC must follow the key it is given.
    String mine = sample().encode(KEY);
    String theirs = sample().encode(other);
    assertThat(theirs).isNotEqualTo(mine);
    assertThat(DeliveryToken.decode(mine, other)).isNull();
    assertThat(DeliveryToken.decode(theirs, KEY)).isNull();
    assertThat(DeliveryToken.decode(mine, KEY)).isEqualTo(sample());
    assertThat(DeliveryToken.decode(theirs, other)).isEqualTo(sample());
    // A key with the same bytes in another array is the same key.
    assertThat(DeliveryToken.decode(mine, KEY.clone())).isEqualTo(sample());
  }

  @Test
  void aThreadsFirstTokenIsMadeAndCheckedLikeAnyOther() throws Exception {
    // Groups live on several event loops, each with its own cached MAC: a thread that never made one starts empty.
    String token = sample().encode(KEY);
    Object[] seen = new Object[2];
    Thread fresh = new Thread(() -> {
      seen[0] = DeliveryToken.decode(token, KEY);
      seen[1] = sample().encode(key(2));
    });
    fresh.start();
    fresh.join(10_000);
    assertThat(seen[0]).isEqualTo(sample());
    assertThat(DeliveryToken.decode((String) seen[1], key(2))).isEqualTo(sample());
    assertThat(DeliveryToken.decode((String) seen[1], KEY)).isNull();
  }

  @Test
  void malformedTokensAreUnknownNotErrors() {
    String token = sample().encode(KEY);
    assertThat(DeliveryToken.decode(null, KEY)).isNull();
    assertThat(DeliveryToken.decode("", KEY)).isNull();
    assertThat(DeliveryToken.decode("not a token!", KEY)).isNull();
    assertThat(DeliveryToken.decode(token + "=", KEY)).isNull();
    assertThat(DeliveryToken.decode(token.substring(0, token.length() - 1), KEY)).isNull();
    assertThat(DeliveryToken.decode(token.substring(0, token.length() - 4), KEY)).isNull();
    assertThat(DeliveryToken.decode(token + "AAAA", KEY)).isNull();
    assertThat(DeliveryToken.decode(token.replace(token.charAt(10), '+'), KEY)).isNull();
    assertThat(DeliveryToken.decode("A".repeat(257), KEY)).isNull();
    assertThat(DeliveryToken.decode("A".repeat(100_000), KEY)).isNull();
  }

  @Test
  void aCorrectlySignedTokenOfAnotherFormatVersionIsUnknown() {
    // The layout: 53 bytes of fields (version 1, then 16 + 4 + 8 + 4 + 8 + 8 + 4), then the MAC's first 16 bytes.
    byte[] raw = Base64.getUrlDecoder().decode(sample().encode(KEY));
    raw[0] = 2;
    byte[] mac = hmac(KEY, raw, 53);
    System.arraycopy(mac, 0, raw, 53, 16);
    assertThat(DeliveryToken.decode(Base64.getUrlEncoder().withoutPadding().encodeToString(raw), KEY)).isNull();
    // The same re-signing of version 1 is accepted, so it is the version that is refused.
    raw[0] = 1;
    System.arraycopy(hmac(KEY, raw, 53), 0, raw, 53, 16);
    assertThat(DeliveryToken.decode(Base64.getUrlEncoder().withoutPadding().encodeToString(raw), KEY)).isEqualTo(sample());
  }

  @Test
  void theGroupHashSeparatesGroupsAndIsStable() {
    assertThat(DeliveryToken.groupHash("billing")).isEqualTo(DeliveryToken.groupHash(new String("billing".getBytes(
        StandardCharsets.UTF_8), StandardCharsets.UTF_8)));
    assertThat(DeliveryToken.groupHash("billing")).isNotEqualTo(DeliveryToken.groupHash("shipping"));
    assertThat(DeliveryToken.groupHash("a")).isNotEqualTo(DeliveryToken.groupHash("b"));
    // Stable across JVMs and nodes (a token is routed by it): String.hashCode is specified.
    assertThat(DeliveryToken.groupHash("billing")).isEqualTo(-109_829_509);
  }

  private static byte[] hmac(byte[] key, byte[] data, int length) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      mac.update(data, 0, length);
      return mac.doFinal();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
