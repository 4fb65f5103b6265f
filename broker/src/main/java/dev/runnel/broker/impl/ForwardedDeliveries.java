package dev.runnel.broker.impl;

import dev.runnel.broker.Delivery;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The deliveries this node's groups handed to fetches forwarded from other nodes (a long poll, an SSE stream or an
 * AMQP link connected there), by the node they went through: when that node leaves the view, the answer may never
 * have reached the consumer, so they are released at once with no attempt counted (DESIGN.md section 6) instead of
 * waiting out their leases. Kept only while their leases run: a delivery whose lease ended is redelivered anyway.
 * Thread-safe.
 */
final class ForwardedDeliveries {

  private record Handed(String group, String token, long leaseExpiresAt) {
  }

  private final LongSupplier clock;
  /** Per node, in hand-out order; pruned from the head as leases end. */
  private final Map<String, ArrayDeque<Handed>> byNode = new HashMap<>();

  /** @param clock the broker's clock, in epoch ms (the one leases are stamped with) */
  ForwardedDeliveries(LongSupplier clock) {
    this.clock = clock;
  }

  synchronized void handed(String node, String group, List<Delivery> deliveries) {
    if (deliveries.isEmpty()) {
      return;
    }
    ArrayDeque<Handed> handed = byNode.computeIfAbsent(node, n -> new ArrayDeque<>());
    long now = clock.getAsLong();
    while (!handed.isEmpty() && handed.peekFirst().leaseExpiresAt <= now) {
      handed.pollFirst();
    }
    for (Delivery d : deliveries) {
      handed.addLast(new Handed(group, d.token(), d.leaseExpiresAt()));
    }
  }

  /** The node left: the tokens handed through it whose leases still run, by group; it is forgotten. */
  synchronized Map<String, List<String>> nodeLeft(String node) {
    ArrayDeque<Handed> handed = byNode.remove(node);
    Map<String, List<String>> byGroup = new LinkedHashMap<>();
    if (handed == null) {
      return byGroup;
    }
    long now = clock.getAsLong();
    for (Handed h : handed) {
      if (h.leaseExpiresAt > now) {
        byGroup.computeIfAbsent(h.group, g -> new ArrayList<>()).add(h.token);
      }
    }
    return byGroup;
  }
}
