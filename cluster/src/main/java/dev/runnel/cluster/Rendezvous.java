package dev.runnel.cluster;

import java.nio.charset.StandardCharsets;
import java.util.Collection;

/**
 * Rendezvous (highest random weight) hashing over stable node names: the node that should lead or own {@code key}
 * is the one whose hash with the key weighs most. When a node leaves, only its keys move (each to the node that
 * weighed second for it); when one joins, it takes only the keys it now weighs most for. Every node computes the
 * same answer from the same view, with no coordination. Pure and thread-safe.
 */
public final class Rendezvous {
  private Rendezvous() {
  }

  /** The node among {@code nodes} that should hold {@code key}; null when there is none. */
  public static String owner(String key, Collection<String> nodes) {
    String best = null;
    long bestWeight = 0;
    for (String node : nodes) {
      long weight = weight(node, key);
      // Unsigned order; a tie (never seen in practice) goes to the smaller name so every node agrees.
      if (best == null || Long.compareUnsigned(weight, bestWeight) > 0
          || (weight == bestWeight && node.compareTo(best) < 0)) {
        best = node;
        bestWeight = weight;
      }
    }
    return best;
  }

  /** 64-bit FNV-1a of node, a separator and key, then the splitmix64 finalizer to spread nearby names apart. */
  static long weight(String node, String key) {
    long h = 0xcbf29ce484222325L;
    h = fnv(h, node.getBytes(StandardCharsets.UTF_8));
    h = (h ^ 0xff) * 0x100000001b3L;  // a byte no UTF-8 text holds: ("ab", "c") and ("a", "bc") differ
    h = fnv(h, key.getBytes(StandardCharsets.UTF_8));
    h = (h ^ (h >>> 30)) * 0xbf58476d1ce4e5b9L;
    h = (h ^ (h >>> 27)) * 0x94d049bb133111ebL;
    return h ^ (h >>> 31);
  }

  private static long fnv(long h, byte[] bytes) {
    for (byte b : bytes) {
      h = (h ^ (b & 0xff)) * 0x100000001b3L;
    }
    return h;
  }
}
