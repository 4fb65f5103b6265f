package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.TopicNames;

/**
 * A link's or message's address: {@code topics/<topic>} (produce) or {@code topics/<topic>/groups/<group>}
 * (consume). {@code group} is null for the first form.
 */
record Address(String topic, String group) {

  private static final String PREFIX = "topics/";
  private static final String GROUPS = "/groups/";

  /** Parses an address; fails with IllegalArgumentException saying what a valid one looks like. */
  static Address parse(String address) {
    if (address == null || !address.startsWith(PREFIX)) {
      throw new IllegalArgumentException("address '" + address + "' is not topics/<topic> or "
          + "topics/<topic>/groups/<group>");
    }
    String rest = address.substring(PREFIX.length());
    int groups = rest.indexOf(GROUPS);
    String topic = groups < 0 ? rest : rest.substring(0, groups);
    String group = groups < 0 ? null : rest.substring(groups + GROUPS.length());
    if (!TopicNames.isValid(topic)) {
      throw new IllegalArgumentException("'" + topic + "' in address '" + address + "' is not a topic name "
          + "([A-Za-z0-9._-]{1,249})");
    }
    if (group != null && (group.isEmpty() || group.contains("/"))) {
      throw new IllegalArgumentException("address '" + address + "' does not name a group: topics/<topic>/groups/<group>");
    }
    return new Address(topic, group);
  }
}
