package dev.runnel.transport.http;

import java.util.Base64;
import java.util.List;
import java.util.Locale;

/**
 * A signed webhook sender, served at {@code POST /webhooks/<name>} (DESIGN.md section 8): its deliveries go to
 * {@code topic}, each verified by its signature (instead of an API key) against any of {@code secrets} (several while
 * one is rotated in), and deduplicated by delivery id within the topic's {@code dedupWindowMs}.
 *
 * @param maxBodyBytes the largest delivery this source may send (GitHub sends up to 25 MB)
 */
public record WebhookSource(String topic, Scheme scheme, List<String> secrets, long maxBodyBytes) {

  public static final long DEFAULT_MAX_BODY_BYTES = 25L * 1024 * 1024;

  /** How a sender signs. */
  public enum Scheme {
    /** Standard Webhooks (Svix and others): {@code webhook-id}, {@code webhook-timestamp}, {@code webhook-signature}. */
    STANDARD,
    /** GitHub: {@code X-Hub-Signature-256}, delivery id in {@code X-GitHub-Delivery}. */
    GITHUB;

    public static Scheme parse(String name) {
      if (name == null) {
        throw new IllegalArgumentException("a webhook source needs a scheme: standard or github");
      }
      try {
        return valueOf(name.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("unknown webhook scheme '" + name + "': use standard or github");
      }
    }
  }

  public WebhookSource {
    if (topic == null || topic.isBlank()) {
      throw new IllegalArgumentException("a webhook source needs a topic");
    }
    if (scheme == null) {
      throw new IllegalArgumentException("a webhook source needs a scheme: standard or github");
    }
    if (secrets == null || secrets.isEmpty() || secrets.stream().anyMatch(s -> s == null || s.isEmpty())) {
      throw new IllegalArgumentException("a webhook source needs at least one non-empty secret");
    }
    secrets = List.copyOf(secrets);
    if (scheme == Scheme.STANDARD) {
      for (String secret : secrets) {
        standardKey(secret);  // fails at start, not at the first delivery
      }
    }
    if (maxBodyBytes < 1) {
      throw new IllegalArgumentException("a webhook source's maxBodyBytes must be at least 1");
    }
  }

  /** A Standard Webhooks secret's key: base64 after the {@code whsec_} prefix. */
  public static byte[] standardKey(String secret) {
    String encoded = secret.startsWith("whsec_") ? secret.substring("whsec_".length()) : secret;
    try {
      byte[] key = Base64.getDecoder().decode(encoded);
      if (key.length == 0) {
        throw new IllegalArgumentException("empty");
      }
      return key;
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("a Standard Webhooks secret is whsec_ followed by base64; this one is not");
    }
  }

  @Override
  public String toString() {
    return "WebhookSource[" + topic + ", " + scheme + ", " + secrets.size() + " secrets]";
  }
}
