package dev.runnel.durability;

import io.vertx.core.Future;

import java.util.Map;

/**
 * Called by retention before it drops a segment: {@code newLogStarts} says, per partition, where the log will start
 * once the segment is gone. The segment is dropped only after the returned future succeeds (the broker dead-letters
 * the parked records that point into it); a failure postpones the drop to the next pass.
 */
@FunctionalInterface
public interface RetentionGuard {
  Future<Void> beforeDrop(TopicMetadata topic, Map<Integer, Long> newLogStarts);
}
