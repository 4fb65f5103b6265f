package dev.runnel.load.http;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Base64;

/**
 * A receiver's check of a Standard Webhooks delivery, written for the tests apart from {@link StandardWebhookSigner}
 * (so a mistake in the signer is not repeated here): the secret's key after {@code whsec_}, the signed content
 * {@code <id>.<timestamp>.<body>}, any one of the space-separated {@code v1,<base64>} signatures matching in
 * constant time, and the timestamp within five minutes of now.
 */
public final class WebhookVerification {

  static final long TOLERANCE_SECONDS = 300;

  private WebhookVerification() {
  }

  /** Why the delivery is refused, or null when it is correctly signed. */
  public static String refusal(String secret, String id, String timestamp, byte[] body, String signatures,
                               Instant now) {
    if (id == null || timestamp == null || signatures == null) {
      return "missing webhook-id, webhook-timestamp or webhook-signature";
    }
    long ts;
    try {
      ts = Long.parseLong(timestamp);
    } catch (NumberFormatException e) {
      return "webhook-timestamp is not epoch seconds: " + timestamp;
    }
    if (Math.abs(now.getEpochSecond() - ts) > TOLERANCE_SECONDS) {
      return "webhook-timestamp " + ts + " is more than 5 minutes from " + now.getEpochSecond();
    }
    byte[] expected;
    try {
      String b64 = secret.startsWith("whsec_") ? secret.substring("whsec_".length()) : secret;
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(Base64.getDecoder().decode(b64), "HmacSHA256"));
      ByteArrayOutputStream content = new ByteArrayOutputStream();
      content.writeBytes(id.getBytes(StandardCharsets.UTF_8));
      content.write('.');
      content.writeBytes(timestamp.getBytes(StandardCharsets.UTF_8));
      content.write('.');
      content.writeBytes(body);
      expected = mac.doFinal(content.toByteArray());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    for (String one : signatures.trim().split(" +")) {
      int comma = one.indexOf(',');
      if (comma < 0 || !one.substring(0, comma).equals("v1")) {
        continue;
      }
      byte[] given;
      try {
        given = Base64.getDecoder().decode(one.substring(comma + 1));
      } catch (IllegalArgumentException e) {
        continue;
      }
      if (MessageDigest.isEqual(expected, given)) {
        return null;
      }
    }
    return "no v1 signature matches";
  }
}
