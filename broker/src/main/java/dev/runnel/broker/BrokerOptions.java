package dev.runnel.broker;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;

import java.time.InstantSource;
import java.util.Map;
import java.util.function.Supplier;

/** Options of the delivery engine. */
public class BrokerOptions {

  private InstantSource clock = InstantSource.system();
  private Long randomSeed;
  private int windowRecords = 1000;
  private int maxParkedFactor = 10;
  private long tickMs = 50;
  private long maxFetchWaitMs = 30_000;
  private long drainMs = 10_000;
  private MeterRegistry meterRegistry = new CompositeMeterRegistry();
  private Supplier<Map<String, String>> endpoints = Map::of;

  /** Retry schedules, lease deadlines and session timeouts read this clock; tests inject their own. */
  public InstantSource getClock() { return clock; }
  public BrokerOptions setClock(InstantSource clock) { this.clock = clock; return this; }
  /** Seed of the jitter's random numbers (null: unpredictable). */
  public Long getRandomSeed() { return randomSeed; }
  public BrokerOptions setRandomSeed(Long randomSeed) { this.randomSeed = randomSeed; return this; }
  /** In-flight window of a group in a partition: records past the committed offset it may hand out. */
  public int getWindowRecords() { return windowRecords; }
  public BrokerOptions setWindowRecords(int windowRecords) { this.windowRecords = windowRecords; return this; }
  /** Parked records per group and partition, as a multiple of the window; at the bound the window stops advancing. */
  public int getMaxParkedFactor() { return maxParkedFactor; }
  public BrokerOptions setMaxParkedFactor(int maxParkedFactor) { this.maxParkedFactor = maxParkedFactor; return this; }
  /** How often lease deadlines, due retries and session timeouts are checked (0: never; tests call tick()). */
  public long getTickMs() { return tickMs; }
  public BrokerOptions setTickMs(long tickMs) { this.tickMs = tickMs; return this; }
  public long getMaxFetchWaitMs() { return maxFetchWaitMs; }
  public BrokerOptions setMaxFetchWaitMs(long maxFetchWaitMs) { this.maxFetchWaitMs = maxFetchWaitMs; return this; }
  /**
   * How long a group handed to another node keeps accepting outcomes for the deliveries it handed out, at most, before
   * it saves, releases and passes its member sessions on ({@code cluster.drainMs}; DESIGN.md section 6).
   */
  public long getDrainMs() { return drainMs; }
  public BrokerOptions setDrainMs(long drainMs) {
    if (drainMs < 0) {
      throw new IllegalArgumentException("drainMs must not be negative");
    }
    this.drainMs = drainMs;
    return this;
  }

  /**
   * Where the produce and consumer-group meters go ({@code runnel.produced.*}, {@code runnel.group.lag.*}, ...;
   * docs/operations.md, Metrics). Default: a registry without backends, which keeps nothing (a broker built
   * directly, in a test or a benchmark).
   */
  public MeterRegistry getMeterRegistry() { return meterRegistry; }
  public BrokerOptions setMeterRegistry(MeterRegistry meterRegistry) {
    this.meterRegistry = java.util.Objects.requireNonNull(meterRegistry, "meterRegistry");
    return this;
  }

  /**
   * Where a single node's transports listen, by transport name ({@code http}, {@code amqp}: {@code host:port}), read
   * when {@code GET /cluster} asks (so a port bound at start is told as bound). A clustered node tells the cluster its
   * own through the card it joins with instead. Default: none.
   */
  public Supplier<Map<String, String>> getEndpoints() { return endpoints; }
  public BrokerOptions setEndpoints(Supplier<Map<String, String>> endpoints) {
    this.endpoints = java.util.Objects.requireNonNull(endpoints, "endpoints");
    return this;
  }
}
