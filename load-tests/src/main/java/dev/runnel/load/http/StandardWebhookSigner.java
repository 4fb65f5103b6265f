package dev.runnel.load.http;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;

/**
 * Signs a webhook delivery as the Standard Webhooks specification (https://www.standardwebhooks.com) has it: the
 * {@code webhook-signature} header is
 * {@code v1,<base64 of HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>}, the key being the base64 decoding of the secret without its {@code whsec_} prefix (a secret without the prefix
 * is taken as the base64 key itself, as the specification's libraries do). The timestamp is in epoch seconds.
 * Thread-safe: each thread signs with its own {@link Mac}.
 */
public final class StandardWebhookSigner {

  public static final String SECRET_PREFIX = "whsec_";
  private static final String ALGORITHM = "HmacSHA256";

  private final SecretKeySpec key;
  private final ThreadLocal<Mac> macs;

  /** @throws IllegalArgumentException when the secret is not {@code whsec_<base64>} (or plain base64) */
  public StandardWebhookSigner(String secret) {
    this.key = new SecretKeySpec(key(secret), ALGORITHM);
    this.macs = ThreadLocal.withInitial(this::mac);
  }

  /** The HMAC key a secret stands for. */
  static byte[] key(String secret) {
    if (secret == null || secret.isBlank()) {
      throw new IllegalArgumentException("a webhook secret must be whsec_<base64> (got nothing)");
    }
    String b64 = secret.startsWith(SECRET_PREFIX) ? secret.substring(SECRET_PREFIX.length()) : secret;
    byte[] key;
    try {
      key = Base64.getDecoder().decode(b64);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("a webhook secret must be whsec_<base64>: " + e.getMessage());
    }
    if (key.length == 0) {
      throw new IllegalArgumentException("a webhook secret must be whsec_<base64> with a non-empty key");
    }
    return key;
  }

  /** The {@code webhook-signature} header's value for one delivery: {@code v1,<base64>}. */
  public String sign(String webhookId, long timestampSeconds, byte[] body) {
    Mac mac = macs.get();
    mac.update((webhookId + "." + timestampSeconds + ".").getBytes(StandardCharsets.UTF_8));
    return "v1," + Base64.getEncoder().encodeToString(mac.doFinal(body));  // doFinal resets the Mac for the next one
  }

  private Mac mac() {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(key);
      return mac;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM cannot compute " + ALGORITHM, e);
    }
  }
}
