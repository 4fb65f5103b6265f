package dev.runnel.broker.impl;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.UUID;

/**
 * A delivery token: opaque, URL-safe, HMAC-SHA256-signed, valid for exactly one attempt. It names the partition, the
 * offset, the attempt, the lease and the incarnation of the state machine that issued it (a restart or a seek makes
 * a new one), and carries a hash of its group, so a token is routed by itself and cannot be used in another group.
 * 92 characters (69 bytes).
 */
record DeliveryToken(UUID topicId, int partition, long offset, int attempt, long leaseId, long incarnation,
                     int groupHash) {

  private static final byte VERSION = 1;
  private static final int BODY = 1 + 16 + 4 + 8 + 4 + 8 + 8 + 4;
  private static final int MAC = 16;

  static int groupHash(String group) {
    return group.hashCode();
  }

  String encode(byte[] key) {
    ByteBuffer b = ByteBuffer.allocate(BODY + MAC);
    b.put(VERSION).putLong(topicId.getMostSignificantBits()).putLong(topicId.getLeastSignificantBits())
        .putInt(partition).putLong(offset).putInt(attempt).putLong(leaseId).putLong(incarnation).putInt(groupHash);
    b.put(mac(key, b.array(), BODY), 0, MAC);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b.array());
  }

  /** The token, or null if it is not one of ours (malformed, or signed with another key). */
  static DeliveryToken decode(String token, byte[] key) {
    if (token == null || token.length() > 256) {
      return null;
    }
    byte[] raw;
    try {
      raw = Base64.getUrlDecoder().decode(token);
    } catch (IllegalArgumentException e) {
      return null;
    }
    if (raw.length != BODY + MAC || raw[0] != VERSION) {
      return null;
    }
    byte[] expected = mac(key, raw, BODY);
    byte[] actual = new byte[MAC];
    System.arraycopy(raw, BODY, actual, 0, MAC);
    if (!MessageDigest.isEqual(java.util.Arrays.copyOf(expected, MAC), actual)) {
      return null;
    }
    ByteBuffer b = ByteBuffer.wrap(raw, 1, BODY - 1);
    return new DeliveryToken(new UUID(b.getLong(), b.getLong()), b.getInt(), b.getLong(), b.getInt(), b.getLong(),
        b.getLong(), b.getInt());
  }

  /** An initialised HMAC per thread and key: getInstance and init cost more than the MAC itself. */
  private static final ThreadLocal<Object[]> MACS = new ThreadLocal<>();

  private static byte[] mac(byte[] key, byte[] data, int length) {
    try {
      Object[] cached = MACS.get();
      Mac mac;
      if (cached != null && cached[0] == key) {
        mac = (Mac) cached[1];
      } else {
        mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        MACS.set(new Object[] {key, mac});
      }
      mac.update(data, 0, length);
      return mac.doFinal();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e);
    }
  }
}
