package dev.runnel.broker.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The node's API keys, shared by every transport (HTTP bearer tokens, AMQP SASL PLAIN). Auth is on when keys are
 * configured; with none it is off, and every request acts as {@link ApiKey#ANONYMOUS}.
 *
 * <p>Secrets are compared as SHA-256 digests with {@link MessageDigest#isEqual}: the time taken depends neither on
 * how much of a guess is right nor on its length, and an unknown name costs the same comparison as a known one.
 */
public final class ApiKeys {

  public static final ApiKeys OFF = new ApiKeys(List.of());

  private final Map<String, byte[]> digests = new HashMap<>();
  private final Map<String, ApiKey> byName = new HashMap<>();
  private static final byte[] NO_SUCH_KEY = sha256("\0no such key\0");

  private ApiKeys(List<ApiKey> keys) {
    for (ApiKey k : keys) {
      if (byName.put(k.name(), k) != null) {
        throw new IllegalArgumentException("API key '" + k.name() + "' is configured twice");
      }
      if (k.secret().isEmpty()) {
        throw new IllegalArgumentException("API key '" + k.name() + "' has an empty secret");
      }
      digests.put(k.name(), sha256(k.secret()));
    }
  }

  /** Auth on with these keys; at least one is needed. */
  public static ApiKeys of(List<ApiKey> keys) {
    if (keys.isEmpty()) {
      throw new IllegalArgumentException("auth is enabled but no API keys are configured (auth.keys)");
    }
    return new ApiKeys(keys);
  }

  public boolean enabled() {
    return !byName.isEmpty();
  }

  /** The key with this name and secret, or null. With auth off, {@link ApiKey#ANONYMOUS} whatever is given. */
  public ApiKey authenticate(String name, String secret) {
    if (!enabled()) {
      return ApiKey.ANONYMOUS;
    }
    if (name == null || secret == null) {
      return null;
    }
    byte[] expected = digests.getOrDefault(name, NO_SUCH_KEY);
    boolean equal = MessageDigest.isEqual(expected, sha256(secret));
    return equal && expected != NO_SUCH_KEY ? byName.get(name) : null;
  }

  /** A bearer token {@code <name>:<secret>} (what HTTP's {@code Authorization: Bearer} carries), or null. */
  public ApiKey authenticate(String token) {
    if (!enabled()) {
      return ApiKey.ANONYMOUS;
    }
    int colon = token == null ? -1 : token.indexOf(':');
    return colon <= 0 ? null : authenticate(token.substring(0, colon), token.substring(colon + 1));
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
