package dev.runnel.load;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Per partition, the stretches of wall-clock time longer than a threshold between two successes: two acknowledged
 * produces ({@code produce}), or two records received by any group ({@code consume}). A failover shows as an outage
 * on the partitions that moved, from the last success before the fault to the first one after; with the fault's own
 * wall-clock time, that gives the time to serve again. A stretch with no success after it (the run ended) is not one.
 * Thread-safe.
 */
public final class Outages {

  /** One stretch without success: from the last success before it to the first after, epoch ms. */
  public record Outage(String kind, int partition, long fromMs, long toMs) {
    public long millis() {
      return toMs - fromMs;
    }
  }

  private final long thresholdMs;
  private final LongSupplier wallClockMs;
  private final ConcurrentHashMap<Integer, AtomicLong> lastProduce = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<Integer, AtomicLong> lastConsume = new ConcurrentHashMap<>();
  private final List<Outage> found = new ArrayList<>();

  public Outages(long thresholdMs, LongSupplier wallClockMs) {
    this.thresholdMs = thresholdMs;
    this.wallClockMs = wallClockMs;
  }

  public void produced(int partition) {
    success("produce", partition, lastProduce);
  }

  public void consumed(int partition) {
    success("consume", partition, lastConsume);
  }

  private void success(String kind, int partition, ConcurrentHashMap<Integer, AtomicLong> last) {
    long now = wallClockMs.getAsLong();
    AtomicLong held = last.get(partition);
    if (held == null) {
      held = last.computeIfAbsent(partition, p -> new AtomicLong(now));
    }
    long before = held.getAndAccumulate(now, Math::max);
    if (now - before > thresholdMs) {
      synchronized (found) {
        found.add(new Outage(kind, partition, before, now));
      }
    }
  }

  /** Every outage so far, in the order they ended. */
  public List<Outage> all() {
    synchronized (found) {
      return List.copyOf(found);
    }
  }
}
