package dev.runnel.broker;

import java.util.regex.Pattern;

/** Topic names: {@code [A-Za-z0-9._-]{1,249}}, as Kafka allows (but "." and ".." alone are refused too). */
public final class TopicNames {

  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9._-]{1,249}");

  private TopicNames() {
  }

  public static boolean isValid(String name) {
    return name != null && VALID.matcher(name).matches() && !name.equals(".") && !name.equals("..");
  }

  public static void check(String name) {
    if (!isValid(name)) {
      throw new BrokerException(BrokerError.INVALID_TOPIC_NAME, "invalid topic name '" + name
          + "': use 1 to 249 of the characters A-Z a-z 0-9 . _ -");
    }
  }
}
