package dev.runnel.broker.auth;

import java.util.Locale;

/** What an API key may do with a topic (DESIGN.md section 8). */
public enum Right {
  /** Store records on the topic (any transport, webhooks aside: they are checked by their signature). */
  PRODUCE,
  /** Read the topic, and join, fetch, settle and stream in groups that read it. */
  CONSUME,
  /** Create, change and delete the topic; seek, configure, redrive and delete dead letters of its groups. */
  ADMIN;

  /** {@code produce} → PRODUCE; anything else is refused with the names that exist. */
  public static Right parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown right '" + name + "': use produce, consume or admin");
    }
  }
}
