package dev.runnel.broker.auth;

import java.util.EnumSet;
import java.util.Set;

/**
 * Rights on the topics whose names match a pattern: {@code *} stands for any run of characters (none included), every
 * other character for itself, so {@code orders*} covers {@code orders} and {@code orders.eu}, and {@code *} every topic.
 */
public record Grant(String topics, Set<Right> allow) {

  public Grant {
    if (topics == null || topics.isEmpty()) {
      throw new IllegalArgumentException("a grant needs a topic pattern ('*' for every topic)");
    }
    if (allow == null || allow.isEmpty()) {
      throw new IllegalArgumentException("the grant on '" + topics + "' allows nothing: list produce, consume or admin");
    }
    allow = Set.copyOf(EnumSet.copyOf(allow));
  }

  /** Whether the pattern covers this topic name. */
  public boolean covers(String topic) {
    return matches(topics, 0, topic, 0);
  }

  /** Whether the pattern covers every topic name, those not created yet included. */
  public boolean coversEveryTopic() {
    return topics.equals("*") || topics.chars().allMatch(c -> c == '*');
  }

  /** Glob match with '*' only; iterative with one backtrack point, linear in practice (no regex, no blow-up). */
  private static boolean matches(String pattern, int p, String name, int n) {
    int star = -1;
    int mark = 0;
    while (n < name.length()) {
      if (p < pattern.length() && pattern.charAt(p) == '*') {
        star = p++;
        mark = n;
      } else if (p < pattern.length() && pattern.charAt(p) == name.charAt(n)) {
        p++;
        n++;
      } else if (star >= 0) {
        p = star + 1;
        n = ++mark;
      } else {
        return false;
      }
    }
    while (p < pattern.length() && pattern.charAt(p) == '*') {
      p++;
    }
    return p == pattern.length();
  }

  @Override
  public String toString() {
    return topics + " " + allow;
  }
}
