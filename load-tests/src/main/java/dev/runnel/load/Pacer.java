package dev.runnel.load;

/**
 * When one producer sends (the open-loop arithmetic, free of threads and clocks so it can be tested exactly).
 *
 * <p>Open loop ({@code rate} given): the P producers share the rate, each sending a request of {@code batch} records
 * every {@code batch·P/R} seconds; producer i's k-th request is due at {@code t0 + (i + k·P)·batch/R}, so the
 * producers interleave evenly. A request's latency runs from that intended time, never from when it could go out:
 * when {@code maxInFlight} requests are already outstanding at its intended time it counts as late and waits for a
 * slot, and the wait is part of its latency (coordinated omission cannot hide a stall). Only in the warm-up (intended
 * before {@code measureStart}) is a request that finds no slot at its intended time skipped instead: the warm-up is
 * for the JIT of both sides, and a backlog a cold client builds there would otherwise be drained inside the measured
 * window and counted as the system's latency. Skipped requests are never sent and count as neither late nor sent.
 *
 * <p>Closed loop ({@code rate} absent): up to {@code maxInFlight} requests outstanding, each timed from when it is
 * sent. Not thread-safe on its own: the producer loop calls it under its lock.
 */
public final class Pacer {

  /** {@link #poll} found nothing to send now. */
  public static final long NONE = Long.MIN_VALUE;

  private final int producer;
  private final int producers;
  private final Double rate;
  private final int batch;
  private final int maxInFlight;
  private final long t0;
  private final long measureStart;
  private final long end;

  private long nextDue;   // first request whose intended time has not been reached yet
  private long nextSend;  // first request not sent yet (nextSend <= nextDue)
  private int inFlight;
  private long lateRecords;
  private long skippedRecords;

  /**
   * @param rate records per second over all producers, or null for a closed loop
   * @param t0 the run's start (nanos on the same clock as {@link #poll})
   * @param measureStart the warm-up's end
   * @param end no request intended at or after it is sent
   */
  public Pacer(int producer, int producers, Double rate, int batch, int maxInFlight, long t0, long measureStart,
               long end) {
    this.producer = producer;
    this.producers = producers;
    this.rate = rate;
    this.batch = batch;
    this.maxInFlight = maxInFlight;
    this.t0 = t0;
    this.measureStart = measureStart;
    this.end = end;
  }

  /** The intended send time of this producer's k-th request (open loop). */
  public long intended(long k) {
    return t0 + Math.round((producer + (double) k * producers) * batch * 1e9 / rate);
  }

  /**
   * Marks every request due by {@code now} and, if a slot is free, takes the oldest unsent one: answers its intended
   * time (it is now in flight), or {@link #NONE}.
   */
  public long poll(long now) {
    if (rate == null) {
      if (now >= end || inFlight >= maxInFlight) {
        return NONE;
      }
      inFlight++;
      return now;
    }
    while (intended(nextDue) <= now && intended(nextDue) < end) {
      if (inFlight + (nextDue - nextSend) >= maxInFlight) {
        if (intended(nextDue) < measureStart) {
          // In the warm-up: the oldest waiting request (or, with none waiting, this one) is not sent, so the
          // number waiting never grows and no backlog reaches the measured window.
          skippedRecords += batch;
          nextSend++;
        } else {
          lateRecords += batch;  // no slot at its intended time
        }
      }
      nextDue++;
    }
    if (nextSend < nextDue && inFlight < maxInFlight) {
      inFlight++;
      return intended(nextSend++);
    }
    return NONE;
  }

  /** One request in flight completed (acknowledged or failed). */
  public void completed() {
    inFlight--;
  }

  /** When to look again if nothing completes meanwhile, or {@link Long#MAX_VALUE} to wait for a completion. */
  public long wakeAt() {
    if (rate == null) {
      return inFlight < maxInFlight ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
    if (nextSend < nextDue) {
      return Long.MAX_VALUE;  // requests wait for a slot
    }
    return Math.min(intended(nextDue), end);
  }

  /** Whether the run is over for this producer: past the end with nothing left to send or in flight. */
  public boolean finished(long now) {
    boolean nothingPending = rate == null || nextSend == nextDue;
    return now >= end && nothingPending && inFlight == 0;
  }

  /**
   * Whether no request is left to send (only completions can still come). Open loop: every request intended before
   * the end has been marked due and sent, however late the producer looks: one that wakes after the end still sends
   * what was due before it.
   */
  public boolean doneSending(long now) {
    if (rate == null) {
      return now >= end;
    }
    return intended(nextDue) >= end && nextSend == nextDue;
  }

  public int inFlight() {
    return inFlight;
  }

  /** Records whose request found every slot taken at its intended time. */
  public long lateRecords() {
    return lateRecords;
  }

  /** Records of warm-up requests that found no slot at their intended time, and were not sent. */
  public long skippedRecords() {
    return skippedRecords;
  }

  /** Requests due but not sent yet (the producer's backlog). */
  public long backlog() {
    return nextDue - nextSend;
  }
}
