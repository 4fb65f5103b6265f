package dev.runnel.load.driver;

/**
 * Where the system says it stored a record. A protocol whose acknowledgement names no position (AMQP's
 * {@code accepted}) answers {@link #UNPLACED}: the record is acknowledged, and the verifier takes its position from
 * where the groups received it (see {@code Verifier}).
 */
public record Ack(int partition, long offset) {

  /** Acknowledged, at a position the acknowledgement did not say. */
  public static final Ack UNPLACED = new Ack(-1, -1);

  /** Whether the acknowledgement named the record's partition and offset. */
  public boolean placed() {
    return partition >= 0 && offset >= 0;
  }
}
