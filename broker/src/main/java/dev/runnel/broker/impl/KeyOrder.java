package dev.runnel.broker.impl;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * Per-key order for one state machine: the unfinished offsets of each key, by the key's murmur2 hash (a collision
 * only over-serialises two keys, never reorders one). A keyed record may be handed out only when it is its key's
 * lowest unfinished offset, retries included; an unkeyed record (a null hash) never waits. Confined to its state
 * machine's context.
 */
final class KeyOrder {

  private final Map<Integer, TreeSet<Long>> byKey = new HashMap<>();

  /** The record at {@code offset} is unfinished. */
  void add(Integer keyHash, long offset) {
    if (keyHash != null) {
      byKey.computeIfAbsent(keyHash, k -> new TreeSet<>()).add(offset);
    }
  }

  /** The record at {@code offset} is finished (or no longer held here). */
  void remove(Integer keyHash, long offset) {
    if (keyHash == null) {
      return;
    }
    TreeSet<Long> offsets = byKey.get(keyHash);
    if (offsets != null) {
      offsets.remove(offset);
      if (offsets.isEmpty()) {
        byKey.remove(keyHash);
      }
    }
  }

  /** Whether the record at {@code offset} may be handed out now: unkeyed, or its key's lowest unfinished offset. */
  boolean isHead(Integer keyHash, long offset) {
    if (keyHash == null) {
      return true;
    }
    TreeSet<Long> offsets = byKey.get(keyHash);
    return offsets == null || offsets.first() == offset;
  }

  void clear() {
    byKey.clear();
  }
}
