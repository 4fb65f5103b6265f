package dev.runnel.broker.auth;

import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;

/**
 * A client's identity and what it may do: a name, a secret (never logged: {@link #toString} masks it) and grants.
 * A key may do what any of its grants allows on a topic the grant's pattern covers.
 */
public final class ApiKey {

  /** The identity of every request when auth is off: all rights on every topic. */
  public static final ApiKey ANONYMOUS = new ApiKey("anonymous", "", List.of(new Grant("*", EnumSet.allOf(Right.class))));

  private final String name;
  private final String secret;
  private final List<Grant> grants;

  public ApiKey(String name, String secret, List<Grant> grants) {
    if (name == null || name.isEmpty() || name.indexOf(':') >= 0) {
      throw new IllegalArgumentException("an API key needs a name without ':' (the bearer token is <name>:<secret>)");
    }
    this.name = name;
    this.secret = Objects.requireNonNull(secret, "secret");
    this.grants = List.copyOf(grants);
  }

  public String name() {
    return name;
  }

  String secret() {
    return secret;
  }

  public List<Grant> grants() {
    return grants;
  }

  /** Whether this key has {@code right} on {@code topic}. */
  public boolean may(Right right, String topic) {
    for (Grant g : grants) {
      if (g.allow().contains(right) && g.covers(topic)) {
        return true;
      }
    }
    return false;
  }

  /** Whether this key has {@code right} on every topic, those not created yet included. */
  public boolean mayOnEveryTopic(Right right) {
    for (Grant g : grants) {
      if (g.allow().contains(right) && g.coversEveryTopic()) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether this key has {@code right} on each of these topics (a group's): none at all means the group has no
   * topics yet, which only a key with the right on every topic may act on.
   */
  public boolean mayAll(Right right, Collection<String> topics) {
    if (topics.isEmpty()) {
      return mayOnEveryTopic(right);
    }
    for (String t : topics) {
      if (!may(right, t)) {
        return false;
      }
    }
    return true;
  }

  /** Whether this key sees each of these topics (a group's), by the rule of {@link #mayAll}. */
  public boolean seesAll(Collection<String> topics) {
    if (topics.isEmpty()) {
      return grants.stream().anyMatch(Grant::coversEveryTopic);
    }
    return topics.stream().allMatch(this::sees);
  }

  /** Whether this key has any right on {@code topic}: what listing and describing show it. */
  public boolean sees(String topic) {
    for (Grant g : grants) {
      if (g.covers(topic)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public String toString() {
    return "ApiKey[" + name + ", secret ****, " + grants + "]";
  }
}
