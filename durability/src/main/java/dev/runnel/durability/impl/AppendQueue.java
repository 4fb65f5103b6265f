package dev.runnel.durability.impl;

import dev.runnel.durability.AppendResult;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.LogRecord;
import io.vertx.core.Promise;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The appends waiting for one partition's next write, bounded in bytes, and how the next write is cut from them (group
 * commit): everything that waits, up to the write's byte bound, and dead letters never in one write with other
 * appends (a fenced group must fail only them, never a producer's records). Context-confined: only its writer's
 * context calls it.
 */
final class AppendQueue {

  /**
   * One append waiting for its write.
   *
   * @param origins the dead-letter origins of the records (null: not dead letters), all of one group at
   *                {@code groupEpoch}
   * @param deduplicate by idempotency key even when the topic does not ({@link PartitionWriter#appendOnce})
   */
  record Pending(List<LogRecord> records, List<DeadLetterOrigin> origins, long groupEpoch, boolean deduplicate,
                 long bytes, Promise<AppendResult> promise) {
  }

  private final ArrayDeque<Pending> queue = new ArrayDeque<>();
  private long bytes;

  /**
   * Queues the append, unless it would take the bytes waiting past {@code maxBytes} while others wait (an append
   * alone always goes in, whatever its size): false then, and nothing was queued.
   */
  boolean offer(Pending pending, long maxBytes) {
    if (bytes + pending.bytes > maxBytes && !queue.isEmpty()) {
      return false;
    }
    queue.add(pending);
    bytes += pending.bytes;
    return true;
  }

  boolean isEmpty() {
    return queue.isEmpty();
  }

  /** The encoded size of the records waiting. */
  long bytes() {
    return bytes;
  }

  /**
   * Takes the appends of the next write, in order: at least one, then more while the write stays within
   * {@code maxWriteBytes} and they are of the same kind (dead letters or not) as the first. Call only when not empty.
   *
   * @param startedNanos when the write leaves the queue ({@link System#nanoTime()}): its latency runs from here
   */
  Write next(int maxWriteBytes, long startedNanos) {
    List<Pending> batch = new ArrayList<>();
    long taken = 0;
    while (!queue.isEmpty() && (batch.isEmpty() || (taken + queue.peek().bytes <= maxWriteBytes
        && (queue.peek().origins == null) == (batch.get(0).origins == null)))) {
      Pending p = queue.poll();
      batch.add(p);
      taken += p.bytes;
    }
    bytes -= taken;
    return new Write(batch, taken, startedNanos);
  }

  /** Fails every append waiting with {@code cause}. */
  void failAll(Throwable cause) {
    while (!queue.isEmpty()) {
      queue.poll().promise.fail(cause);
    }
    bytes = 0;
  }
}
